package spec

import (
	"github.com/jobrun/jobrun/s3uri"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const maxS3URI = 1024 // SageMaker's S3Uri limit

var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// location resolves a uri as written: s3:// URIs are kept as they are;
// file:// URIs and paths become absolute, clean local paths, relative
// ones against dir. The second result is a problem, or "".
func location(raw, dir string) (string, string) {
	switch {
	case raw == "":
		return "", "must not be empty"
	case strings.HasPrefix(raw, "s3://"):
		return raw, checkS3URI(raw)
	case strings.HasPrefix(raw, "file://"):
		return fileURI(raw)
	case schemeRE.MatchString(raw):
		return "", "has an unsupported scheme: want s3://bucket/prefix, file:///abs/path or a path"
	case filepath.IsAbs(raw):
		return filepath.Clean(raw), ""
	}
	return filepath.Join(dir, raw), ""
}

func fileURI(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
		return "", "is not a file URI with an absolute path: want file:///abs/path (or a relative path without file://)"
	}
	return filepath.Clean(u.Path), ""
}

// checkS3URI checks an s3://bucket/key URI's shape and bucket name.
func checkS3URI(uri string) string {
	if len(uri) > maxS3URI {
		return "is longer than 1024 characters, SageMaker's limit for S3 URIs"
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if msg := checkBucket(bucket); msg != "" {
		return "has an invalid bucket name " + strconv.Quote(bucket) + ": " + msg
	}
	return ""
}

func checkBucket(b string) string {
	if err := s3uri.CheckBucket(b); err != nil {
		return err.Error()
	}
	return ""
}

// uri reads a uri value: S3 or local.
func (p *parser) uri(n *yaml.Node, what string) string {
	raw, ok := p.str(n, what)
	if !ok {
		return ""
	}
	loc, msg := location(raw, p.dir)
	if msg != "" {
		p.errorf(n, "%s %q %s", what, raw, msg)
	}
	return loc
}

// localPath reads a local path (no s3://), made absolute against the
// spec's folder.
func (p *parser) localPath(n *yaml.Node, what string) string {
	raw, ok := p.str(n, what)
	if !ok {
		return ""
	}
	loc, msg := location(raw, p.dir)
	if msg == "" && !filepath.IsAbs(loc) {
		msg = "must be a local path"
	}
	if msg != "" {
		p.errorf(n, "%s %q %s", what, raw, msg)
	}
	return loc
}
