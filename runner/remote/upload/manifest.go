package upload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Headers of the two formats read on the host's stdin (see the package
// documentation), and the record that ends each.
const (
	manifestHeader = "jobrun-upload-manifest 1"
	blobsHeader    = "jobrun-upload-blobs 1"
	endRecord      = "end"
)

// maxLine bounds one record line: a quoted path of PATH_MAX (4096) bytes,
// each escaped as \xNN, plus the fixed fields, fits.
const maxLine = 20 << 10

// entry is one item of a tree: a directory or a regular file.
type entry struct {
	Path string      // slash-separated, relative, clean (checkPath)
	Mode fs.FileMode // permission bits
	Dir  bool
	Hash string // files: the content's SHA-256, lowercase hex
}

// manifest is a tree as sent to link.
type manifest []entry

// write encodes m in the manifest format.
func (m manifest) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, manifestHeader)
	for _, e := range m {
		if e.Dir {
			fmt.Fprintf(bw, "d %o %s\n", e.Mode.Perm(), strconv.Quote(e.Path))
		} else {
			fmt.Fprintf(bw, "f %o %s %s\n", e.Mode.Perm(), e.Hash, strconv.Quote(e.Path))
		}
	}
	fmt.Fprintln(bw, endRecord)
	return bw.Flush()
}

// parseManifest reads a whole manifest (it comes from the client, so it
// is checked as untrusted input): the header, records, "end", then
// nothing. Paths must pass checkPath, appear once, and not lie below a
// file.
func parseManifest(r io.Reader) (manifest, error) {
	br := bufio.NewReaderSize(r, maxLine)
	if err := expectLine(br, manifestHeader); err != nil {
		return nil, err
	}
	var m manifest
	for n := 2; ; n++ {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", n, err)
		}
		if line == endRecord {
			break
		}
		e, err := parseRecord(line)
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", n, err)
		}
		m = append(m, e)
	}
	if err := expectEOF(br); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return m, checkTree(m)
}

// parseRecord parses one "d MODE PATH" or "f MODE HASH PATH" line.
func parseRecord(line string) (entry, error) {
	kind, rest, _ := strings.Cut(line, " ")
	modeStr, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return entry{}, fmt.Errorf("malformed record %q", clip(line))
	}
	mode, err := strconv.ParseUint(modeStr, 8, 32)
	if err != nil || mode > 0o777 {
		return entry{}, fmt.Errorf("bad mode %q", clip(modeStr))
	}
	e := entry{Mode: fs.FileMode(mode)}
	switch kind {
	case "d":
		e.Dir = true
	case "f":
		if e.Hash, rest, ok = strings.Cut(rest, " "); !ok || !isHash(e.Hash) {
			return entry{}, fmt.Errorf("bad hash in %q", clip(line))
		}
	default:
		// Symlinks and special files never reach the host: the client
		// follows links and refuses the rest.
		return entry{}, fmt.Errorf("unknown record type %q (only d and f)", clip(kind))
	}
	if e.Path, err = unquotePath(rest); err != nil {
		return entry{}, err
	}
	return e, nil
}

// unquotePath decodes a double-quoted Go string literal and checks the
// path it holds.
func unquotePath(q string) (string, error) {
	if !strings.HasPrefix(q, `"`) {
		return "", fmt.Errorf("path %q is not quoted", clip(q))
	}
	p, err := strconv.Unquote(q)
	if err != nil {
		return "", fmt.Errorf("bad quoted path %q: %w", clip(q), err)
	}
	if err := checkPath(p); err != nil {
		return "", fmt.Errorf("path %q: %w", clip(p), err)
	}
	return p, nil
}

// checkPath accepts only paths that stay inside the destination once
// joined to it: relative, clean (no "", ".", "//", trailing "/"), without
// "..", without NUL.
func checkPath(p string) error {
	switch {
	case p == "" || p == ".":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("NUL in path")
	case path.Clean(p) != p:
		return errors.New("path is not clean (., .., // or a trailing /)")
	case p == ".." || strings.HasPrefix(p, "../"):
		// A clean path can hold ".." only at its start.
		return errors.New("path leaves the destination (..)")
	}
	return nil
}

// checkTree refuses duplicate paths and entries below a file: either
// would make the tree's shape depend on the order of the records.
func checkTree(m manifest) error {
	isDir := make(map[string]bool, len(m))
	for _, e := range m {
		if _, dup := isDir[e.Path]; dup {
			return fmt.Errorf("manifest: %q listed twice", e.Path)
		}
		isDir[e.Path] = e.Dir
	}
	for _, e := range m {
		for p := path.Dir(e.Path); p != "."; p = path.Dir(p) {
			if dir, ok := isDir[p]; ok && !dir {
				return fmt.Errorf("manifest: %q lies below the file %q", e.Path, p)
			}
		}
	}
	return nil
}

// isHash reports whether s is a SHA-256 in lowercase hex.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// readLine reads one '\n'-terminated line of at most maxLine bytes and
// returns it without the newline. Input that ends without a newline is
// truncated: io.ErrUnexpectedEOF.
func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return "", fmt.Errorf("line longer than %d bytes", maxLine)
	case err == io.EOF:
		return "", fmt.Errorf("input ends before %q: %w", endRecord, io.ErrUnexpectedEOF)
	case err != nil:
		return "", err
	}
	return string(bytes.TrimSuffix(b, []byte{'\n'})), nil
}

// expectLine reads one line and checks that it is want.
func expectLine(br *bufio.Reader, want string) error {
	got, err := readLine(br)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("got %q where %q was expected (client and host versions differ?)", clip(got), want)
	}
	return nil
}

// expectEOF checks that nothing follows the end record.
func expectEOF(br *bufio.Reader) error {
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return fmt.Errorf("data after %q", endRecord)
	}
	return nil
}

// clip shortens untrusted text quoted in an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
