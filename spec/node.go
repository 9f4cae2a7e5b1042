package spec

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports a null scalar: "key:", "key: ~", "key: null".
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's type for messages: "a list", "a number", ...
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a scalar"
	}
	return "an alias"
}

// want checks n's kind; what is the key it is the value of.
func (p *parser) want(n *yaml.Node, kind yaml.Kind, what string) bool {
	if n.Kind == kind {
		return true
	}
	names := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}
	p.errorf(n, "%q must be %s, not %s", what, names[kind], describe(n))
	return false
}

// pair is one key and value of a mapping; val is nil when the value is null.
type pair struct {
	key  *yaml.Node
	name string
	val  *yaml.Node
	raw  *yaml.Node // the value even when null
}

// pairs lists a mapping's entries in order, reporting keys that are not
// scalars, merge keys and duplicates.
func (p *parser) pairs(n *yaml.Node) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, "keys must be plain names, not %s", describe(k))
			continue
		case k.ShortTag() == "!!merge":
			p.errorf(k, "merge keys (<<) are not supported: write the keys out")
			continue
		case seen[k.Value] != nil:
			p.errorf(k, "duplicate key %q (first at %s)", k.Value, p.where(seen[k.Value]))
			continue
		}
		seen[k.Value] = k
		kv := pair{key: k, name: k.Value, val: v, raw: v}
		if isNull(v) {
			kv.val = nil
		}
		out = append(out, kv)
	}
	return out
}

// fields is a mapping with a fixed set of keys.
type fields struct {
	node *yaml.Node
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	raws map[string]*yaml.Node
}

// fields checks a mapping's keys against the known ones.
func (p *parser) fields(n *yaml.Node, known ...string) fields {
	f := fields{node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, raws: map[string]*yaml.Node{}}
	for _, kv := range p.pairs(n) {
		if !contains(known, kv.name) {
			p.errorf(kv.key, "unknown key %q %s", kv.name, suggest(kv.name, known))
			continue
		}
		f.keys[kv.name], f.vals[kv.name], f.raws[kv.name] = kv.key, kv.val, kv.raw
	}
	return f
}

// get is the value of key, nil when the key is absent or null.
func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// at is the node to report a problem with key at: its value, its key, or
// the mapping when the key is absent.
func (f fields) at(key string) *yaml.Node {
	if v := f.vals[key]; v != nil {
		return v
	}
	if k := f.keys[key]; k != nil {
		return k
	}
	return f.node
}

// required is get, reporting a key that is missing or null.
func (p *parser) required(f fields, key string) *yaml.Node {
	v := f.get(key)
	switch {
	case v != nil:
	case f.keys[key] != nil:
		p.errorf(p.nullAt(f.keys[key], f.raws[key]), "%q needs a value", key)
	default:
		p.errorf(f.node, "missing required key %q", key)
	}
	return v
}

// str reads a scalar as written. A number or boolean is taken as its text.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if !p.want(n, yaml.ScalarNode, what) {
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, "%q must be true or false, not %s", what, shown(n))
	}
	return b
}

// integer reads a whole number.
func (p *parser) integer(n *yaml.Node, what string) (int64, bool) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.errorf(n, "%q must be a whole number, not %s", what, shown(n))
		return 0, false
	}
	return i, true
}

// shown quotes a scalar for a message, or names the type of anything else.
func shown(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return fmt.Sprintf("%q", n.Value)
	}
	return describe(n)
}

// stringList reads a string (one element, not split) or a list of scalars.
func (p *parser) stringList(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%q must be a string or a list of strings, not %s", what, describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			p.errorf(item, "items of %q must be strings, not %s", what, describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest names the known key closest to a misspelt one, or lists them all.
func suggest(key string, known []string) string {
	squash := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestDist := "", len(key)/3+2
	for _, k := range known {
		if squash(k) == squash(key) {
			return fmt.Sprintf("(did you mean %q?)", k)
		}
		if d := distance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("(did you mean %q?)", best)
	}
	return "(known keys: " + strings.Join(known, ", ") + ")"
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// nullAt is where to report a null value: the key, unless an override
// made the null.
func (p *parser) nullAt(key, val *yaml.Node) *yaml.Node {
	if _, ok := p.origins[val]; ok && val != nil {
		return val
	}
	return key
}
