package spec

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SageMaker's limits on MetricDefinitions.
const (
	maxMetrics     = 40
	maxMetricName  = 255
	maxMetricRegex = 500
)

var metricKeys = []string{"name", "regex"}

// metrics reads the list of {name, regex}.
func (p *parser) metrics(n *yaml.Node) []Metric {
	if n == nil || !p.want(n, yaml.SequenceNode, "metrics") {
		return nil
	}
	if len(n.Content) > maxMetrics {
		p.errorf(n, "too many metrics: %d, SageMaker allows at most %d", len(n.Content), maxMetrics)
		return nil
	}
	var ms []Metric
	seen := map[string]*yaml.Node{}
	for _, item := range n.Content {
		item = resolve(item)
		if !p.want(item, yaml.MappingNode, "metrics") {
			continue
		}
		m, nameNode := p.metric(item)
		if nameNode != nil && seen[m.Name] != nil {
			p.errorf(nameNode, "duplicate metric name %q (first at %s)", m.Name, p.where(seen[m.Name]))
		} else if nameNode != nil {
			seen[m.Name] = nameNode
		}
		ms = append(ms, m)
	}
	return ms
}

func (p *parser) metric(n *yaml.Node) (Metric, *yaml.Node) {
	var m Metric
	f := p.fields(n, metricKeys...)
	name := p.required(f, "name")
	if name != nil {
		m.Name, _ = p.str(name, "name")
		if msg := checkMetricName(m.Name); msg != "" {
			p.errorf(name, "%s", msg)
		}
	}
	if r := p.required(f, "regex"); r != nil {
		m.Regex, _ = p.str(r, "regex")
		if msg := checkMetricRegex(m.Regex); msg != "" {
			p.errorf(r, "%s", msg)
		}
	}
	return m, name
}

func checkMetricName(s string) string {
	if s == "" || utf8.RuneCountInString(s) > maxMetricName {
		return fmt.Sprintf("metric name must be 1 to %d characters", maxMetricName)
	}
	return ""
}

// checkMetricRegex compiles a metric's regex, which needs a capture group
// for the value.
func checkMetricRegex(s string) string {
	if s == "" || utf8.RuneCountInString(s) > maxMetricRegex {
		return fmt.Sprintf("metric regex must be 1 to %d characters", maxMetricRegex)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return fmt.Sprintf("metric regex %q does not compile: %v", s, err)
	}
	if re.NumSubexp() < 1 {
		return fmt.Sprintf("metric regex %q needs a capture group for the value, such as loss=([0-9.]+)", s)
	}
	return ""
}
