package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestBuildTrainerRunsWithoutOptML builds the image against the real Docker
// daemon and runs it with no /opt/ml at all: the trainer must fail cleanly
// (exit 2, a failure file naming the missing channel), and the container
// must be gone afterwards. Docker is required: this test fails without it.
func TestBuildTrainerRunsWithoutOptML(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := newTestClient(t)
	tag := fmt.Sprintf("jobrun-test-trainer:testimage-%d", os.Getpid())
	id := buildImage(ctx, t, cli, tag)
	checkImage(ctx, t, cli, id)

	ctr := createContainer(ctx, t, cli, id)
	code := runToExit(ctx, t, cli, ctr)
	stdout, stderr := containerLogs(ctx, t, cli, ctr)
	if code != 2 {
		t.Fatalf("exit code = %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `channel "train": directory /opt/ml/input/data/train does not exist`) {
		t.Errorf("stderr does not name the missing channel:\n%s", stderr)
	}
	failure := copyFile(ctx, t, cli, ctr, "/opt/ml/output/failure")
	if !strings.Contains(failure, `channel "train"`) {
		t.Errorf("failure file = %q, want it to name channel \"train\"", failure)
	}
	removeContainer(ctx, t, cli, ctr)
}

// TestBuildTrainerCachesBinary checks that a second build reuses the
// compiled binary and gets the same image from the build cache.
func TestBuildTrainerCachesBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := newTestClient(t)
	tag := fmt.Sprintf("jobrun-test-trainer:cache-%d", os.Getpid())
	first := buildImage(ctx, t, cli, tag)
	start := time.Now()
	second := buildImage(ctx, t, cli, tag)
	if first != second {
		t.Errorf("second build gave image %s, want the cached %s", second, first)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("second build took %v; the binary should have been cached", d)
	}
}

func TestReadBuildStreamError(t *testing.T) {
	stream := `{"stream":"Step 1/4 : FROM scratch\n"}` + "\n" +
		`{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed: no such file"}` + "\n"
	_, err := readBuildStream(strings.NewReader(stream))
	if err == nil || !strings.Contains(err.Error(), "COPY failed: no such file") {
		t.Fatalf("err = %v, want the build's error message", err)
	}
	id, err := readBuildStream(strings.NewReader(`{"aux":{"ID":"sha256:abc"}}` + "\n" + `{"stream":"done\n"}`))
	if err != nil || id != "sha256:abc" {
		t.Fatalf("id, err = %q, %v; want sha256:abc, nil", id, err)
	}
}

func newTestClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// buildImage builds the trainer image and removes it when the test ends.
func buildImage(ctx context.Context, t *testing.T, cli *client.Client, tag string) string {
	t.Helper()
	id, err := BuildTrainer(ctx, cli, tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := Cleanup(ctx, cli, tag); err != nil {
			t.Error(err)
		}
	})
	return id
}

func checkImage(ctx context.Context, t *testing.T, cli *client.Client, id string) {
	t.Helper()
	img, err := cli.ImageInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Config.Labels[Label]; got != "1" {
		t.Errorf("label %s = %q, want 1", Label, got)
	}
	if !slices.Equal(img.Config.Entrypoint, []string{"/trainer"}) {
		t.Errorf("entrypoint = %q, want [/trainer]", img.Config.Entrypoint)
	}
}

// createContainer creates a container running `train`, with no mounts, and
// force-removes it when the test ends if the test has not removed it.
func createContainer(ctx context.Context, t *testing.T, cli *client.Client, image string) string {
	t.Helper()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"train"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = cli.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
	})
	return res.ID
}

// runToExit starts the container and returns its exit code.
func runToExit(ctx context.Context, t *testing.T, cli *client.Client, id string) int64 {
	t.Helper()
	wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil {
			t.Fatalf("waiting for container: %s", res.Error.Message)
		}
		return res.StatusCode
	case err := <-wait.Error:
		t.Fatalf("waiting for container: %v", err)
	}
	return -1
}

func containerLogs(ctx context.Context, t *testing.T, cli *client.Client, id string) (stdout, stderr string) {
	t.Helper()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String()
}

// copyFile reads one file out of the (stopped) container.
func copyFile(ctx context.Context, t *testing.T, cli *client.Client, id, path string) string {
	t.Helper()
	res, err := cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		t.Fatalf("copying %s out of the container: %v", path, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// removeContainer removes the container and checks that it is gone.
func removeContainer(ctx context.Context, t *testing.T, cli *client.Client, id string) {
	t.Helper()
	if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("container %s still exists after removal (inspect error: %v)", id, err)
	}
}
