package channels

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on a key's length in bytes.
const maxKeyLen = 1024

// ParseS3URI splits s3://bucket/key into its bucket and key. The key is
// everything after the first '/' following the bucket, taken literally as
// the AWS CLI and SageMaker do (no percent-decoding; "?" and "#" are part
// of the key); it may be empty ("s3://bucket" and "s3://bucket/" name the
// whole bucket).
//
// It is strict: the scheme must be "s3://" in lower case, the bucket must
// follow S3's current naming rules (3 to 63 lower-case letters, digits,
// '.' and '-', starting and ending with a letter or digit, no "..", not
// an IP address), and the key must be valid UTF-8 of at most 1024 bytes.
func ParseS3URI(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an S3 URI: want s3://bucket/key", s)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := checkBucketName(bucket); err != nil {
		return "", "", fmt.Errorf("%q: invalid bucket name %q: %w", s, bucket, err)
	}
	if len(key) > maxKeyLen {
		return "", "", fmt.Errorf("%q: the key is longer than %d bytes, S3's limit", s, maxKeyLen)
	}
	if !utf8.ValidString(key) {
		return "", "", fmt.Errorf("%q: the key is not valid UTF-8", s)
	}
	return bucket, key, nil
}

// checkBucketName applies S3's naming rules for general purpose buckets.
func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return errors.New("want 3 to 63 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(b)-1 {
				return errors.New("must start and end with a lower-case letter or digit")
			}
		default:
			return errors.New("want lower-case letters, digits, '.' and '-'")
		}
	}
	if strings.Contains(b, "..") {
		return errors.New("two dots in a row")
	}
	if net.ParseIP(b) != nil {
		return errors.New("it looks like an IP address")
	}
	return nil
}

// S3URI formats bucket and key as s3://bucket/key.
func S3URI(bucket, key string) string { return "s3://" + bucket + "/" + key }
