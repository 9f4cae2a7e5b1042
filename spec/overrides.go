package spec

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// applyOverrides changes the node tree as the command line says, before
// validation, so overridden values get the same checks as the file's.
// --set comes first, then --env, --output and --name.
func (p *parser) applyOverrides(root *yaml.Node, ov Overrides) {
	for _, arg := range ov.Set {
		p.applySet(root, arg)
	}
	for _, arg := range ov.Env {
		flag := "--env " + arg
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			p.flagError(flag, "want NAME=value")
			continue
		}
		p.put(root, []segment{{name: "environment"}, {name: k, quoted: true}}, p.strNode(v, flag), flag)
	}
	if ov.Output != "" {
		p.applyOutput(root, ov.Output)
	}
	if ov.Name != "" {
		flag := "--name " + ov.Name
		p.put(root, []segment{{name: "name"}}, p.strNode(ov.Name, flag), flag)
	}
}

// applyOutput sets output.uri; a relative path is relative to the current
// directory, not to the spec's folder.
func (p *parser) applyOutput(root *yaml.Node, uri string) {
	flag := "--output " + uri
	if !schemeRE.MatchString(uri) {
		abs, err := filepath.Abs(uri)
		if err != nil {
			p.flagError(flag, err.Error())
			return
		}
		uri = abs
	}
	p.put(root, []segment{{name: "output"}, {name: "uri"}}, p.strNode(uri, flag), flag)
}

func (p *parser) applySet(root *yaml.Node, arg string) {
	flag := "--set " + arg
	path, value, ok := strings.Cut(arg, "=")
	if !ok {
		p.flagError(flag, "want path=value, such as hyperparameters.lr=0.1")
		return
	}
	segs, msg := splitPath(path)
	if msg != "" {
		p.flagError(flag, msg)
		return
	}
	val, err := parseValue(value)
	if err != nil {
		p.flagError(flag, "value "+strconv.Quote(value)+" is not valid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	p.mark(val, flag)
	p.put(root, segs, val, flag)
}

func (p *parser) flagError(flag, msg string) {
	p.errs = append(p.errs, Error{Pos: flag, Msg: msg})
}

// parseValue reads a --set value as a YAML scalar or flow value; an empty
// value is null.
func parseValue(s string) (n *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("%v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
	}
	return doc.Content[0], nil
}

// mark records every node of an override's value as made by flag.
func (p *parser) mark(n *yaml.Node, flag string) {
	if n == nil || p.origins[n] != "" {
		return
	}
	p.origins[n] = flag
	for _, c := range n.Content {
		p.mark(c, flag)
	}
}

func (p *parser) strNode(v, flag string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	p.origins[n] = flag
	return n
}

// segment is one part of a dotted --set path; a quoted one may hold dots.
type segment struct {
	name   string
	quoted bool
}

// splitPath splits a.b."c.d".e into its segments.
func splitPath(path string) ([]segment, string) {
	var segs []segment
	for rest := path; ; rest = rest[1:] { // rest[0] is the dot
		var s segment
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, "unterminated quote in path " + strconv.Quote(path)
			}
			s, rest = segment{name: rest[1 : end+1], quoted: true}, rest[end+2:]
			if rest != "" && rest[0] != '.' {
				return nil, "want a dot after the quoted part of " + strconv.Quote(path)
			}
		} else {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				i = len(rest)
			}
			s, rest = segment{name: rest[:i]}, rest[i:]
		}
		if s.name == "" {
			return nil, "empty part in path " + strconv.Quote(path)
		}
		segs = append(segs, s)
		if rest == "" {
			return segs, ""
		}
	}
}

// put sets the value at path under root, creating missing mappings.
func (p *parser) put(root *yaml.Node, path []segment, val *yaml.Node, flag string) {
	cur := root
	var trail []string
	for {
		key, used := matchKey(cur, path)
		path, trail = path[used:], append(trail, key)
		if len(path) == 0 {
			p.replace(cur, key, val, flag)
			return
		}
		next, msg := p.child(cur, key, trail, flag)
		if msg != "" {
			p.flagError(flag, msg)
			return
		}
		cur = next
	}
}

