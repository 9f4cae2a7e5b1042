package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

func newDir(t *testing.T) Dir {
	d := Dir(filepath.Join(t.TempDir(), "job"))
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRequestKeepsWebhookAndSource(t *testing.T) {
	d := newDir(t)
	req := &Request{JobName: "j", SpecSource: "name: x\n",
		Spec: &spec.Spec{Name: "x", Notify: &spec.Notify{Webhook: "https://hooks.example/T0/secret", On: []string{"failed"}}}}
	if err := d.WriteRequest(req); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(d.Path(RequestFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("request.json mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := d.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Notify.Webhook != "https://hooks.example/T0/secret" || got.Spec.Source != "name: x\n" {
		t.Errorf("read back %+v %q", got.Spec.Notify, got.Spec.Source)
	}
}

func TestStates(t *testing.T) {
	d := newDir(t)
	if st := StatusOf(d); st.Exists {
		t.Errorf("no request yet: %+v", st)
	}
	d.WriteRequest(&Request{JobName: "j", Spec: &spec.Spec{}})
	if st, _ := d.State(); st != "Starting" {
		t.Errorf("no pid file: %s", st)
	}
	os.WriteFile(d.Path(PIDFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if st, _ := d.State(); st != StatusLost {
		t.Errorf("a PID that is not an agent of this dir: %s, want %s", st, StatusLost)
	}
	if err := Finish(d, "j", "/runs/j", "Failed", "boom", &exitcode.ContainerExit{Code: 3}); err != nil {
		t.Fatal(err)
	}
	st, o := d.State()
	if st != "Failed" || o.ExitCode != 3 || o.Error != "" || o.FailureReason != "boom" {
		t.Errorf("after Finish: %s %+v", st, o)
	}
	if _, err := os.Stat(d.Path(PIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("Finish left the pid file")
	}
	Finish(d, "j", "", "", "", errors.New("docker broke"))
	if _, o := d.State(); o.ExitCode != exitcode.Failure || o.Error != "docker broke" || o.Status != "Failed" {
		t.Errorf("an error: %+v", o)
	}
}

// TestFollow: output written while following arrives once, following
// ends with the outcome, and from an offset it starts there.
func TestFollow(t *testing.T) {
	d := newDir(t)
	d.WriteRequest(&Request{JobName: "j", Spec: &spec.Spec{}})
	os.WriteFile(d.Path(PIDFile), []byte("1\n"), 0o644) // not ours: Lost unless an outcome comes
	console, _ := os.OpenFile(d.Path(ConsoleFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	defer console.Close()
	console.WriteString("one\n")
	Finish(d, "j", "", "Completed", "", nil)
	var out bytes.Buffer
	if err := Follow(context.Background(), d, 0, &out, nil); err != nil || out.String() != "one\n" {
		t.Fatalf("Follow = %q, %v", out.String(), err)
	}
	out.Reset()
	if err := Follow(context.Background(), d, 2, &out, nil); err != nil || out.String() != "e\n" {
		t.Errorf("from 2: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := Copy(d, 1, &out); err != nil || out.String() != "ne\n" {
		t.Errorf("Copy from 1: %q, %v", out.String(), err)
	}
}

func TestFollowLostAndStdinEnd(t *testing.T) {
	d := newDir(t)
	d.WriteRequest(&Request{JobName: "j", Spec: &spec.Spec{}})
	os.WriteFile(d.Path(PIDFile), []byte("1\n"), 0o644)
	err := Follow(context.Background(), d, 0, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "without recording") {
		t.Errorf("a lost agent: %v", err)
	}
	os.Remove(d.Path(PIDFile)) // Starting: Follow waits...
	r, w := io.Pipe()
	done := make(chan error)
	go func() { done <- Follow(context.Background(), d, 0, io.Discard, r) }()
	w.Close() // ...until the client goes away
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not end when its stdin did")
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"a", "b"} {
		d := Dir(filepath.Join(root, JobsDir, name))
		os.MkdirAll(string(d), 0o700)
		d.WriteRequest(&Request{JobName: name, Spec: &spec.Spec{}, SubmittedAt: time.Unix(int64(1000+i), 0)})
	}
	Finish(Dir(filepath.Join(root, JobsDir, "a")), "a", "/r/a", "Completed", "", nil)
	os.MkdirAll(filepath.Join(root, JobsDir, "debris"), 0o700)
	list, err := List(root)
	if err != nil || len(list) != 2 || list[0].JobName != "b" || list[1].Status != "Completed" || *list[1].ExitCode != 0 {
		t.Errorf("List = %+v, %v", list, err)
	}
}
