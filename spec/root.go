package spec

import (
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"
)

var rootKeys = []string{
	"name", "image", "build", "pull", "entrypoint", "arguments",
	"hyperparameters", "environment", "inputs", "output", "checkpoint",
	"resources", "stopping", "metrics", "notify",
}

// spec walks the root mapping.
func (p *parser) spec(root *yaml.Node) *Spec {
	f := p.fields(root, rootKeys...)
	s := &Spec{Arguments: []string{"train"}}
	if n := p.required(f, "name"); n != nil {
		s.Name = p.jobName(n)
	}
	p.image(f, s)
	if n := f.get("entrypoint"); n != nil {
		s.Entrypoint = p.stringList(n, "entrypoint")
		if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			p.errorf(n, "%q must not be empty: leave it out to keep the image's ENTRYPOINT", "entrypoint")
		}
	}
	if n := f.get("arguments"); n != nil {
		s.Arguments = p.stringList(n, "arguments")
	}
	s.Hyperparameters = p.hyperparameters(f.get("hyperparameters"))
	s.Environment = p.environment(f.get("environment"))
	s.Inputs = p.inputs(f.get("inputs"))
	s.Output = p.output(f.get("output"))
	s.Checkpoint = p.checkpoint(f.get("checkpoint"))
	s.Resources = p.resources(f.get("resources"))
	s.Stopping = p.stopping(f.get("stopping"))
	s.Metrics = p.metrics(f.get("metrics"))
	s.Notify = p.notify(f.get("notify"))
	return s
}

var jobNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)

// checkJobName applies SageMaker's rule for training job names.
func checkJobName(s string) string {
	if len(s) > 63 || !jobNameRE.MatchString(s) {
		return "is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit"
	}
	return ""
}

func (p *parser) jobName(n *yaml.Node) string {
	s, ok := p.str(n, "name")
	if !ok {
		return ""
	}
	if msg := checkJobName(s); msg != "" {
		p.errorf(n, "name %q %s", s, msg)
	}
	return s
}

// image reads image, build and pull. At least one of image and build is
// needed; with both, the build is tagged as image.
func (p *parser) image(f fields, s *Spec) {
	if n := f.get("image"); n != nil {
		if v, ok := p.str(n, "image"); ok {
			s.Image = v
			if msg := checkImage(v); msg != "" {
				p.errorf(n, "image %q %s", v, msg)
			}
		}
	}
	if n := f.get("build"); n != nil {
		s.Build = p.build(n)
	}
	if f.get("image") == nil && f.get("build") == nil {
		p.errorf(f.at("image"), "missing required key %q (or %q): the image to run", "image", "build")
	}
	if n := f.get("pull"); n != nil {
		s.Pull = p.boolean(n, "pull")
	}
}

// imageRE is Docker's reference grammar: [host[:port]/]path[:tag][@digest].
var imageRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)

// maxImageRef bounds an image reference: 255 for the name, a tag and a digest.
const maxImageRef = 512

// imageIDRE is an image ID, full or short, as `docker images` shows it.
var imageIDRE = regexp.MustCompile(`^(?:sha256:[0-9a-f]{64}|[0-9a-f]{12,64})$`)

func checkImage(s string) string {
	if len(s) > maxImageRef || !(imageRE.MatchString(s) || imageIDRE.MatchString(s)) {
		return "is not a valid image reference: want [registry/]repository[:tag][@digest], repository in lower case"
	}
	return ""
}

var buildKeys = []string{"context", "dockerfile", "args"}

// build reads a build context folder, or {context, dockerfile, args}.
func (p *parser) build(n *yaml.Node) *Build {
	b := &Build{Dockerfile: "Dockerfile"}
	if n.Kind == yaml.ScalarNode {
		b.Context = p.localPath(n, "build")
		return b
	}
	if !p.want(n, yaml.MappingNode, "build") {
		return b
	}
	f := p.fields(n, buildKeys...)
	if c := p.required(f, "context"); c != nil {
		b.Context = p.localPath(c, "context")
	}
	if d := f.get("dockerfile"); d != nil {
		if v, ok := p.str(d, "dockerfile"); ok {
			b.Dockerfile = filepath.ToSlash(filepath.Clean(v))
			if !filepath.IsLocal(v) {
				p.errorf(d, "dockerfile %q must be a relative path inside the build context", v)
			}
		}
	}
	if a := f.get("args"); a != nil {
		b.Args = p.buildArgs(a)
	}
	return b
}

var buildArgRE = regexp.MustCompile(`^[^\s=]+$`)

// buildArgs reads the map of build arg → scalar; nil when it is empty.
func (p *parser) buildArgs(n *yaml.Node) map[string]string {
	if !p.want(n, yaml.MappingNode, "args") || len(n.Content) == 0 {
		return nil
	}
	args := map[string]string{}
	for _, kv := range p.pairs(n) {
		if !buildArgRE.MatchString(kv.name) {
			p.errorf(kv.key, "build arg name %q must not be empty or hold spaces or '='", kv.name)
		}
		if kv.val == nil {
			p.errorf(p.nullAt(kv.key, kv.raw), "build arg %q needs a value (write \"\" for an empty one)", kv.name)
			continue
		}
		if v, ok := p.str(kv.val, kv.name); ok {
			args[kv.name] = v
		}
	}
	return args
}
