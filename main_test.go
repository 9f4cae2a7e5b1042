package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jobrun/jobrun/internal/testimage"
	"github.com/jobrun/jobrun/runner/docker"
)

// trainerTag is the test trainer image the scripts and e2e tests run.
const trainerTag = "jobrun-test-trainer:e2e"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"jobrun": func() { os.Exit(run(os.Args)) },
	})
}

var (
	imageOnce sync.Once
	imageErr  error
)

// buildTrainer builds the trainer image once per test process, through
// the real Docker Engine.
func buildTrainer(t testing.TB) {
	imageOnce.Do(func() {
		eng, err := docker.New(context.Background())
		if err != nil {
			imageErr = fmt.Errorf("these tests need a running Docker Engine: %w", err)
			return
		}
		defer eng.Close()
		_, imageErr = testimage.BuildTrainer(context.Background(), eng.Client(), trainerTag)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
}

// TestScripts runs the CLI transcripts in testdata/script.
func TestScripts(t *testing.T) {
	buildTrainer(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("TRAINER_IMAGE", trainerTag)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

// cmdExits runs jobrun and checks its exit code: `exits 2 jobrun validate x.yaml`.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "TRAINER_IMAGE", "TMPDIR", "DOCKER_HOST"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	out, _ := cmd.CombinedOutput()
	if got := cmd.ProcessState.ExitCode(); got != want {
		ts.Fatalf("%v exited with %d, want %d; output:\n%s", args[1:], got, want, out)
	}
	ts.Logf("%s", out)
}
