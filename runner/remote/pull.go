package remote

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/runner/remote/agent"
)

// Pull copies a finished job's run directory from the host into
// dest/<job>. It is written to a temporary folder next to it and renamed
// when complete, so an interrupted pull leaves no half run behind.
func (h *Host) Pull(ctx context.Context, job, dest string) (string, error) {
	st, err := h.Status(ctx, job)
	if err != nil {
		return "", err
	}
	if st.Outcome == nil && st.State == agent.StatusLost {
		return "", fmt.Errorf("%s is %s on %s: its agent ended without recording how the job ended, so there is no complete run to pull "+
			"(see %s on the host)", job, st.State, h.Target, path.Join(h.JobDir(job), agent.AgentLog))
	}
	if st.Outcome == nil {
		return "", fmt.Errorf("%s is still running on %s: pull it when it has ended (jobrun logs -f %s --host %s)",
			job, h.Target, job, h.Target)
	}
	return h.PullRun(ctx, st.Outcome, dest)
}

// PullRun is Pull for a job whose outcome the caller has already read.
func (h *Host) PullRun(ctx context.Context, o *agent.Outcome, dest string) (string, error) {
	job := o.JobName
	if o.RunDir == "" {
		return "", fmt.Errorf("%s has no run directory on %s: it failed before it started (%s)", job, h.Target, o.Error)
	}
	if artifacts.IsS3(o.RunDir) {
		return "", fmt.Errorf("%s was written to %s, not to the host: read it there (jobrun status %s --output %s)",
			job, o.RunDir, job, strings.TrimSuffix(strings.TrimSuffix(o.RunDir, "/"), "/"+job))
	}
	final := filepath.Join(dest, job)
	if _, err := os.Stat(final); err == nil {
		return "", fmt.Errorf("%s already exists; remove it to pull again", final)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dest, "."+job+".pull-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := untar(bufio.NewReaderSize(pr, 1<<20), tmp)
		pr.CloseWithError(err)
		done <- err
	}()
	err = h.agentRun(ctx, nil, pw, "pack", o.RunDir)
	pw.CloseWithError(err)
	if uerr := <-done; err == nil {
		err = uerr
	}
	if err != nil {
		return "", fmt.Errorf("pulling %s from %s: %w", job, h.Target, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp's 0700, not a run directory's
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

// untar extracts a run directory's tar stream (regular files, folders and
// symbolic links, as artifacts.WriteTar writes them) below dir, refusing
// names that would land outside it.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	links := map[string]bool{} // symbolic links extracted: never written through
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(hdr.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("refusing archive entry %q: outside the run directory", hdr.Name)
		}
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			if links[d] {
				return fmt.Errorf("refusing archive entry %q: below the symbolic link %s", hdr.Name, d)
			}
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			links[name] = true // Symlink fails on an existing name
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			// O_EXCL: a name met twice (say a link, then a file) is refused,
			// never written through.
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, hdr.FileInfo().Mode().Perm()|0o200)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			os.Chtimes(p, hdr.ModTime, hdr.ModTime)
		}
	}
}
