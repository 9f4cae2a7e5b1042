package spec

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Notify posts an event to a webhook when a run ends.
type Notify struct {
	Webhook string   // http(s) URL; a secret (Slack's carry a token)
	On      []string // completed | failed | stopped; default all three
}

// notifyEvents are the run ends one can be notified of.
var notifyEvents = []string{"completed", "failed", "stopped"}

// Wants reports whether a run that ended with status (Completed, Failed,
// Stopped) is to be notified.
func (n *Notify) Wants(status string) bool {
	for _, on := range n.On {
		if strings.EqualFold(on, status) {
			return true
		}
	}
	return false
}

// MarshalJSON masks the webhook (it usually carries a token) wherever a
// spec is printed or recorded: only its scheme and host are kept.
func (n Notify) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Webhook string   `json:"webhook"`
		On      []string `json:"on"`
	}{n.Masked(), n.On})
}

// Masked is the webhook with everything after its host hidden.
func (n Notify) Masked() string {
	if u, err := url.Parse(n.Webhook); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return "…"
}

// IsMasked reports whether the webhook is a masked one (read back from a
// record), which cannot be posted to.
func (n Notify) IsMasked() bool { return strings.HasSuffix(n.Webhook, "/…") || n.Webhook == "…" }

func (p *parser) notify(n *yaml.Node) *Notify {
	if n == nil {
		return nil
	}
	out := &Notify{On: notifyEvents}
	if !p.want(n, yaml.MappingNode, "notify") {
		return out
	}
	f := p.fields(n, "webhook", "on")
	if w := p.required(f, "webhook"); w != nil {
		if v, ok := p.str(w, "webhook"); ok {
			out.Webhook = v
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.errorf(w, "webhook must be an http:// or https:// URL")
			}
		}
	}
	if on := f.get("on"); on != nil {
		out.On = p.stringList(on, "on")
		for i, ev := range out.On {
			if !slices.Contains(notifyEvents, ev) {
				p.errorf(itemNode(on, i), "invalid event %q in on: want completed, failed or stopped", ev)
			}
		}
	}
	return out
}

func itemNode(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}
