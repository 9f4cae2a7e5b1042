package spec

import (
	"fmt"
	"strings"
	"testing"
)

// TestHyperparameterStrings pins the rule: scalars as written, lists and
// maps as compact JSON.
func TestHyperparameterStrings(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"0.10", "0.10"},
		{"10", "10"},
		{"1e-3", "1e-3"},
		{"true", "true"},
		{"True", "True"},
		{"yes", "yes"},
		{"hello world", "hello world"},
		{"'quoted: yes'", "quoted: yes"},
		{`"tab\there"`, "tab\there"},
		{"''", ""},
		{"|\n    two\n    lines\n", "two\nlines\n"},
		{".inf", ".inf"},
		{"0x1F", "0x1F"},
		{"2024-01-02", "2024-01-02"},
		{"[1, 2.5, x]", `[1,2.5,"x"]`},
		{"[]", "[]"},
		{"{}", "{}"},
		{"[1.0, 2., -0.5, 1e3, 1.5e300]", "[1.0,2.0,-0.5,1000.0,1.5e+300]"},
		{"[0x1F, 0o17, 1_000, -7, 18446744073709551615]", "[31,15,1000,-7,18446744073709551615]"},
		{"[true, false, null, ~]", "[true,false,null,null]"},
		{"{b: 1, a: [x, {d: 2, c: 3}]}", `{"a":["x",{"c":3,"d":2}],"b":1}`},
		{"{1: a, true: b, 1.5: c, null: d}", `{"1":"a","1.5":"c","null":"d","true":"b"}`},
		{`{html: "<a&b>", q: "say \"hi\"", u: "é"}`, `{"html":"<a&b>","q":"say \"hi\"","u":"é"}`},
		{"[2024-01-02, '10', !!str 11]", `["2024-01-02","10","11"]`},
		{"[[[]]]", "[[[]]]"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			s := mustParse(t, base+"hyperparameters:\n  x: "+tt.yaml+"\n", Overrides{})
			if got := s.Hyperparameters["x"]; got != tt.want {
				t.Errorf("x: %s → %q, want %q", tt.yaml, got, tt.want)
			}
		})
	}
}

func TestHyperparameterLimits(t *testing.T) {
	var many strings.Builder
	for i := range 100 {
		fmt.Fprintf(&many, "  h%d: %d\n", i, i)
	}
	mustParse(t, base+"hyperparameters:\n"+many.String(), Overrides{})
	long := strings.Repeat("x", 2500)
	s := mustParse(t, base+"hyperparameters:\n  "+strings.Repeat("k", 256)+": "+long+"\n", Overrides{})
	if len(s.Hyperparameters[strings.Repeat("k", 256)]) != 2500 {
		t.Error("a 2500-character value with a 256-character name was not kept")
	}
	list := "[" + strings.Repeat(`"x",`, 623) + `"xxxx"]` // 2500 characters of JSON
	if got := mustParse(t, base+"hyperparameters: {l: "+list+"}\n", Overrides{}).Hyperparameters["l"]; len(got) != 2500 {
		t.Errorf("JSON list of 2500 characters became %d", len(got))
	}
}

func TestEnvironmentLimits(t *testing.T) {
	var many strings.Builder
	for i := range 100 {
		fmt.Fprintf(&many, "  E%d: %d\n", i, i)
	}
	mustParse(t, base+"environment:\n"+many.String(), Overrides{})
	mustParse(t, base+"environment:\n  "+strings.Repeat("K", 512)+": "+strings.Repeat("v", 512)+"\n", Overrides{})
}

func TestQuoteJSON(t *testing.T) {
	if got := quoteJSON("<&>\u2028\n"); got != `"<&>\u2028\n"` {
		t.Errorf("quoteJSON = %s", got)
	}
}