// matchKey picks the next key from path: the longest run of unquoted
// segments that names an existing key (channel names may hold dots), else
// the first segment.
func matchKey(cur *yaml.Node, path []segment) (string, int) {
	if cur.Kind == yaml.MappingNode {
		for k := len(path); k >= 2; k-- {
			names := make([]string, 0, k)
			for _, s := range path[:k] {
				if s.quoted {
					break
				}
				names = append(names, s.name)
			}
			if len(names) == k && keyIndex(cur, strings.Join(names, ".")) >= 0 {
				return strings.Join(names, "."), k
			}
		}
	}
	return path[0].name, 1
}

// keyIndex is the index in n.Content of key's value, or -1.
func keyIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return i + 1
		}
	}
	return -1
}

// slot finds where key's value lives in cur: an index into cur.Content,
// or -1 with a message.
func slot(cur *yaml.Node, key string, trail []string) (int, string) {
	if cur.Kind != yaml.SequenceNode {
		return keyIndex(cur, key), ""
	}
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i >= len(cur.Content) {
		return -1, fmt.Sprintf("%q is a list of %d items: %q is not an index into it",
			strings.Join(trail[:len(trail)-1], "."), len(cur.Content), key)
	}
	return i, ""
}

// replace sets key's value in cur, adding the key when it is missing.
func (p *parser) replace(cur *yaml.Node, key string, val *yaml.Node, flag string) {
	i, msg := slot(cur, key, []string{"", key})
	switch {
	case msg != "":
		p.flagError(flag, msg)
	case i >= 0:
		cur.Content[i] = val
	default:
		cur.Content = append(cur.Content, p.strNode(key, flag), val)
	}
}

// child is the container under key in cur, which it makes, copies (so
// that an alias's other uses keep their value) or expands from shorthand.
func (p *parser) child(cur *yaml.Node, key string, trail []string, flag string) (*yaml.Node, string) {
	i, msg := slot(cur, key, trail)
	if msg != "" {
		return nil, msg
	}
	if i < 0 {
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		p.origins[m] = flag
		cur.Content = append(cur.Content, p.strNode(key, flag), m)
		return m, ""
	}
	v := resolve(cur.Content[i])
	next, msg := p.expand(v, trail, flag)
	if next != nil {
		cur.Content[i] = next
	}
	return next, msg
}

// expand turns v into a container that put can change.
func (p *parser) expand(v *yaml.Node, trail []string, flag string) (*yaml.Node, string) {
	switch {
	case v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode:
		c := *v
		c.Content = append([]*yaml.Node(nil), v.Content...)
		if o, ok := p.origins[v]; ok {
			p.origins[&c] = o
		}
		return &c, ""
	case isNull(v):
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		p.origins[m] = flag
		return m, ""
	case v.Kind == yaml.ScalarNode && shorthandKey(trail) != "":
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: shorthandKey(trail), Line: v.Line, Column: v.Column}
		if o, ok := p.origins[v]; ok {
			p.origins[m], p.origins[k] = o, o
		}
		m.Content = []*yaml.Node{k, v}
		return m, ""
	}
	return nil, fmt.Sprintf("%q is %s, not a mapping", strings.Join(trail, "."), describe(v))
}

// shorthandKey is the key a scalar shorthand stands for at trail:
// inputs.X: uri is {uri: uri}, and so are output and checkpoint; build: dir
// is {context: dir}.
func shorthandKey(trail []string) string {
	switch {
	case len(trail) == 2 && trail[0] == "inputs":
		return "uri"
	case len(trail) == 1 && (trail[0] == "output" || trail[0] == "checkpoint"):
		return "uri"
	case len(trail) == 1 && trail[0] == "build":
		return "context"
	}
	return ""
}
