package spec

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var gpuIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._-]*$`)

// GPURequest decodes Resources.GPUs: all GPUs; or count GPUs, any of
// them; or the devices listed (indexes or UUIDs). No GPUs gives all false,
// count 0 and no devices.
func (r Resources) GPURequest() (all bool, count int, devices []string) {
	switch g := r.GPUs; {
	case g == "":
	case g == "all":
		all = true
	case strings.HasPrefix(g, "device="):
		devices = strings.Split(strings.TrimPrefix(g, "device="), ",")
	default:
		count, _ = strconv.Atoi(g)
	}
	return all, count, devices
}

// gpus reads all, a count, a list of device ids or a comma-separated
// string of them, into Resources.GPUs's form.
func (p *parser) gpus(n *yaml.Node) string {
	const want = "want all, a count, or device ids as a list or comma-separated string"
	switch {
	case n.Kind == yaml.SequenceNode:
		ids := p.stringList(n, "gpus")
		return p.gpuDevices(n, ids)
	case n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" || n.ShortTag() == "!!float":
		p.errorf(n, "invalid gpus %s: %s", shown(n), want)
		return ""
	}
	v := strings.TrimSpace(n.Value)
	if strings.EqualFold(v, "all") {
		return "all"
	}
	if c, err := strconv.Atoi(v); err == nil {
		if c < 0 {
			p.errorf(n, "gpus must not be negative")
			return ""
		}
		return countGPUs(c)
	}
	v = strings.TrimPrefix(v, "device=")
	if v == "" {
		p.errorf(n, "invalid gpus %q: %s", n.Value, want)
		return ""
	}
	return p.gpuDevices(n, strings.Split(v, ","))
}

func countGPUs(c int) string {
	if c == 0 {
		return ""
	}
	return strconv.Itoa(c)
}

func (p *parser) gpuDevices(n *yaml.Node, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	for i, id := range ids {
		ids[i] = strings.TrimSpace(id)
		if !gpuIDRE.MatchString(ids[i]) {
			p.errorf(n, "invalid GPU device id %q: want an index such as 0 or a UUID such as GPU-3a2c...", ids[i])
			return ""
		}
	}
	return "device=" + strings.Join(ids, ",")
}
