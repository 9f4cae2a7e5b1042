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
	g := r.GPUs
	switch {
	case g == "":
	case g == "all":
		all = true
	case strings.HasPrefix(g, "device="):
		devices = strings.Split(strings.TrimPrefix(g, "device="), ",")
	case strings.Contains(g, ","):
		devices = strings.Split(g, ",")
	default:
		n, err := strconv.Atoi(g)
		if err != nil {
			return false, 0, []string{g}
		}
		count = n
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
	seen := map[string]bool{}
	for i, id := range ids {
		ids[i] = strings.TrimSpace(id)
		switch {
		case !gpuIDRE.MatchString(ids[i]):
			p.errorf(n, "invalid GPU device id %q: want an index such as 0 or a UUID such as GPU-3a2c...", ids[i])
			return ""
		case seen[ids[i]]:
			p.errorf(n, "GPU device %q is listed twice", ids[i])
			return ""
		}
		seen[ids[i]] = true
	}
	return deviceList(ids)
}

// deviceList writes device ids comma-separated; a single index gets
// Docker's "device=" prefix, or it would read as a count.
func deviceList(ids []string) string {
	if _, err := strconv.Atoi(ids[0]); err == nil && len(ids) == 1 {
		return "device=" + ids[0]
	}
	return strings.Join(ids, ",")
}

// checkGPUs checks that g is Resources.GPUs in its normal form.
func checkGPUs(g string) string {
	all, count, devices := Resources{GPUs: g}.GPURequest()
	norm := ""
	switch {
	case all:
		norm = "all"
	case count > 0:
		norm = strconv.Itoa(count)
	case len(devices) > 0:
		for _, d := range devices {
			if !gpuIDRE.MatchString(d) {
				return "has an invalid device id " + strconv.Quote(d)
			}
		}
		norm = deviceList(devices)
	}
	if norm != g {
		return `is not "", all, a count, comma-separated device ids or device=INDEX`
	}
	return ""
}
