package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/internal/testimage"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/enginetest"
)

const testTag = "jobrun-test-trainer:docker"

var (
	imageOnce sync.Once
	imageID   string
	imageErr  error
)

// newEngine connects to the real Docker Engine; tests fail without one.
func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(context.Background())
	if err != nil {
		t.Fatalf("these tests need a running Docker Engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func trainerImage(t *testing.T) string {
	e := newEngine(t)
	imageOnce.Do(func() { imageID, imageErr = testimage.BuildTrainer(context.Background(), e.Client(), testTag) })
	if imageErr != nil {
		t.Fatalf("building the trainer image: %v", imageErr)
	}
	return imageID
}

func countContainers(t *testing.T, label, value string) int {
	e := newEngine(t)
	res, err := e.cli.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", label+"="+value)})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Items)
}

func TestConformance(t *testing.T) {
	enginetest.Suite{
		New:        func(t *testing.T) runner.Engine { return newEngine(t) },
		Image:      trainerImage(t),
		Containers: countContainers,
	}.Run(t)
}

func TestDeviceRequest(t *testing.T) {
	gpu := [][]string{{"gpu"}}
	tests := []struct {
		in   runner.GPUs
		want *container.DeviceRequest
	}{
		{runner.GPUs{}, nil},
		{runner.GPUs{All: true}, &container.DeviceRequest{Driver: "nvidia", Count: -1, Capabilities: gpu}},
		{runner.GPUs{Count: 2}, &container.DeviceRequest{Driver: "nvidia", Count: 2, Capabilities: gpu}},
		{runner.GPUs{Devices: []string{"0", "1"}}, &container.DeviceRequest{Driver: "nvidia", DeviceIDs: []string{"0", "1"}, Capabilities: gpu}},
		{runner.GPUs{Devices: []string{"GPU-abc"}}, &container.DeviceRequest{Driver: "nvidia", DeviceIDs: []string{"GPU-abc"}, Capabilities: gpu}},
	}
	for _, tt := range tests {
		if got := deviceRequest(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("deviceRequest(%+v) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

// TestGPUsWithoutDriver runs a container asking for GPUs on an engine
// without NVIDIA support (this machine): the error must say so.
func TestGPUsWithoutDriver(t *testing.T) {
	e := newEngine(t)
	if _, err := os.Stat(e.GPUDir); err == nil {
		t.Skip("this machine has NVIDIA GPUs")
	}
	_, err := e.Run(context.Background(), runner.Container{
		Name: "jobrun-test-gpus", Image: trainerImage(t), GPUs: runner.GPUs{All: true}, Labels: map[string]string{LabelJob: "test-gpus"},
	})
	if err == nil || !strings.Contains(err.Error(), "no NVIDIA") {
		t.Fatalf("err = %v; want a message about missing NVIDIA support", err)
	}
	if n := countContainers(t, LabelJob, "test-gpus"); n != 0 {
		t.Errorf("%d containers left", n)
	}
}

func TestImageNotFound(t *testing.T) {
	_, err := newEngine(t).Image(context.Background(), runner.ImageRequest{Ref: "jobrun-no-such-image:1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "build:") {
		t.Fatalf("err = %v; want a hint about build:", err)
	}
}

func TestBuildHonoursDockerignore(t *testing.T) {
	e := newEngine(t)
	base := trainerImage(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":    "FROM " + testTag + "\nCOPY . /opt/ml/code/\n",
		".dockerignore": "secret*\n",
		"train.py":      "print('hi')\n",
		"secret.txt":    "no",
	})
	tag := "jobrun-test-build:1"
	id, err := e.Image(context.Background(), runner.ImageRequest{Ref: tag, Build: true, Context: dir, Dockerfile: "Dockerfile"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true}) })
	if id == "" || id == base {
		t.Fatalf("build returned %q", id)
	}
	entries, err := readTarNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(entries, []string{".dockerignore", "Dockerfile", "train.py"}) {
		t.Errorf("context = %v", entries)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChown runs the ownership helper for a uid other than ours.
func TestChown(t *testing.T) {
	e := newEngine(t)
	self, _ := os.Executable()
	if !isStatic(self) {
		t.Fatal("the chown helper needs a static binary: run the tests with CGO_ENABLED=0 (make test does)")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a/b.txt": "x"})
	os.Chmod(dir, 0o777)
	err := e.Chown(context.Background(), trainerImage(t), 4321, 4322, dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(dir, "a", "b.txt"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 4321 || st.Gid != 4322 {
		t.Errorf("owner = %d:%d; want 4321:4322", st.Uid, st.Gid)
	}
}

func isStatic(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && !strings.Contains(string(data[:min(len(data), 4096)]), "ld-linux")
}

// TestMain lets the test binary serve as the chown helper, as the jobrun
// binary does in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChownCommand {
		if err := ChownMain(os.Args[2:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func readTarNames(dir string) ([]string, error) {
	var buf bytes.Buffer
	if err := tarContext(dir, &buf); err != nil {
		return nil, err
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			sort.Strings(names)
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, h.Name)
	}
}

// TestLeftovers: a container whose jobrun process is gone is a leftover;
// one whose process lives (this test) is not.
func TestLeftovers(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	host, _ := os.Hostname()
	mk := func(name, pid string) string {
		res, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{Image: trainerImage(t), Labels: map[string]string{
				LabelJob: name, LabelPID: pid, LabelHost: host}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.remove(res.ID) })
		return res.ID
	}
	dead := mk("jobrun-test-leftover-dead", "999999999")
	live := mk("jobrun-test-leftover-live", strconv.Itoa(os.Getpid()))
	left, err := e.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *Leftover
	for i, l := range left {
		if l.ID == dead {
			found = &left[i]
		}
		if l.ID == live {
			t.Errorf("a container of a live jobrun process was listed as a leftover")
		}
	}
	if found == nil || found.Job != "jobrun-test-leftover-dead" {
		t.Fatalf("leftovers %+v do not include the dead run's container", left)
	}
	if ok, err := e.Remove(ctx, *found); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if n := countContainers(t, LabelJob, "jobrun-test-leftover-dead"); n != 0 {
		t.Errorf("container not removed")
	}
}
