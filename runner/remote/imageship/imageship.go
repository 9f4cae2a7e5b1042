// Package imageship ships a Docker image from this machine's Docker Engine
// to a remote host's, for `jobrun remote`. There is no registry in between:
// the local engine's `docker save` stream goes straight into `docker load`
// on the remote engine (no temporary file, no copy of the image in
// memory), and only when the remote engine lacks the image.
//
// The remote engine is reached through its Unix socket forwarded over SSH
// (sshconn.Session.DialUnix); RemoteClient makes a Docker client of such a
// dial function.
package imageship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// ErrNotLocal is wrapped by Ship's error when the local engine has no
// image by that name: the caller may have the remote side pull or build it.
var ErrNotLocal = errors.New("not found on the local Docker Engine")

// Result is what Ship did.
type Result struct {
	// ID is the image's ID, the same on both engines. Run the image by ID
	// on the remote engine: `docker load` keeps names but not digests.
	ID string
	// Shipped is false when the remote engine had the image already
	// (under another name, or none: then only a tag was added).
	Shipped bool
	// Bytes is the size of the stream sent; 0 when nothing was shipped.
	Bytes int64
	// Duration is the time Ship took.
	Duration time.Duration
}

// RemoteClient returns a client of the Docker Engine whose every
// connection dial makes (e.g. an SSH-forwarded Unix socket), with the API
// version negotiated with that engine and the engine pinged. dial's errors
// should name the host and the socket; sshconn's do.
func RemoteClient(ctx context.Context, dial func(ctx context.Context) (net.Conn, error)) (*client.Client, error) {
	// The Docker client hides why a dial failed ("Cannot connect to the
	// Docker daemon at <host>", the host being a placeholder here): keep
	// dial's own error to report it.
	var lastDialErr atomic.Pointer[error]
	cli, err := client.New(
		// The host only sets the protocol: every connection comes from dial.
		client.WithHost("unix:///var/run/docker.sock"),
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := dial(ctx)
			if err != nil {
				lastDialErr.Store(&err)
			}
			return conn, err
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("remote Docker client: %w", err)
	}
	// Negotiate now: the client's own API version is above what engines
	// such as 20.10 (API 1.41) accept.
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		if de := lastDialErr.Load(); de != nil && ctx.Err() == nil {
			err = *de
		}
		return nil, fmt.Errorf("cannot reach the Docker Engine: %w; is Docker running there, and is the user in the docker group?", err)
	}
	return cli, nil
}

// Ship makes the local engine's image ref available on the remote engine,
// with the same ID and under the same name.
//
// Nothing is sent when the remote engine has that image ID already (a
// missing name is added with a tag). Otherwise the image streams from the
// local `docker save` into the remote `docker load`; progress, if not nil,
// is called from another goroutine with the bytes sent so far and the
// image's size as the estimated total (the stream is a little larger); the
// remote engine's messages go to log, if not nil.
//
// An image for another OS or architecture than the remote engine's is
// refused. An image the local engine lacks is an error wrapping
// ErrNotLocal.
func Ship(ctx context.Context, local, remote *client.Client, ref string, progress func(done, total int64), log io.Writer) (Result, error) {
	start := time.Now()
	if log == nil {
		log = io.Discard
	}
	res, err := ship(ctx, local, remote, ref, progress, log)
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("shipping image %q to the remote Docker Engine: %w", ref, err)
	}
	return res, nil
}

func ship(ctx context.Context, local, remote *client.Client, ref string, progress func(done, total int64), log io.Writer) (Result, error) {
	img, err := local.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return Result{}, ErrNotLocal
	}
	if err != nil {
		return Result{}, fmt.Errorf("inspecting it on the local Docker Engine: %w", err)
	}
	res := Result{ID: img.ID}
	if err := checkPlatform(ctx, remote, img.InspectResponse); err != nil {
		return res, err
	}
	there, err := has(ctx, remote, img.ID)
	if err != nil {
		return res, err
	}
	if there {
		fmt.Fprintf(log, "image %s (%.19s) is on the remote Docker Engine already\n", ref, img.ID)
	} else {
		fmt.Fprintf(log, "sending image %s (%.19s, %s) to the remote Docker Engine\n", ref, img.ID, megabytes(img.Size))
		res.Shipped = true
		if res.Bytes, err = send(ctx, local, remote, img.ID, img.Size, progress, log); err != nil {
			return res, err
		}
		if there, err = has(ctx, remote, img.ID); err != nil {
			return res, err
		}
		if !there {
			return res, fmt.Errorf("the remote Docker Engine loaded the image but has no image %s", img.ID)
		}
	}
	return res, tag(ctx, remote, ref, img.ID, log)
}

