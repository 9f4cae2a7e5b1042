package contract

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// TestGolden pins every generated file and the environment of each test
// case under testdata/golden/<case>/: the config files at their /opt/ml
// paths, env.json (Tree.Env) and env.list (Tree.EnvFile).
func TestGolden(t *testing.T) {
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := Compute(tc.job(t))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", tc.name)
			got := goldenFiles(t, tree)
			if *update {
				writeGolden(t, dir, got)
			}
			compareGolden(t, dir, got)
		})
	}
}

func goldenFiles(t *testing.T, tree Tree) map[string][]byte {
	files := map[string][]byte{"env.list": tree.EnvFile()}
	env, err := json.MarshalIndent(tree.Env, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files["env.json"] = append(env, '\n')
	for rel, data := range tree.Files {
		files[filepath.FromSlash(rel)] = data
	}
	return files
}

func writeGolden(t *testing.T, dir string, files map[string][]byte) {
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compareGolden wants exactly the golden directory's files, byte for byte.
func compareGolden(t *testing.T, dir string, got map[string][]byte) {
	want := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		want[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatalf("%v (run go test ./contract/ -update to create)", err)
	}
	for _, rel := range unionKeys(got, want) {
		g, inGot := got[rel]
		w, inWant := want[rel]
		switch {
		case !inWant:
			t.Errorf("%s: generated but not in %s", rel, dir)
		case !inGot:
			t.Errorf("%s: in %s but not generated", rel, dir)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs (go test ./contract/ -update to accept):\n got %s\nwant %s", rel, g, w)
		}
	}
}

func unionKeys(a, b map[string][]byte) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
