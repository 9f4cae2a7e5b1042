// Package s3uri parses and checks s3://bucket/key URIs, one way for the
// spec, the input channels and the output stores.
package s3uri

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is S3's limit on a key's length in bytes.
const MaxKeyLen = 1024

// Parse splits s3://bucket/key into its bucket and key. The key is
// everything after the first '/' following the bucket, taken literally as
// the AWS CLI and SageMaker do (no percent-decoding; "?" and "#" are part
// of the key); it may be empty ("s3://bucket" and "s3://bucket/" name the
// whole bucket).
//
// It is strict: the scheme must be "s3://" in lower case, the bucket must
// follow S3's current naming rules (3 to 63 lower-case letters, digits,
// '.' and '-', starting and ending with a letter or digit, no "..", not
// an IP address), and the key must be valid UTF-8 of at most 1024 bytes.
func Parse(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an S3 URI: want s3://bucket/key", s)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := CheckBucket(bucket); err != nil {
		return "", "", fmt.Errorf("%q: invalid bucket name %q: %w", s, bucket, err)
	}
	if len(key) > MaxKeyLen {
		return "", "", fmt.Errorf("%q: the key is longer than %d bytes, S3's limit", s, MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return "", "", fmt.Errorf("%q: the key is not valid UTF-8", s)
	}
	return bucket, key, nil
}

// CheckBucket applies S3's naming rules for general purpose buckets.
func CheckBucket(b string) error {
	if len(b) < 3 || len(b) > 63 || !validChars(b) {
		return errors.New("want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit")
	}
	switch {
	case strings.Contains(b, ".."):
		return errors.New("two dots in a row")
	case net.ParseIP(b) != nil:
		return errors.New("it looks like an IP address")
	case strings.HasPrefix(b, "xn--"), strings.HasSuffix(b, "-s3alias"), strings.HasSuffix(b, "--ol-s3"):
		return errors.New("it uses a prefix or suffix S3 reserves")
	}
	return nil
}

func validChars(b string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(b)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Format formats bucket and key as s3://bucket/key.
func Format(bucket, key string) string { return "s3://" + bucket + "/" + key }
