// Package enginetest is the conformance suite every runner.Engine must
// pass, cancelled contexts included. It runs the test trainer image
// (testdata/trainer) on the engine under test.
package enginetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/syncbuf"
	"github.com/jobrun/jobrun/runner"
)

// Suite describes the engine under test.
type Suite struct {
	New   func(t *testing.T) runner.Engine
	Image string // ID of the test trainer image on that engine
	// Containers counts the engine's containers carrying label=value,
	// to prove none is left behind.
	Containers func(t *testing.T, label, value string) int
}

// Run runs every conformance test.
func (s Suite) Run(t *testing.T) {
	t.Run("Completes", s.testCompletes)
	t.Run("ExitCodePassesThrough", s.testExitCode)
	t.Run("StopIsGraceful", s.testGracefulStop)
	t.Run("KillAfterGrace", s.testKillAfterGrace)
	t.Run("ForceKillsAtOnce", s.testForce)
	t.Run("CancelledBeforeStart", s.testCancelledBeforeStart)
}

// Buffer collects a container's (or a process's) output while a test
// reads it.
type Buffer = syncbuf.Buffer

// container builds a trainer container with the given hyperparameters and
// a small training set, labelled so the test can look for leftovers.
func (s Suite) container(t *testing.T, hps string) (runner.Container, *Buffer, *Buffer) {
	dir := t.TempDir()
	cfg, data := filepath.Join(dir, "config"), filepath.Join(dir, "data")
	must(t, os.MkdirAll(cfg, 0o755), os.MkdirAll(data, 0o755), os.MkdirAll(filepath.Join(dir, "model"), 0o755),
		os.MkdirAll(filepath.Join(dir, "output"), 0o755),
		os.WriteFile(filepath.Join(cfg, "hyperparameters.json"), []byte(hps), 0o644),
		os.WriteFile(filepath.Join(data, "d.csv"), []byte("1,2,1\n-1,-2,0\n2,1,1\n-2,-1,0\n"), 0o644))
	out, errOut := &Buffer{}, &Buffer{}
	name := "enginetest-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	c := runner.Container{
		Name: name, Image: s.Image, Hostname: "algo-1", Cmd: []string{"train"},
		Labels: map[string]string{"jobrun.job": name}, ShmSize: 64 << 20, Grace: 30 * time.Second,
		Stdout: out, Stderr: errOut,
		Mounts: []runner.Mount{
			{Source: cfg, Target: "/opt/ml/input/config", ReadOnly: true},
			{Source: data, Target: "/opt/ml/input/data/train", ReadOnly: true},
			{Source: filepath.Join(dir, "model"), Target: "/opt/ml/model"},
			{Source: filepath.Join(dir, "output"), Target: "/opt/ml/output"},
		},
	}
	t.Cleanup(func() {
		if n := s.Containers(t, "jobrun.job", name); n != 0 {
			t.Errorf("%d container(s) labelled jobrun.job=%s left behind", n, name)
		}
	})
	return c, out, errOut
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (s Suite) testCompletes(t *testing.T) {
	c, out, _ := s.container(t, `{"epochs": "2"}`)
	exit, err := s.New(t).Run(context.Background(), c)
	if err != nil || exit.Code != 0 || exit.Stopped {
		t.Fatalf("Run = %+v, %v; want exit 0", exit, err)
	}
	if !strings.Contains(out.String(), "epoch=2 loss=") {
		t.Errorf("stdout lacks the second epoch's line:\n%s", out)
	}
	if exit.StartedAt.IsZero() || exit.FinishedAt.Before(exit.StartedAt) {
		t.Errorf("times not set: %+v", exit)
	}
}

func (s Suite) testExitCode(t *testing.T) {
	c, _, _ := s.container(t, `{"fail": "true", "exit_code": "7"}`)
	exit, err := s.New(t).Run(context.Background(), c)
	if err != nil || exit.Code != 7 {
		t.Fatalf("Run = %+v, %v; want exit code 7", exit, err)
	}
}

// stopAfterFirstEpoch cancels ctx once the trainer has printed an epoch.
func stopAfterFirstEpoch(out *Buffer, cancel func()) {
	out.WaitFor("epoch=", 30*time.Second)
	cancel()
}

func (s Suite) testGracefulStop(t *testing.T) {
	c, out, _ := s.container(t, `{"epochs": "1000", "sleep": "0.2"}`)
	ctx, cancel := context.WithCancel(context.Background())
	go stopAfterFirstEpoch(out, cancel)
	exit, err := s.New(t).Run(ctx, c)
	if err != nil || !exit.Stopped || exit.Killed || exit.Code != 143 {
		t.Fatalf("Run = %+v, %v; want stopped by SIGTERM with code 143", exit, err)
	}
	if !strings.Contains(out.String(), "SIGTERM received") {
		t.Errorf("the container did not see SIGTERM:\n%s", out)
	}
}

func (s Suite) testKillAfterGrace(t *testing.T) {
	c, out, _ := s.container(t, `{"epochs": "1000", "sleep": "0.2", "ignore_sigterm": "true"}`)
	c.Grace = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	go stopAfterFirstEpoch(out, cancel)
	exit, err := s.New(t).Run(ctx, c)
	if err != nil || !exit.Stopped || !exit.Killed || exit.Code != 137 {
		t.Fatalf("Run = %+v, %v; want killed with code 137", exit, err)
	}
}

func (s Suite) testForce(t *testing.T) {
	c, out, _ := s.container(t, `{"epochs": "1000", "sleep": "0.2", "ignore_sigterm": "true"}`)
	c.Grace = time.Hour
	force := make(chan struct{})
	c.Force = force
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		stopAfterFirstEpoch(out, cancel)
		time.Sleep(200 * time.Millisecond)
		close(force)
	}()
	start := time.Now()
	exit, err := s.New(t).Run(ctx, c)
	if err != nil || !exit.Killed || exit.Code != 137 {
		t.Fatalf("Run = %+v, %v; want killed with code 137", exit, err)
	}
	if d := time.Since(start); d > 5*time.Minute {
		t.Fatalf("force did not kill at once (%v)", d)
	}
}

func (s Suite) testCancelledBeforeStart(t *testing.T) {
	c, _, _ := s.container(t, `{"epochs": "1000", "sleep": "0.2"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	exit, err := s.New(t).Run(ctx, c)
	if err == nil && !exit.Stopped {
		t.Fatalf("Run with a cancelled context = %+v, nil; want an error or a stopped container", exit)
	}
}
