package spec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNotify(t *testing.T) {
	base := "name: n\nimage: i\n"
	s, err := Parse("t.yaml", []byte(base+"notify: {webhook: \"https://hooks.example.com/T0/B0/secret\", on: [failed]}\n"), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Notify == nil || !s.Notify.Wants("Failed") || s.Notify.Wants("Completed") {
		t.Errorf("notify = %+v", s.Notify)
	}
	data, _ := json.Marshal(s)
	if strings.Contains(string(data), "secret") || !strings.Contains(string(data), `"webhook":"https://hooks.example.com/…"`) {
		t.Errorf("the webhook is not masked in %s", data)
	}
	def, err := Parse("t.yaml", []byte(base+"notify: {webhook: \"http://127.0.0.1:9/x\"}\n"), Overrides{})
	if err != nil || !def.Notify.Wants("Stopped") || !def.Notify.Wants("Completed") {
		t.Errorf("default events: %+v %v", def.Notify, err)
	}
	for body, want := range map[string]string{
		"notify: {webhook: ftp://x/y}\n":                  "t.yaml:3:19: webhook must be an http",
		"notify: {webhook: \"https://x/\", on: [done]}\n": "t.yaml:3:38: invalid event \"done\"",
		"notify: {on: [failed]}\n":                        "missing required key \"webhook\"",
	} {
		_, err := Parse("t.yaml", []byte(base+body), Overrides{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}
