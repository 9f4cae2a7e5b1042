package main

import (
	"reflect"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"jobrun"}, []string{"jobrun"}},
		{[]string{"jobrun", "local", "t.yaml"}, []string{"jobrun", "local", "t.yaml"}},
		{[]string{"jobrun", "local", "t.yaml", "--set", "a=1", "--json"},
			[]string{"jobrun", "local", "--set", "a=1", "--json", "t.yaml"}},
		{[]string{"jobrun", "local", "--name", "x", "t.yaml", "-e", "K=V"},
			[]string{"jobrun", "local", "--name", "x", "-e", "K=V", "t.yaml"}},
		{[]string{"jobrun", "render", "t.yaml", "--set=a=1", "dir"},
			[]string{"jobrun", "render", "--set=a=1", "t.yaml", "dir"}},
		{[]string{"jobrun", "local", "t.yaml", "--", "--json"},
			[]string{"jobrun", "local", "t.yaml", "--", "--json"}},
		{[]string{"jobrun", "--help"}, []string{"jobrun", "--help"}},
	}
	for _, tt := range tests {
		if got := reorderArgs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
