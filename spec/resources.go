package spec

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	// DefaultShmSize is /dev/shm's size unless resources.shm_size says.
	DefaultShmSize = 1 << 30
	minMemory      = 6 << 20 // Docker refuses less
)

var resourceKeys = []string{"instance_type", "instance_count", "gpus", "shm_size", "memory", "cpus"}

// resources reads the container's limits and the instance it pretends to be.
func (p *parser) resources(n *yaml.Node) Resources {
	r := Resources{InstanceType: "local", InstanceCount: 1, ShmSize: DefaultShmSize}
	if n == nil || !p.want(n, yaml.MappingNode, "resources") {
		return r
	}
	f := p.fields(n, resourceKeys...)
	if g := f.get("gpus"); g != nil {
		r.GPUs = p.gpus(g)
	}
	if r.GPUs != "" {
		r.InstanceType = "local_gpu"
	}
	if t := f.get("instance_type"); t != nil {
		r.InstanceType = p.instanceType(t)
		if r.InstanceType == "local_gpu" && f.get("gpus") == nil {
			r.GPUs = "all"
		}
	}
	if c := f.get("instance_count"); c != nil {
		r.InstanceCount = p.instanceCount(c)
	}
	if s := f.get("shm_size"); s != nil {
		r.ShmSize = p.size(s, "shm_size", 1)
	}
	if m := f.get("memory"); m != nil {
		r.Memory = p.size(m, "memory", minMemory)
	}
	if c := f.get("cpus"); c != nil {
		r.CPUs = p.cpus(c)
	}
	return r
}

var instanceTypeRE = regexp.MustCompile(`^(?:local|local_gpu|ml\.[a-z0-9-]+\.[a-z0-9-]+)$`)

func checkInstanceType(t string) string {
	if !instanceTypeRE.MatchString(t) {
		return "want local, local_gpu or a SageMaker type such as ml.m5.xlarge"
	}
	return ""
}

func (p *parser) instanceType(n *yaml.Node) string {
	v, ok := p.str(n, "instance_type")
	if !ok {
		return "local"
	}
	t := strings.ToLower(v)
	if msg := checkInstanceType(t); msg != "" {
		p.errorf(n, "invalid instance_type %q: %s", v, msg)
	}
	return t
}

func (p *parser) instanceCount(n *yaml.Node) int {
	c, ok := p.integer(n, "instance_count")
	switch {
	case !ok:
		return 1
	case c < 1:
		p.errorf(n, "instance_count must be at least 1, not %d", c)
	case c > 1:
		p.errorf(n, "instance_count %d: multi-host jobs are not supported yet", c)
	}
	return 1
}

func (p *parser) cpus(n *yaml.Node) float64 {
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
		p.errorf(n, "%q must be a number, not %s", "cpus", shown(n))
		return 0
	}
	if !(f > 0) || math.IsInf(f, 0) {
		p.errorf(n, "cpus must be more than 0, not %s", n.Value)
		return 0
	}
	return f
}

var sizeRE = regexp.MustCompile(`(?i)^([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgtp])(?:i?b)?|b)?$`)

// parseSize reads a size like 1g, 512m, 1GiB or 1048576 (bytes). As with
// Docker's --shm-size and --memory, k, m, g, t and p are powers of 1024.
func parseSize(s string) (int64, string) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, "is not a size: want bytes or a number with a unit, such as 512m, 1g or 2GiB"
	}
	num, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, "is not a size"
	}
	shift := 0
	if m[2] != "" {
		shift = strings.Index("kmgtp", strings.ToLower(m[2])) + 1
	}
	v := num * math.Pow(1024, float64(shift))
	if v >= math.MaxInt64 {
		return 0, "is too large"
	}
	return int64(v), ""
}

// size reads a size, which must be at least least bytes.
func (p *parser) size(n *yaml.Node, what string, least int64) int64 {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%q must be a size such as 512m or 1g, not %s", what, describe(n))
		return 0
	}
	v, msg := parseSize(n.Value)
	switch {
	case msg != "":
	case v < 1:
		msg = "must be more than 0"
	case v < least:
		msg = fmt.Sprintf("is too small: at least %s", formatSize(least))
	}
	if msg != "" {
		p.errorf(n, "%s %q %s", what, n.Value, msg)
	}
	return v
}

func formatSize(b int64) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return strconv.FormatInt(b>>20, 10) + "m"
	case b >= 1<<10 && b%(1<<10) == 0:
		return strconv.FormatInt(b>>10, 10) + "k"
	}
	return strconv.FormatInt(b, 10) + " bytes"
}
