package spec

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SageMaker's limits on input channels.
const (
	maxChannels       = 20
	maxChannelName    = 64
	maxContentType    = 256
	maxAttributeNames = 16
	maxAttributeName  = 256
)

// enum is a key's allowed values: accepted spellings (lower case, without
// '_', '-' and spaces) → the normal form.
type enum struct {
	key    string
	values map[string]string
	want   string
}

var (
	typeEnum = enum{"type", map[string]string{
		"s3prefix": "s3prefix", "manifest": "manifest", "manifestfile": "manifest",
		"augmentedmanifest": "augmented_manifest", "augmentedmanifestfile": "augmented_manifest",
	}, "s3prefix, manifest or augmented_manifest"}
	modeEnum = enum{"mode", map[string]string{
		"file": "file", "fastfile": "fastfile", "pipe": "pipe",
	}, "file, fastfile or pipe"}
	compressionEnum = enum{"compression", map[string]string{
		"none": "none", "gzip": "gzip",
	}, "none or gzip"}
	distributionEnum = enum{"distribution", map[string]string{
		"fullyreplicated": "fully_replicated", "shardedbys3key": "sharded_by_s3_key",
	}, "fully_replicated or sharded_by_s3_key"}
	wrapperEnum = enum{"record_wrapper", map[string]string{
		"none": "none", "recordio": "recordio",
	}, "none or recordio"}
)

// normal is the normal form of v, or "" when v is not one of e's values.
func (e enum) normal(v string) string {
	return e.values[strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(v))]
}

// read reads key from f into *dst, leaving the default when it is absent.
func (p *parser) enum(f fields, e enum, dst *string) {
	n := f.get(e.key)
	if n == nil {
		return
	}
	v, ok := p.str(n, e.key)
	if !ok {
		return
	}
	if norm := e.normal(v); norm != "" {
		*dst = norm
		return
	}
	p.errorf(n, "invalid %s %q: want %s", e.key, v, e.want)
}

var channelNameRE = regexp.MustCompile(`^[A-Za-z0-9.\-_]+$`)

func checkChannelName(name string) string {
	if len(name) > maxChannelName || !channelNameRE.MatchString(name) {
		return fmt.Sprintf("channel name %q must be 1 to %d letters, digits, '.', '-' and '_'", name, maxChannelName)
	}
	return ""
}

// inputs reads the map of channel name → uri or input mapping.
func (p *parser) inputs(n *yaml.Node) []Input {
	ins := []Input{}
	if n == nil || !p.want(n, yaml.MappingNode, "inputs") {
		return ins
	}
	kvs := p.pairs(n)
	if len(kvs) > maxChannels {
		p.errorf(n, "too many input channels: %d, SageMaker allows at most %d", len(kvs), maxChannels)
	}
	for _, kv := range kvs {
		ins = append(ins, p.input(kv))
	}
	return ins
}

var inputKeys = []string{
	"uri", "type", "mode", "content_type", "compression", "distribution",
	"record_wrapper", "attribute_names",
}

func newInput(name string) Input {
	return Input{Name: name, Type: "s3prefix", Mode: "file", Compression: "none",
		Distribution: "fully_replicated", RecordWrapper: "none"}
}

func (p *parser) input(kv pair) Input {
	in := newInput(kv.name)
	in.Pos = p.pos(kv.key)
	if msg := checkChannelName(kv.name); msg != "" {
		p.errorf(kv.key, "%s", msg)
	}
	switch {
	case kv.val == nil:
		p.errorf(p.nullAt(kv.key, kv.raw), "input %q needs a uri", kv.name)
	case kv.val.Kind == yaml.ScalarNode:
		in.URI = p.uri(kv.val, "uri")
		p.inputRules(in, fields{node: kv.val})
	case p.want(kv.val, yaml.MappingNode, kv.name):
		p.inputFields(&in, kv.val)
	}
	return in
}

func (p *parser) inputFields(in *Input, n *yaml.Node) {
	before := len(p.errs)
	f := p.fields(n, inputKeys...)
	if u := p.required(f, "uri"); u != nil {
		in.URI = p.uri(u, "uri")
	}
	p.enum(f, typeEnum, &in.Type)
	p.enum(f, modeEnum, &in.Mode)
	p.enum(f, compressionEnum, &in.Compression)
	p.enum(f, distributionEnum, &in.Distribution)
	p.enum(f, wrapperEnum, &in.RecordWrapper)
	if c := f.get("content_type"); c != nil {
		in.ContentType, _ = p.str(c, "content_type")
		if utf8.RuneCountInString(in.ContentType) > maxContentType {
			p.errorf(c, "content_type is longer than %d characters, SageMaker's limit", maxContentType)
		}
	}
	if a := f.get("attribute_names"); a != nil {
		in.AttributeNames = p.attributeNames(a)
	}
	if len(p.errs) == before { // combinations only make sense of valid values
		p.inputRules(*in, f)
	}
}

// attributeNames reads a list of names; nil when it is empty.
func (p *parser) attributeNames(n *yaml.Node) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%q must be a list of strings, not %s", "attribute_names", describe(n))
		return nil
	}
	names := p.stringList(n, "attribute_names")
	if len(names) == 0 {
		return nil
	}
	if len(names) > maxAttributeNames {
		p.errorf(n, "too many attribute_names: %d, SageMaker allows at most %d", len(names), maxAttributeNames)
	}
	for _, s := range names {
		if s == "" || utf8.RuneCountInString(s) > maxAttributeName {
			p.errorf(n, "attribute names must be 1 to %d characters", maxAttributeName)
			break
		}
	}
	return names
}

// inputRules reports combinations of an input's settings that SageMaker
// (or jobrun, for now) does not allow.
func (p *parser) inputRules(in Input, f fields) {
	for _, c := range in.conflicts() {
		at := f.node
		for _, key := range c.keys {
			if f.vals[key] != nil {
				at = f.vals[key]
				break
			}
		}
		p.errorf(at, "input %q: %s", in.Name, c.msg)
	}
}

// conflict is a broken rule; keys are the fields to blame, best first.
type conflict struct {
	keys []string
	msg  string
}

func (in Input) conflicts() []conflict {
	var cs []conflict
	add := func(msg string, keys ...string) { cs = append(cs, conflict{keys, msg}) }
	if in.IsLocal() && in.Type != "s3prefix" {
		add("type "+in.Type+" is not supported yet for local paths: use s3prefix (a folder) or an s3:// uri", "type", "uri")
	}
	if in.Compression == "gzip" && in.Mode != "pipe" {
		add("compression gzip needs mode pipe: SageMaker decompresses only in Pipe mode", "compression")
	}
	if in.RecordWrapper == "recordio" && in.Mode != "pipe" {
		add("record_wrapper recordio needs mode pipe: SageMaker wraps records only in Pipe mode", "record_wrapper")
	}
	if in.Type == "augmented_manifest" && in.Mode == "fastfile" {
		// File mode is a jobrun extension (the referenced objects plus the
		// selected lines; see docs/inputs.md); FastFile has no such meaning.
		add("type augmented_manifest needs mode pipe (SageMaker's only mode for augmented manifests) or file (a jobrun extension)", "mode", "type")
	}
	if in.Type == "augmented_manifest" && len(in.AttributeNames) == 0 {
		add("type augmented_manifest needs attribute_names", "attribute_names", "type")
	}
	if in.Type != "augmented_manifest" && len(in.AttributeNames) > 0 {
		add("attribute_names applies only to type augmented_manifest", "attribute_names")
	}
	return cs
}
