package spec

import (
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultCheckpointPath is where the container finds its checkpoints.
const DefaultCheckpointPath = "/opt/ml/checkpoints"

var outputKeys = []string{"uri", "compression"}

// output reads a uri or {uri, compression}; the default uri is ./runs next
// to the spec.
func (p *parser) output(n *yaml.Node) Output {
	o := Output{URI: filepath.Join(p.dir, "runs"), Compression: "none"}
	if n == nil {
		return o
	}
	if n.Kind == yaml.ScalarNode {
		o.URI = p.uri(n, "output")
		return o
	}
	if !p.want(n, yaml.MappingNode, "output") {
		return o
	}
	f := p.fields(n, outputKeys...)
	if u := f.get("uri"); u != nil {
		o.URI = p.uri(u, "uri")
	}
	p.enum(f, compressionEnum, &o.Compression)
	return o
}

var checkpointKeys = []string{"uri", "local_path"}

// checkpoint reads a uri or {uri, local_path}.
func (p *parser) checkpoint(n *yaml.Node) *Checkpoint {
	if n == nil {
		return nil
	}
	c := &Checkpoint{LocalPath: DefaultCheckpointPath}
	if n.Kind == yaml.ScalarNode {
		c.URI = p.uri(n, "checkpoint")
		return c
	}
	if !p.want(n, yaml.MappingNode, "checkpoint") {
		return c
	}
	f := p.fields(n, checkpointKeys...)
	if u := p.required(f, "uri"); u != nil {
		c.URI = p.uri(u, "uri")
	}
	if l := f.get("local_path"); l != nil {
		if v, ok := p.str(l, "local_path"); ok {
			c.LocalPath = path.Clean(v)
			if msg := checkLocalPath(v); msg != "" {
				p.errorf(l, "local_path %q %s", v, msg)
			}
		}
	}
	return c
}

// checkLocalPath checks a checkpoint's container path: absolute, and not
// over the folders jobrun mounts itself.
func checkLocalPath(v string) string {
	if !path.IsAbs(v) {
		return "must be an absolute path in the container"
	}
	c := path.Clean(v)
	if c == "/" || c == "/opt/ml" || c == "/opt" {
		return "must not be " + c + ": it would hide the container's files"
	}
	for _, d := range []string{"/opt/ml/input", "/opt/ml/model", "/opt/ml/output"} {
		if c == d || strings.HasPrefix(c, d+"/") {
			return "must not be inside " + d + ", which jobrun mounts itself"
		}
	}
	return ""
}
