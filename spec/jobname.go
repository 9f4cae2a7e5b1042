package spec

import (
	"crypto/rand"
	"io"
	"strings"
	"time"
)

const (
	maxJobName    = 63
	suffixAlpha   = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffixRandLen = 4
)

// JobName makes a unique job name from a base name:
// <base>-<UTC yyyymmdd-hhmmss>-<4 random lower-case letters or digits>,
// cutting base (and the hyphens it then ends with) so that the whole is at
// most 63 characters, SageMaker's limit. rnd supplies the randomness;
// nil, or a reader that fails, means crypto/rand.
func JobName(base string, now time.Time, rnd io.Reader) string {
	tail := now.UTC().Format("20060102-150405") + "-" + randomSuffix(rnd)
	if keep := maxJobName - len(tail) - 1; len(base) > keep {
		base = base[:keep]
	}
	base = strings.TrimRight(base, "-")
	if base == "" {
		return tail
	}
	return base + "-" + tail
}

// JobName is the name of one run of s: s.Name as is when it came from
// --name (NameFixed), else JobName(s.Name, now, rnd).
func (s *Spec) JobName(now time.Time, rnd io.Reader) string {
	if s.NameFixed {
		return s.Name
	}
	return JobName(s.Name, now, rnd)
}

// randomSuffix draws unbiased characters from suffixAlpha.
func randomSuffix(rnd io.Reader) string {
	if rnd == nil {
		rnd = rand.Reader
	}
	out := make([]byte, 0, suffixRandLen)
	buf := make([]byte, 16)
	for tries := 0; len(out) < suffixRandLen; tries++ {
		if tries == 8 { // a reader that fails or never gives usable bytes
			rnd, tries = rand.Reader, 0
		}
		n, _ := io.ReadFull(rnd, buf)
		for _, b := range buf[:n] {
			if b < 252 && len(out) < suffixRandLen { // 252 = 7*36: no modulo bias
				out = append(out, suffixAlpha[int(b)%len(suffixAlpha)])
			}
		}
	}
	return string(out)
}
