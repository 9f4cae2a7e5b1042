package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	// DefaultMaxRuntime and DefaultGrace are stopping's defaults; the
	// grace period is SageMaker's.
	DefaultMaxRuntime = 24 * time.Hour
	DefaultGrace      = 120 * time.Second
	// MaxRuntimeLimit is SageMaker's longest MaxRuntimeInSeconds.
	MaxRuntimeLimit = 28 * 24 * time.Hour
)

var stoppingKeys = []string{"max_runtime", "grace"}

// stopping reads max_runtime and grace.
func (p *parser) stopping(n *yaml.Node) Stopping {
	s := Stopping{MaxRuntime: DefaultMaxRuntime, Grace: DefaultGrace}
	if n == nil || !p.want(n, yaml.MappingNode, "stopping") {
		return s
	}
	f := p.fields(n, stoppingKeys...)
	if m := f.get("max_runtime"); m != nil {
		s.MaxRuntime = p.duration(m, "max_runtime", checkMaxRuntime)
	}
	if g := f.get("grace"); g != nil {
		s.Grace = p.duration(g, "grace", checkGrace)
	}
	return s
}

func checkMaxRuntime(d time.Duration) string {
	if d < time.Second || d > MaxRuntimeLimit {
		return "must be between 1s and 28 days (672h), SageMaker's limits"
	}
	return ""
}

func checkGrace(d time.Duration) string {
	if d < 0 {
		return "must not be negative"
	}
	return ""
}

var daysRE = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// parseDuration reads a Go duration ("90m", "1h30m") with days allowed in
// front ("2d", "1d12h"), or a whole number of seconds ("3600").
func parseDuration(s string) (time.Duration, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		if limit := int64(1<<62) / int64(time.Second); secs > limit || secs < -limit {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(secs) * time.Second, nil
	}
	var days time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("out of range")
		}
		days, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

func (p *parser) duration(n *yaml.Node, what string, check func(time.Duration) string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%q must be a duration such as 90m or 24h, not %s", what, describe(n))
		return 0
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		p.errorf(n, "%s %q is not a duration: want seconds or a number with a unit, such as 90m, 24h or 2d", what, n.Value)
		return 0
	}
	if msg := check(d); msg != "" {
		p.errorf(n, "%s %s %s", what, n.Value, msg)
	}
	return d
}
