package imageship

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/crypto/ssh"

	"github.com/jobrun/jobrun/internal/dockertest"
	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/internal/testimage"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// TestShip ships the trainer image from the machine's Docker Engine to a
// private one, then checks the cases where nothing is to be sent.
func TestShip(t *testing.T) {
	ctx := testContext(t)
	local := localClient(t)
	d := dockertest.Start(t)
	remote := unixClient(ctx, t, d.Socket)
	checkNegotiated(ctx, t, remote)
	ref := uniqueRef("jobrun-test-trainer")
	id := buildTrainer(ctx, t, local, ref)

	var done, total atomic.Int64
	var log bytes.Buffer
	res, err := Ship(ctx, local, remote, ref, func(sent, estimate int64) { done.Store(sent); total.Store(estimate) }, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shipped %d bytes in %v:\n%s", res.Bytes, res.Duration, log.String())
	size := imageSize(ctx, t, local, id)
	if res.ID != id || !res.Shipped || res.Bytes < size || done.Load() != res.Bytes || total.Load() != size {
		t.Errorf("Ship = %+v, progress %d/%d; want ID %s shipped, at least %d bytes, progress at the bytes sent of %d",
			res, done.Load(), total.Load(), id, size, size)
	}
	checkRemote(ctx, t, remote, ref, id)

	t.Run("again", func(t *testing.T) {
		res, err := Ship(ctx, local, remote, ref, nil, nil)
		if err != nil || res.Shipped || res.Bytes != 0 || res.ID != id {
			t.Errorf("second Ship = %+v, %v; want nothing sent", res, err)
		}
	})

	t.Run("by ID", func(t *testing.T) {
		res, err := Ship(ctx, local, remote, id, nil, nil)
		if err != nil || res.Shipped || res.ID != id {
			t.Errorf("Ship by ID = %+v, %v; want nothing sent", res, err)
		}
	})

	t.Run("tag only", func(t *testing.T) {
		// Keep the image under another name, drop ref.
		if _, err := remote.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref + "-kept"}); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := Ship(ctx, local, remote, ref, nil, nil)
		if err != nil || res.Shipped || res.ID != id {
			t.Errorf("Ship of an image the remote has under another name = %+v, %v; want only a tag", res, err)
		}
		checkRemote(ctx, t, remote, ref, id)
	})

	t.Run("missing locally", func(t *testing.T) {
		missing := uniqueRef("jobrun-test-missing")
		_, err := Ship(ctx, local, remote, missing, nil, nil)
		if !errors.Is(err, ErrNotLocal) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Ship of a missing image: %v; want ErrNotLocal naming %s", err, missing)
		}
	})

	t.Run("other architecture", func(t *testing.T) {
		arch := "arm64"
		if runtime.GOARCH == "arm64" {
			arch = "amd64"
		}
		foreign := uniqueRef("jobrun-test-foreign")
		loadImage(ctx, t, local, foreign, arch)
		_, err := Ship(ctx, local, remote, foreign, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "linux/"+arch) || !strings.Contains(err.Error(), "linux/"+runtime.GOARCH) {
			t.Fatalf("Ship of a linux/%s image: %v; want a refusal naming both platforms", arch, err)
		}
		t.Log(err)
		if _, err := remote.ImageInspect(ctx, foreign); err == nil {
			t.Error("the refused image is on the remote engine")
		}
	})
}

// TestShipThroughSSH reaches the private engine the way `jobrun remote`
// does: its socket forwarded by a real sshd.
func TestShipThroughSSH(t *testing.T) {
	ctx := testContext(t)
	local := localClient(t)
	d := dockertest.Start(t)
	srv := sshtest.Start(t)
	sess, err := sshconn.NewSession(ctx, srv.Target(), sshconn.DialOptions{
		ConfigFile: "none", Home: t.TempDir(), DisableAgent: true,
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey), Signers: []ssh.Signer{srv.ClientSigner},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	remote, err := RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) { return sess.DialUnix(ctx, d.Socket) })
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	ref := uniqueRef("jobrun-test-trainer")
	id := buildTrainer(ctx, t, local, ref)
	res, err := Ship(ctx, local, remote, ref, nil, nil)
	if err != nil || !res.Shipped || res.ID != id {
		t.Fatalf("Ship over SSH = %+v, %v", res, err)
	}
	t.Logf("shipped %d bytes over SSH in %v", res.Bytes, res.Duration)
	checkRemote(ctx, t, remote, ref, id)

	_, err = RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) { return sess.DialUnix(ctx, d.Socket+".missing") })
	if err == nil || !strings.Contains(err.Error(), d.Socket+".missing") || !strings.Contains(err.Error(), srv.Host) {
		t.Errorf("RemoteClient through SSH to a missing socket: %v; want an error naming the socket and host", err)
	}
	t.Log(err)
}

