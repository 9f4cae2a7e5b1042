package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/jobrun/jobrun/exitcode"
	"go.yaml.in/yaml/v3"
)

// Load reads the spec file at path, applies the command line's overrides
// and returns the validated, defaulted spec. Every problem is reported at
// once, as Errors wrapped in an exitcode.UsageError (exit status 2).
func Load(path string, ov Overrides) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exitcode.NewUsage(fmt.Errorf("reading job spec: %w", err))
	}
	return Parse(path, data, ov)
}

// Parse is Load for a spec already read: file names it in messages, and
// relative paths in the spec resolve against file's folder. An empty file
// or "-" stands for standard input: messages say "<stdin>" and paths resolve
// against the current directory.
//
// Parse does no I/O beyond finding the current directory: whether local
// paths exist is for the runner to check.
func Parse(file string, data []byte, ov Overrides) (*Spec, error) {
	p, abs := newParser(file)
	root, perr := decodeRoot(p.file, data)
	if perr != nil {
		return nil, exitcode.NewUsage(Errors{*perr})
	}
	p.applyOverrides(root, ov)
	s := p.spec(root)
	s.File = abs
	s.Dir = p.dir
	s.Source = string(data)
	s.NameFixed = ov.Name != ""
	if len(p.errs) > 0 {
		return nil, exitcode.NewUsage(p.errs.sorted())
	}
	return s, nil
}

// parser walks a spec's node tree, collecting every problem.
type parser struct {
	file    string                // the spec's name in messages
	dir     string                // absolute folder relative paths resolve against
	origins map[*yaml.Node]string // nodes made by overrides → their flag
	errs    Errors
}

func newParser(file string) (*parser, string) {
	p := &parser{file: file, origins: map[*yaml.Node]string{}}
	if file == "" || file == "-" {
		p.file = "<stdin>"
		p.dir, _ = filepath.Abs(".")
		return p, ""
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = filepath.Clean(file)
	}
	p.dir = filepath.Dir(abs)
	return p, abs
}

// errorf reports a problem at n: its place in the file, or the flag that
// made it.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if flag, ok := p.origins[n]; ok {
		p.errs = append(p.errs, Error{Pos: flag, Msg: msg})
		return
	}
	p.errs = append(p.errs, Error{Pos: p.pos(n), Line: n.Line, Column: n.Column, Msg: msg})
}

// pos is n's place, "file:line:col", or the flag that made it.
func (p *parser) pos(n *yaml.Node) string {
	if flag, ok := p.origins[n]; ok {
		return flag
	}
	return fmt.Sprintf("%s:%d:%d", p.file, n.Line, n.Column)
}

// where names n's place for a message that refers back to it ("line 3").
func (p *parser) where(n *yaml.Node) string {
	if flag, ok := p.origins[n]; ok {
		return flag
	}
	return "line " + strconv.Itoa(n.Line)
}

// decodeRoot parses data as one YAML document whose root is a mapping.
func decodeRoot(file string, data []byte) (root *yaml.Node, e *Error) {
	defer func() {
		if r := recover(); r != nil { // the YAML library's internal errors
			root, e = nil, &Error{Pos: file + ":1:1", Line: 1, Column: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fileError(file, 1, 1, "the spec is empty: it needs at least name: and image: (or build:)")
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		at := firstNode(&extra)
		return nil, fileError(file, at.Line, at.Column, "a spec is a single YAML document, but a second one starts here")
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, err)
	}
	return checkRoot(file, &doc)
}

func checkRoot(file string, doc *yaml.Node) (*yaml.Node, *Error) {
	root := firstNode(doc)
	if root == doc || isNull(root) {
		return nil, fileError(file, 1, 1, "the spec is empty: it needs at least name: and image: (or build:)")
	}
	if root.Kind != yaml.MappingNode {
		return nil, fileError(file, root.Line, root.Column,
			"the spec must be a mapping of keys (name:, image:, ...), not "+describe(root))
	}
	return root, nil
}

func firstNode(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return resolve(doc.Content[0])
	}
	return doc
}

func fileError(file string, line, col int, msg string) *Error {
	line, col = max(line, 1), max(col, 1)
	return &Error{Pos: fmt.Sprintf("%s:%d:%d", file, line, col), Line: line, Column: col, Msg: msg}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (?s:(.*))$`)

// syntaxError places a YAML syntax error. The YAML library reports only
// the line, so the column is always 1.
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return fileError(file, line, 1, "invalid YAML: "+msg)
}
