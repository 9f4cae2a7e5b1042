package contract

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WriteConfig writes t.Files below root, which stands for /opt/ml: root
// and missing directories are created 0755, files are 0644 (a container
// user other than root must read them). Each file is written to a
// temporary name and renamed, so a reader never sees half a file.
func (t Tree) WriteConfig(root string) error {
	names := make([]string, 0, len(t.Files))
	for rel := range t.Files {
		names = append(names, rel)
	}
	sort.Strings(names) // a deterministic first error
	for _, rel := range names {
		if !filepath.IsLocal(rel) || path.Clean(rel) != rel {
			return fmt.Errorf("contract: writing %q: not a clean relative path", rel)
		}
		dst := filepath.Join(root, filepath.FromSlash(rel))
		if err := writeFile(dst, t.Files[rel]); err != nil {
			return fmt.Errorf("contract: writing %s: %w", dst, err)
		}
	}
	return nil
}

func writeFile(dst string, data []byte) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename this finds nothing
	_, werr := f.Write(data)
	cerr := f.Close()
	switch {
	case werr != nil:
		return werr
	case cerr != nil:
		return cerr
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// maxEnvFileLine is the longest line docker's --env-file reader takes: it
// scans with bufio.Scanner, whose default token limit is 64 KiB.
const maxEnvFileLine = 64*1024 - 1

// EnvFile renders t.Env for `docker run --env-file`. That format has no
// quoting or escapes: one KEY=VALUE per line, taken verbatim after leading
// whitespace, "#" starting a comment, valid UTF-8 only. A variable it
// cannot carry (a newline in the value, a trailing CR, whitespace in the
// name, an overlong line) is left out with a comment naming it, so the
// file never silently means something else; pass such values through the
// Docker API (Tree.Env) instead.
func (t Tree) EnvFile() []byte {
	var b bytes.Buffer
	b.WriteString("# Container environment computed by jobrun (docs/contract.md).\n")
	for _, kv := range t.Env {
		k, _, _ := strings.Cut(kv, "=")
		if why := envFileProblem(kv, k); why != "" {
			fmt.Fprintf(&b, "# %s left out: %s\n", sanitizeComment(k), why)
			continue
		}
		b.WriteString(kv)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// envFileProblem says why a KEY=VALUE line would not read back as itself.
func envFileProblem(kv, k string) string {
	switch {
	case strings.ContainsAny(kv, "\n"):
		return "a newline in the name or value"
	case strings.HasSuffix(kv, "\r"):
		return "the value ends in a carriage return"
	case k == "" || strings.ContainsAny(k, " \t") || strings.HasPrefix(k, "#"):
		return "the name cannot be written in an env file"
	case strings.IndexFunc(k, unicode.IsSpace) == 0:
		return "the name starts with white space"
	case !utf8.ValidString(kv):
		return "not valid UTF-8"
	case len(kv) > maxEnvFileLine:
		return fmt.Sprintf("%d bytes, longer than docker's env-file line limit", len(kv))
	}
	return ""
}

// sanitizeComment keeps a name on its comment line.
func sanitizeComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
