package docker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/runner"
)

// Image makes the image present: built, pulled, or found locally.
func (e *Engine) Image(ctx context.Context, req runner.ImageRequest, log io.Writer) (string, error) {
	switch {
	case req.Build:
		if err := e.build(ctx, req, log); err != nil {
			return "", fmt.Errorf("building image %s from %s: %w", req.Ref, req.Context, err)
		}
	case req.Pull:
		if err := e.pull(ctx, req.Ref, log); err != nil {
			return "", fmt.Errorf("pulling image %s: %w", req.Ref, err)
		}
	}
	res, err := e.cli.ImageInspect(ctx, req.Ref)
	if cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("image %q not found on the Docker Engine: jobrun does not pull unless the spec says "+
			"`pull: true`; build it with `docker build -t %s .` or give the spec a `build: {context: ...}`", req.Ref, req.Ref)
	}
	if err != nil {
		return "", fmt.Errorf("inspecting image %s: %w", req.Ref, err)
	}
	return res.ID, nil
}

func (e *Engine) pull(ctx context.Context, ref string, log io.Writer) error {
	resp, err := e.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return jsonmessage.DisplayJSONMessagesStream(resp, log, 0, false, nil)
}

func (e *Engine) build(ctx context.Context, req runner.ImageRequest, log io.Writer) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarContext(req.Context, pw)) }()
	defer pr.Close()
	args := map[string]*string{}
	for k, v := range req.BuildArgs {
		args[k] = &v
	}
	res, err := e.cli.ImageBuild(ctx, pr, client.ImageBuildOptions{
		Tags: []string{req.Ref}, Dockerfile: req.Dockerfile, BuildArgs: args,
		Labels: req.Labels, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return jsonmessage.DisplayJSONMessagesStream(res.Body, log, 0, false, nil)
}

// tarContext writes the build context as a tar stream, leaving out what
// .dockerignore names (simple patterns: globs on the relative path or on
// one of its parent folders, and `!` exceptions).
func tarContext(dir string, w io.Writer) error {
	ignore, err := readDockerignore(dir)
	if err != nil {
		return err
	}
	return artifacts.WriteTar(dir, w, func(rel string) bool { return ignored(ignore, rel) })
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pats []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			pats = append(pats, strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/"))
		}
	}
	return pats, sc.Err()
}

// ignored applies the patterns in order; the last match wins, as Docker's.
func ignored(pats []string, rel string) bool {
	out := false
	for _, p := range pats {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if matchPathOrParent(p, rel) {
			out = !neg
		}
	}
	return out
}

func matchPathOrParent(pat, rel string) bool {
	for r := rel; r != "." && r != "/"; r = filepath.ToSlash(filepath.Dir(r)) {
		if ok, _ := filepath.Match(pat, r); ok {
			return true
		}
	}
	return false
}
