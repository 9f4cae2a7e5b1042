package spec

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobrun/jobrun/exitcode"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestTestdata loads every sample spec: testdata/*.yaml must be valid and
// match their .json golden files; testdata/errors/*.yaml must fail with the
// errors in their .err golden files.
func TestTestdata(t *testing.T) {
	good, _ := filepath.Glob("testdata/*.yaml")
	bad, _ := filepath.Glob("testdata/errors/*.yaml")
	if len(good) == 0 || len(bad) == 0 {
		t.Fatal("no samples in testdata")
	}
	for _, path := range good {
		t.Run(path, func(t *testing.T) {
			s, err := Load(path, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".json", specJSON(t, s))
		})
	}
	for _, path := range bad {
		t.Run(path, func(t *testing.T) {
			_, err := Load(path, Overrides{})
			if err == nil {
				t.Fatal("no error")
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".err", err.Error()+"\n")
		})
	}
}

// specJSON is s as JSON with the test's folder replaced by $DIR, so the
// golden files do not depend on where the tree is.
func specJSON(t *testing.T, s *Spec) string {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), cwd(t), "$DIR") + "\n"
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such.yaml", Overrides{})
	if exitcode.Code(err) != exitcode.Usage || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v (exit %d)", err, exitcode.Code(err))
	}
}

func TestParseStdin(t *testing.T) {
	s := mustParseFile(t, "-", base+"output: o\n")
	if s.File != "" || s.Output.URI != filepath.Join(cwd(t), "o") {
		t.Errorf("File %q, Output %q", s.File, s.Output.URI)
	}
	_, err := Parse("", []byte("name: x\n"), Overrides{})
	if err == nil || !strings.HasPrefix(err.Error(), "<stdin>:1:1: ") {
		t.Errorf("error %v, want it at <stdin>:1:1", err)
	}
}

func mustParseFile(t *testing.T, file, src string) *Spec {
	t.Helper()
	s, err := Parse(file, []byte(src), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
