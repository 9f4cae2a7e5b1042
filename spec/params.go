package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SageMaker's limits on CreateTrainingJob's HyperParameters and Environment.
const (
	maxHyperparameters = 100
	maxHPKey           = 256
	maxHPValue         = 2500
	maxEnv             = 100
	maxEnvKey          = 512
	maxEnvValue        = 512
)

// hyperparameters reads the map of name → any YAML value into SageMaker's
// form: scalars as written, lists and maps as compact JSON.
func (p *parser) hyperparameters(n *yaml.Node) map[string]string {
	hps := map[string]string{}
	if n == nil || !p.want(n, yaml.MappingNode, "hyperparameters") {
		return hps
	}
	kvs := p.pairs(n)
	if len(kvs) > maxHyperparameters {
		p.errorf(n, "too many hyperparameters: %d, SageMaker allows at most %d", len(kvs), maxHyperparameters)
	}
	for _, kv := range kvs {
		if v, ok := p.hyperparameter(kv); ok {
			hps[kv.name] = v
		}
	}
	return hps
}

func (p *parser) hyperparameter(kv pair) (string, bool) {
	if msg := checkHPKey(kv.name); msg != "" {
		p.errorf(kv.key, "%s", msg)
	}
	if kv.val == nil {
		p.errorf(p.nullAt(kv.key, kv.raw), "hyperparameter %q has no value: write %s: \"\" for an empty string", kv.name, kv.name)
		return "", false
	}
	v := kv.val.Value
	if kv.val.Kind != yaml.ScalarNode {
		var err error
		if v, err = hpJSON(kv.val); err != nil {
			var ne *nodeError
			if errors.As(err, &ne) {
				p.errorf(ne.node, "hyperparameter %q: %s", kv.name, ne.msg)
			} else {
				p.errorf(kv.val, "hyperparameter %q: %v", kv.name, err)
			}
			return "", false
		}
	}
	if msg := checkHPValue(v); msg != "" {
		p.errorf(kv.val, "hyperparameter %q: %s", kv.name, msg)
		return "", false
	}
	return v, true
}

func checkHPKey(k string) string {
	if k == "" || utf8.RuneCountInString(k) > maxHPKey {
		return fmt.Sprintf("hyperparameter name must be 1 to %d characters", maxHPKey)
	}
	return ""
}

func checkHPValue(v string) string {
	if n := utf8.RuneCountInString(v); n > maxHPValue {
		return fmt.Sprintf("value is %d characters, SageMaker allows at most %d", n, maxHPValue)
	}
	return ""
}

// nodeError is a problem with one node inside a hyperparameter's value.
type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

var errTooLong = fmt.Errorf("value is longer than %d characters, SageMaker's limit", maxHPValue)

// hpJSON encodes a list or map as compact JSON: keys sorted, no HTML
// escaping, YAML ints as ints, floats with a decimal point or exponent.
func hpJSON(n *yaml.Node) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, n); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *strings.Builder, n *yaml.Node) error {
	if b.Len() > maxHPValue { // bounds the work an alias bomb can cause
		return errTooLong
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return writeObject(b, n)
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	return writeScalar(b, n)
}

func writeObject(b *strings.Builder, n *yaml.Node) error {
	vals := map[string]*yaml.Node{}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		switch {
		case k.Kind != yaml.ScalarNode:
			return &nodeError{k, "mapping keys must be scalars, not " + describe(k)}
		case k.ShortTag() == "!!merge":
			return &nodeError{k, "merge keys (<<) are not supported: write the keys out"}
		case vals[k.Value] != nil:
			return &nodeError{k, fmt.Sprintf("duplicate key %q", k.Value)}
		}
		vals[k.Value] = n.Content[i+1]
		keys = append(keys, k.Value)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteJSON(k))
		b.WriteByte(':')
		if err := writeJSON(b, vals[k]); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

var jsonNumberRE = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$`)

func writeScalar(b *strings.Builder, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return &nodeError{n, fmt.Sprintf("%q is not a boolean", n.Value)}
		}
		b.WriteString(strconv.FormatBool(v))
	case "!!int":
		return writeInt(b, n)
	case "!!float":
		return writeFloat(b, n)
	default:
		b.WriteString(quoteJSON(n.Value))
	}
	return nil
}

func writeInt(b *strings.Builder, n *yaml.Node) error {
	var i int64
	var u uint64
	switch {
	case n.Decode(&i) == nil:
		b.WriteString(strconv.FormatInt(i, 10))
	case n.Decode(&u) == nil:
		b.WriteString(strconv.FormatUint(u, 10))
	case jsonNumberRE.MatchString(n.Value):
		b.WriteString(n.Value)
	default:
		return &nodeError{n, fmt.Sprintf("%q is not an integer JSON can hold", n.Value)}
	}
	return nil
}

func writeFloat(b *strings.Builder, n *yaml.Node) error {
	var f float64
	if err := n.Decode(&f); err != nil {
		return &nodeError{n, fmt.Sprintf("%q is not a number", n.Value)}
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return &nodeError{n, fmt.Sprintf("%s cannot be written as JSON: quote it to pass a string", n.Value)}
	}
	s, _ := json.Marshal(f)
	b.Write(s)
	if !bytes.ContainsAny(s, ".eE") {
		b.WriteString(".0") // keep it a float for json.loads
	}
	return nil
}

// quoteJSON is a JSON string without HTML escaping.
func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// environment reads the map of variable name → scalar, as written.
func (p *parser) environment(n *yaml.Node) map[string]string {
	env := map[string]string{}
	if n == nil || !p.want(n, yaml.MappingNode, "environment") {
		return env
	}
	kvs := p.pairs(n)
	if len(kvs) > maxEnv {
		p.errorf(n, "too many environment variables: %d, SageMaker allows at most %d", len(kvs), maxEnv)
	}
	for _, kv := range kvs {
		if msg := checkEnvName(kv.name); msg != "" {
			p.errorf(kv.key, "%s", msg)
		}
		if v, ok := p.envValue(kv); ok {
			env[kv.name] = v
		}
	}
	return env
}

func (p *parser) envValue(kv pair) (string, bool) {
	switch {
	case kv.val == nil:
		p.errorf(p.nullAt(kv.key, kv.raw), "environment variable %q has no value: write %s: \"\" for an empty one", kv.name, kv.name)
	case kv.val.Kind != yaml.ScalarNode:
		p.errorf(kv.val, "environment variable %q must be a string, number or boolean, not %s", kv.name, describe(kv.val))
	case utf8.RuneCountInString(kv.val.Value) > maxEnvValue:
		p.errorf(kv.val, "environment variable %q: value is longer than %d characters, SageMaker's limit", kv.name, maxEnvValue)
	default:
		return kv.val.Value, true
	}
	return "", false
}

func checkEnvName(k string) string {
	switch {
	case !envNameRE.MatchString(k):
		return fmt.Sprintf("environment variable name %q must be letters, digits and _, not starting with a digit", k)
	case len(k) > maxEnvKey:
		return fmt.Sprintf("environment variable name is longer than %d characters, SageMaker's limit", maxEnvKey)
	}
	return ""
}
