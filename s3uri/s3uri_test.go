package s3uri

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseS3URI(t *testing.T) {
	tests := []struct {
		in          string
		bucket, key string
		err         string
	}{
		{"s3://bucket/key", "bucket", "key", ""},
		{"s3://bucket/some/prefix/", "bucket", "some/prefix/", ""},
		{"s3://bucket", "bucket", "", ""},
		{"s3://bucket/", "bucket", "", ""},
		{"s3://my.bucket-1/a b?c#d%20", "my.bucket-1", "a b?c#d%20", ""},
		{"s3://bucket//double", "bucket", "/double", ""},
		{"s3://b.c/ünïcödé", "b.c", "ünïcödé", ""},
		{"S3://bucket/key", "", "", "not an S3 URI"},
		{"s3:/bucket/key", "", "", "not an S3 URI"},
		{"https://bucket/key", "", "", "not an S3 URI"},
		{"", "", "", "not an S3 URI"},
		{"s3://", "", "", "3 to 63"},
		{"s3:///key", "", "", "3 to 63"},
		{"s3://ab/key", "", "", "3 to 63"},
		{"s3://" + strings.Repeat("a", 64) + "/k", "", "", "3 to 63"},
		{"s3://My_Bucket/k", "", "", "lower-case"},
		{"s3://xn--bucket/k", "", "", "reserves"},
		{"s3://-bucket/k", "", "", "starting and ending"},
		{"s3://bucket-/k", "", "", "starting and ending"},
		{"s3://a..b/k", "", "", "two dots"},
		{"s3://192.168.1.1/k", "", "", "IP address"},
		{"s3://bucket/" + strings.Repeat("k", 1025), "", "", "longer than 1024"},
		{"s3://bucket/\xff", "", "", "UTF-8"},
	}
	for _, tt := range tests {
		b, k, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %q, %q, %v; want error containing %q", tt.in, b, k, err, tt.err)
			}
			continue
		}
		if err != nil || b != tt.bucket || k != tt.key {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tt.in, b, k, err, tt.bucket, tt.key)
		}
	}
}

// FuzzParseS3URI checks that accepted URIs round-trip through S3URI and
// that what is accepted obeys the rules.
func FuzzParseS3URI(f *testing.F) {
	for _, s := range []string{"s3://bucket/key", "s3://b.c-d/x/y/", "s3://bucket", "s3://a..b/", "S3://x/y", "s3://bucket/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := Parse(s)
		if err != nil {
			return
		}
		if got := Format(b, k); got != s && got != s+"/" {
			t.Fatalf("S3URI(Parse(%q)) = %q", s, got)
		}
		if CheckBucket(b) != nil || len(b) < 3 || len(b) > 63 || strings.Contains(b, "/") {
			t.Fatalf("accepted bucket %q", b)
		}
		if len(k) > MaxKeyLen || !utf8.ValidString(k) {
			t.Fatalf("accepted key %q", k)
		}
	})
}