func TestRemoteClientUnreachable(t *testing.T) {
	ctx := testContext(t)
	missing := t.TempDir() + "/docker.sock"
	_, err := RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", missing)
	})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Docker Engine") ||
		!strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "docker group") {
		t.Errorf("RemoteClient to a missing socket: %v; want an error naming it and the docker group", err)
	}
	t.Log(err)

	// Root may use any socket here: fake the refusal a user outside the
	// docker group gets.
	denied := &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: "/var/run/docker.sock", Net: "unix"},
		Err: os.NewSyscallError("connect", syscall.EACCES)}
	_, err = RemoteClient(ctx, func(context.Context) (net.Conn, error) { return nil, denied })
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "/var/run/docker.sock") {
		t.Errorf("RemoteClient without permission: %v; want the dial's error", err)
	}
}

func TestReadLoad(t *testing.T) {
	var log bytes.Buffer
	err := readLoad(strings.NewReader(`{"stream":"Loaded image ID: sha256:abc\n"}`), &log)
	if err != nil || log.String() != "Loaded image ID: sha256:abc\n" {
		t.Errorf("readLoad = %v, log %q", err, log.String())
	}
	stream := `{"stream":"a\n"}` + "\n" + `{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}`
	if err := readLoad(strings.NewReader(stream), &log); err == nil || err.Error() != "unexpected EOF" {
		t.Errorf("readLoad of a failed load = %v; want its error", err)
	}
	if err := readLoad(strings.NewReader(`{"error":"old engine"}`), &log); err == nil || err.Error() != "old engine" {
		t.Errorf("readLoad of an old engine's error = %v", err)
	}
}

func TestPlatform(t *testing.T) {
	for _, c := range [][2]string{{"x86_64", "amd64"}, {"aarch64", "arm64"}} {
		if platform("linux", c[0]) != platform("linux", c[1]) {
			t.Errorf("%s and %s differ: %s, %s", c[0], c[1], platform("linux", c[0]), platform("linux", c[1]))
		}
	}
	if platform("linux", "x86_64") == platform("linux", "aarch64") {
		t.Error("x86_64 and aarch64 are the same platform")
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func localClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := testimage.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// unixClient is RemoteClient dialing a Unix socket, as the SSH forward
// looks to it.
func unixClient(ctx context.Context, t *testing.T, socket string) *client.Client {
	t.Helper()
	cli, err := RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// checkNegotiated checks that the client speaks the engine's API version
// (1.41 for Docker 20.10), not its own newer one.
func checkNegotiated(ctx context.Context, t *testing.T, cli *client.Client) {
	t.Helper()
	ping, err := cli.Ping(ctx, client.PingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cli.ClientVersion() != ping.APIVersion {
		t.Errorf("client speaks API %s, the engine %s", cli.ClientVersion(), ping.APIVersion)
	}
}

func uniqueRef(repo string) string {
	return fmt.Sprintf("%s:imageship-%d-%d", repo, os.Getpid(), time.Now().UnixNano())
}

// buildTrainer builds the trainer image as ref and removes it at the end.
func buildTrainer(ctx context.Context, t *testing.T, cli *client.Client, ref string) string {
	t.Helper()
	id, err := testimage.BuildTrainer(ctx, cli, ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(t, cli, ref) })
	return id
}

func removeImage(t *testing.T, cli *client.Client, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testimage.Cleanup(ctx, cli, ref); err != nil {
		t.Error(err)
	}
}

func imageSize(ctx context.Context, t *testing.T, cli *client.Client, id string) int64 {
	t.Helper()
	img, err := cli.ImageInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return img.Size
}

// checkRemote checks that ref names image id on the remote engine.
func checkRemote(ctx context.Context, t *testing.T, remote *client.Client, ref, id string) {
	t.Helper()
	img, err := remote.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("remote engine: %v", err)
	}
	if img.ID != id {
		t.Errorf("remote %s is %s, want %s", ref, img.ID, id)
	}
}

// loadImage loads a one-file image for linux/arch as ref, in the format
// `docker save` writes, and removes it at the end.
func loadImage(ctx context.Context, t *testing.T, cli *client.Client, ref, arch string) {
	t.Helper()
	layer := tarOf(t, map[string][]byte{"hello": []byte("hello\n")})
	diffID := sha256.Sum256(layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{ref}, "Layers": []string{"layer/layer.tar"}}})
	archive := tarOf(t, map[string][]byte{"manifest.json": manifest, "config.json": config, "layer/layer.tar": layer})
	res, err := cli.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithQuiet(true))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if err := readLoad(res, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(t, cli, ref) })
}

func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
