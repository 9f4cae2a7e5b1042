package spec

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

func TestJobName(t *testing.T) {
	tests := []struct {
		name, base string
		rnd        []byte
		want       string
	}{
		{"short", "iris", []byte{0, 1, 25, 35}, "iris-20240102-020405-abz9"},
		{"biased bytes skipped", "iris", []byte{255, 252, 36, 37, 38, 39}, "iris-20240102-020405-abcd"},
		{"long base cut", strings.Repeat("a", 60), []byte{0, 0, 0, 0}, strings.Repeat("a", 42) + "-20240102-020405-aaaa"},
		{"hyphens trimmed after cut", strings.Repeat("a", 40) + "---b", []byte{0, 0, 0, 0}, strings.Repeat("a", 40) + "-20240102-020405-aaaa"},
		{"empty base", "", []byte{0, 0, 0, 0}, "20240102-020405-aaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JobName(tt.base, at, bytes.NewReader(tt.rnd))
			if got != tt.want {
				t.Errorf("JobName = %q, want %q", got, tt.want)
			}
			if len(got) > 63 || checkJobName(got) != "" {
				t.Errorf("%q is not a valid job name", got)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestJobNameRandomness(t *testing.T) {
	re := regexp.MustCompile(`^iris-20240102-020405-[a-z0-9]{4}$`)
	for _, rnd := range []io.Reader{nil, failingReader{}, bytes.NewReader([]byte{255, 255})} {
		if got := JobName("iris", at, rnd); !re.MatchString(got) {
			t.Errorf("JobName with %T = %q", rnd, got)
		}
	}
	a, b, c := JobName("x", at, nil), JobName("x", at, nil), JobName("x", at, nil)
	if a == b && b == c {
		t.Error("crypto/rand gave the same suffix three times")
	}
}

func TestSpecJobName(t *testing.T) {
	s := mustParse(t, base, Overrides{})
	if got := s.JobName(at, bytes.NewReader([]byte{0, 0, 0, 0})); got != "job-20240102-020405-aaaa" {
		t.Errorf("Spec.JobName = %q", got)
	}
	s = mustParse(t, base, Overrides{Name: "exactly-this"})
	if got := s.JobName(at, nil); got != "exactly-this" {
		t.Errorf("Spec.JobName with --name = %q", got)
	}
}
