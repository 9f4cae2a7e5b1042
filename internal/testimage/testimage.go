// Package testimage builds the test trainer image (testdata/trainer) through
// the Docker Engine API: a static Go binary in a FROM scratch image, since
// nothing can be pulled from a registry. Integration tests and the Makefile's
// demo path use it.
package testimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Label is set on the image (and so on its containers) to mark test objects.
const Label = "jobrun.test"

// modulePath identifies the go.mod that holds testdata/trainer.
const modulePath = "github.com/jobrun/jobrun"

// dockerfile is the build context's Dockerfile. There is deliberately no CMD:
// the platform passes the `train` argument, as SageMaker does.
const dockerfile = `FROM scratch
COPY trainer /trainer
LABEL ` + Label + `=1
ENTRYPOINT ["/trainer"]
`

// NewClient returns a Docker client configured from the environment
// (DOCKER_HOST, ...). API-version negotiation is on by default in this
// client, so it talks to older engines such as 20.10 (API 1.41).
func NewClient() (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// BuildTrainer compiles testdata/trainer (once per process) and builds it
// into an image tagged tag (no tag if empty). It returns the image ID.
func BuildTrainer(ctx context.Context, cli *client.Client, tag string) (imageID string, err error) {
	bin, err := trainerBinary(ctx)
	if err != nil {
		return "", err
	}
	buildCtx, err := contextTar(bin)
	if err != nil {
		return "", err
	}
	opts := client.ImageBuildOptions{Remove: true, ForceRemove: true}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), opts)
	if err != nil {
		return "", fmt.Errorf("building trainer image %q: %w", tag, err)
	}
	defer res.Body.Close()
	id, err := readBuildStream(res.Body)
	if err != nil {
		return "", fmt.Errorf("building trainer image %q: %w", tag, err)
	}
	return id, nil
}

// Cleanup removes the image tagged tag; an image already gone is not an error.
func Cleanup(ctx context.Context, cli *client.Client, tag string) error {
	_, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing image %q: %w", tag, err)
	}
	return nil
}

// binaryCache holds the compiled trainer for the life of the process. Unlike
// a sync.Once it does not keep a failure (say, a cancelled context), so a
// later call can try again.
var binaryCache struct {
	sync.Mutex
	data []byte
}

// trainerBinary returns the static trainer binary, compiling it on first use.
func trainerBinary(ctx context.Context) ([]byte, error) {
	binaryCache.Lock()
	defer binaryCache.Unlock()
	if binaryCache.data != nil {
		return binaryCache.data, nil
	}
	data, err := compileTrainer(ctx)
	if err != nil {
		return nil, err
	}
	binaryCache.data = data
	return data, nil
}

// compileTrainer runs `CGO_ENABLED=0 go build` of testdata/trainer into a
// temporary folder and returns the binary's bytes.
func compileTrainer(ctx context.Context) ([]byte, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "jobrun-trainer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "trainer")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s", "-o", out, "./testdata/trainer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./testdata/trainer in %s: %w\n%s", root, err, msg)
	}
	return os.ReadFile(out)
}

// ModuleRoot finds the jobrun module's root: the nearest go.mod declaring
// github.com/jobrun/jobrun above the working directory, or else above this
// source file.
func ModuleRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		if root, ok := findModule(dir); ok {
			return root, nil
		}
	}
	return "", fmt.Errorf("no go.mod for module %s above %q", modulePath, starts)
}

func findModule(dir string) (string, bool) {
	for {
		if isJobrunModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isJobrunModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// contextTar is the build context: the Dockerfile and the trainer binary.
func contextTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // fixed, for the build cache
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"trainer", 0o755, bin},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildMessage is one JSON message of the /build response stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// readBuildStream reads the build output to its end and returns the image
// ID from the aux message, or the first error message.
func readBuildStream(r io.Reader) (string, error) {
	var id string
	var log strings.Builder
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading build output: %w", err)
		}
		log.WriteString(m.Stream)
		if msg := m.errorMessage(); msg != "" {
			return "", fmt.Errorf("%s\nbuild output:\n%s", msg, log.String())
		}
		if aux := m.imageID(); aux != "" {
			id = aux
		}
	}
	if id == "" {
		return "", fmt.Errorf("no image ID in build output:\n%s", log.String())
	}
	return id, nil
}

func (m buildMessage) errorMessage() string {
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		return m.ErrorDetail.Message
	}
	return m.Error
}

func (m buildMessage) imageID() string {
	var aux struct {
		ID string `json:"ID"`
	}
	if len(m.Aux) == 0 || json.Unmarshal(m.Aux, &aux) != nil {
		return ""
	}
	return aux.ID
}