// checkPlatform refuses an image built for another OS or architecture than
// the remote engine's: it would load, then fail to start with "exec format
// error".
func checkPlatform(ctx context.Context, remote *client.Client, img image.InspectResponse) error {
	info, err := remote.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("asking the remote Docker Engine its platform: %w", err)
	}
	have := platform(img.Os, img.Architecture)
	want := platform(info.Info.OSType, info.Info.Architecture)
	if img.Architecture != "" && have != want {
		return fmt.Errorf("the image is for %s but the remote Docker Engine runs %s: build it for %s (docker build --platform %s)", have, want, want, want)
	}
	return nil
}

// platform spells an OS and architecture as GOOS/GOARCH: engines report
// their architecture as uname -m does (x86_64, aarch64), images as Go does
// (amd64, arm64).
func platform(goos, arch string) string {
	if a, err := sshconn.GOARCH(arch); err == nil {
		arch = a
	}
	return goos + "/" + arch
}

// has reports whether the engine has the image with this ID.
func has(ctx context.Context, cli *client.Client, id string) (bool, error) {
	_, err := cli.ImageInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for image %s on the remote Docker Engine: %w", id, err)
	}
	return true, nil
}

// tag makes ref name the image on the remote engine, as it does locally:
// the image was sent by ID, without names, and a name the remote engine
// has may be an older image's. A digest cannot be set: save and load
// drop them.
func tag(ctx context.Context, remote *client.Client, ref, id string, log io.Writer) error {
	if img, err := remote.ImageInspect(ctx, ref); err == nil && img.ID == id {
		return nil
	}
	if strings.Contains(ref, "@") {
		fmt.Fprintf(log, "image %s is on the remote Docker Engine as %.19s only: loading drops digests\n", ref, id)
		return nil
	}
	if _, err := remote.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref}); err != nil {
		return fmt.Errorf("tagging image %s as %s on the remote Docker Engine: %w", id, ref, err)
	}
	fmt.Fprintf(log, "tagged image %.19s as %s on the remote Docker Engine\n", id, ref)
	return nil
}

// send streams the local engine's `docker save` of the image into the
// remote engine's `docker load`, reads the load's messages to their end,
// and returns the bytes sent.
func send(ctx context.Context, local, remote *client.Client, id string, size int64, progress func(done, total int64), log io.Writer) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the save if the load fails first
	save, err := local.ImageSave(ctx, []string{id})
	if err != nil {
		return 0, fmt.Errorf("docker save on the local Docker Engine: %w", err)
	}
	defer save.Close()
	src := &countingReader{r: save, total: size, progress: progress}
	load, err := remote.ImageLoad(ctx, src, client.ImageLoadWithQuiet(true))
	if err != nil {
		// A failed read of the save stream aborts the request: say so.
		return src.n.Load(), fmt.Errorf("docker load on the remote Docker Engine: %w", errors.Join(err, src.error()))
	}
	defer load.Close()
	if err := readLoad(load, log); err != nil {
		return src.n.Load(), fmt.Errorf("docker load on the remote Docker Engine: %w", errors.Join(err, src.error()))
	}
	if err := src.error(); err != nil {
		return src.n.Load(), err
	}
	return src.n.Load(), nil
}

// countingReader counts the bytes read through it and reports them to
// progress. The HTTP transport reads it from its own goroutine.
type countingReader struct {
	r        io.Reader
	total    int64
	progress func(done, total int64)
	n        atomic.Int64
	mu       sync.Mutex
	err      error // the first read error but EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	done := c.n.Add(int64(n))
	if c.progress != nil && n > 0 {
		c.progress(done, c.total)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading docker save from the local Docker Engine: %w", err)
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *countingReader) error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// loadMessage is one JSON message of the load's response stream.
type loadMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"` // older engines' spelling
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readLoad copies the load's messages to log and returns its error: the
// engine reports a failed load inside the stream, after a 200 status.
func readLoad(r io.Reader, log io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m loadMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading its messages: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		io.WriteString(log, m.Stream)
	}
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
