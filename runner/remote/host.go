package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// DefaultRoot is the agent's folder on the host, below the login user's
// home: binaries, job directories, runs, uploads and the S3 input cache.
const DefaultRoot = "~/.cache/jobrun"

// Host is a host reached over SSH with jobrun's agent installed.
type Host struct {
	Sess   *sshconn.Session
	Target string
	Root   string // absolute
	Arch   string // GOARCH
	agent  string // absolute path of the agent binary; "" until installed
}

// Connect opens an SSH session to target and resolves the agent's root
// folder on the host (root may start with ~/).
func Connect(ctx context.Context, target string, dial sshconn.DialOptions, root string) (*Host, error) {
	sess, err := sshconn.NewSession(ctx, target, dial)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", target, err)
	}
	h := &Host{Sess: sess, Target: target}
	if err := h.init(ctx, root); err != nil {
		sess.Close()
		return nil, err
	}
	return h, nil
}

func (h *Host) init(ctx context.Context, root string) error {
	out, err := h.Sess.Output(ctx, `printf '%s\n' "$HOME"; uname -m`)
	if err != nil {
		return fmt.Errorf("asking %s for its home folder and architecture: %w", h.Target, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		return fmt.Errorf("unexpected answer from %s: %q", h.Target, out)
	}
	if h.Arch, err = sshconn.GOARCH(strings.TrimSpace(lines[1])); err != nil {
		return fmt.Errorf("%s: %w", h.Target, err)
	}
	if root == "" {
		root = DefaultRoot
	}
	switch {
	case root == "~" || strings.HasPrefix(root, "~/"):
		root = path.Join(lines[0], root[1:])
	case !path.IsAbs(root):
		return fmt.Errorf("--remote-dir %q: give an absolute path or one starting with ~/", root)
	}
	h.Root = path.Clean(root)
	return nil
}

// Close closes the SSH session.
func (h *Host) Close() error { return h.Sess.Close() }

// JobDir is a job's directory on the host.
func (h *Host) JobDir(job string) string { return path.Join(h.Root, agent.JobsDir, job) }

// InstallAgent makes the agent binary present on the host: this very
// binary (or binary, for a host of another architecture), copied once per
// version to <root>/bin/jobrun-<hash>, and checked by its SHA-256 after
// the copy.
func (h *Host) InstallAgent(ctx context.Context, binary string, log io.Writer) error {
	if binary == "" {
		if runtime.GOOS != "linux" {
			return fmt.Errorf("this jobrun is built for %s; the agent on %s must be a Linux one: give a jobrun built for linux/%s "+
				"with --agent-binary (GOOS=linux GOARCH=%s CGO_ENABLED=0 go build)", runtime.GOOS, h.Target, h.Arch, h.Arch)
		}
		if h.Arch != runtime.GOARCH {
			return fmt.Errorf("%s is %s but this jobrun is %s: give a jobrun built for linux/%s with --agent-binary "+
				"(GOOS=linux GOARCH=%s CGO_ENABLED=0 go build)", h.Target, h.Arch, runtime.GOARCH, h.Arch, h.Arch)
		}
	} else if err := checkELF(binary, h.Arch); err != nil {
		return err
	}
	binary, hash, err := agentBinary(binary)
	if err != nil {
		return err
	}
	dst := h.agentPath(hash)
	// One command checks what is there. Uploads are atomic (written aside,
	// renamed when complete), so a copy of the right size is the copy:
	// hashing 30 MB on the host each run would cost more than the rest of
	// this check.
	size, err := fileSize(binary)
	if err != nil {
		return err
	}
	got, err := h.Sess.Output(ctx, "wc -c < "+sshconn.Quote(dst)+" 2>/dev/null || true")
	if err != nil {
		return fmt.Errorf("looking for the agent on %s: %w", h.Target, err)
	}
	if strings.TrimSpace(got) != strconv.FormatInt(size, 10) {
		if err := h.copyAgent(ctx, binary, hash, dst, log); err != nil {
			return err
		}
	}
	h.agent = dst
	return nil
}

// copyAgent uploads the agent binary and checks its SHA-256 on the host.
func (h *Host) copyAgent(ctx context.Context, binary, hash, dst string, log io.Writer) error {
	f, err := os.Open(binary)
	if err != nil {
		return fmt.Errorf("reading the agent binary: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(log, "jobrun: installing the agent on %s (%s)\n", h.Target, dst)
	if err := h.Sess.Upload(ctx, f, dst, 0o755); err != nil {
		return fmt.Errorf("copying the agent to %s: %w", h.Target, err)
	}
	got, err := h.Sess.Output(ctx, "sha256sum "+sshconn.Quote(dst))
	if err != nil {
		return fmt.Errorf("checking the agent copied to %s: %w", h.Target, err)
	}
	if fields := strings.Fields(got); len(fields) == 0 || fields[0] != hash {
		h.Sess.Run(ctx, "rm -f "+sshconn.Quote(dst), nil, io.Discard, io.Discard)
		return fmt.Errorf("the agent copied to %s:%s does not have the SHA-256 it was sent with", h.Target, dst)
	}
	return nil
}

func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("reading the agent binary: %w", err)
	}
	return fi.Size(), nil
}

func (h *Host) agentPath(hash string) string {
	return path.Join(h.Root, agent.BinDir, "jobrun-"+hash[:16])
}

var ownHash struct {
	once       sync.Once
	path, hash string
	err        error
}

// agentBinary returns the agent binary's path and SHA-256: binary's, or
// this process's own (hashed once).
func agentBinary(binary string) (string, string, error) {
	if binary != "" {
		h, err := hashFile(binary)
		return binary, h, err
	}
	ownHash.once.Do(func() {
		if ownHash.path, ownHash.err = os.Executable(); ownHash.err == nil {
			ownHash.hash, ownHash.err = hashFile(ownHash.path)
		}
	})
	return ownHash.path, ownHash.hash, ownHash.err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("reading the agent binary: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("reading the agent binary %s: %w", p, err)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// checkELF refuses an agent binary that cannot run on a GOARCH host.
func checkELF(binary, arch string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("--agent-binary %s: not a Linux executable: %w", binary, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
		"arm": elf.EM_ARM, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}[arch]
	if f.Machine != want {
		return fmt.Errorf("--agent-binary %s is built for %s, but the host is %s", binary, f.Machine, arch)
	}
	return nil
}

// AgentCommand is the shell command line running the agent with args.
func (h *Host) AgentCommand(args ...string) string {
	if h.agent != "" {
		return sshconn.Quote(h.agent) + " agent " + quoteAll(args)
	}
	// Commands that install nothing (ls, logs, stop, pull) use this
	// jobrun's own agent when the host has it, else the newest there.
	own := ""
	if _, hash, err := agentBinary(""); err == nil {
		own = h.agentPath(hash)
	}
	return `a=` + sshconn.Quote(own) + `; [ -x "$a" ] || a=$(ls -t ` + sshconn.Quote(path.Join(h.Root, agent.BinDir)) +
		`/jobrun-* 2>/dev/null | head -n 1); ` +
		`[ -n "$a" ] || { echo "` + noAgent + `" >&2; exit ` + strconv.Itoa(noAgentStatus) + `; }; ` +
		`"$a" agent ` + quoteAll(args)
}

// noAgent is what a host that never ran a job says.
const (
	noAgent       = "no jobrun agent on this host: no job was ever run here with this --remote-dir"
	noAgentStatus = 97
)

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = sshconn.Quote(a)
	}
	return strings.Join(q, " ")
}

// agentRun runs an agent command, failing with its stderr when it fails.
func (h *Host) agentRun(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) error {
	var stderr bytes.Buffer
	code, err := h.Sess.Run(ctx, h.AgentCommand(args...), stdin, stdout, &stderr)
	if err != nil {
		return fmt.Errorf("jobrun agent %s on %s: %w", args[0], h.Target, err)
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", code)
		}
		return fmt.Errorf("jobrun agent %s on %s: %s", args[0], h.Target, strings.TrimPrefix(msg, "jobrun: "))
	}
	return nil
}

// AgentRun runs an agent command with its output going to stdout.
func (h *Host) AgentRun(ctx context.Context, stdout io.Writer, args ...string) error {
	return h.agentRun(ctx, nil, stdout, args...)
}

// agentJSON runs an agent command and decodes its JSON output into v.
func (h *Host) agentJSON(ctx context.Context, v any, args ...string) error {
	var out bytes.Buffer
	if err := h.agentRun(ctx, nil, &out, args...); err != nil {
		return err
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("jobrun agent %s on %s: unexpected output: %w", args[0], h.Target, err)
	}
	return nil
}

// ErrNoJob is returned (wrapped) for a job the host does not know.
var ErrNoJob = errors.New("no such job on the host")

// Outcome reads how a job ended; it is nil while the job runs.
func (h *Host) Outcome(ctx context.Context, job string) (*agent.Outcome, error) {
	var st agent.Status
	if err := h.agentJSON(ctx, &st, "status", h.JobDir(job)); err != nil {
		return nil, err
	}
	if !st.Exists {
		return nil, fmt.Errorf("%s: %w %s (under %s)", job, ErrNoJob, h.Target, h.Root)
	}
	return st.Outcome, nil
}

// Status reports a job's state on the host.
func (h *Host) Status(ctx context.Context, job string) (agent.Status, error) {
	st, err := h.status(ctx, h.JobDir(job))
	if err == nil && !st.Exists {
		err = fmt.Errorf("%s: %w %s (under %s)", job, ErrNoJob, h.Target, h.Root)
	}
	return st, err
}

// Stop asks the job's agent to stop the job (see agent.Dir.Stop). It
// reports false when the job was not running.
func (h *Host) Stop(ctx context.Context, job string, force bool) (bool, error) {
	var st agent.Status
	args := []string{"stop", h.JobDir(job)}
	if force {
		args = []string{"stop", "--force", h.JobDir(job)} // flags first: agent arguments are not reordered
	}
	if err := h.agentJSON(ctx, &st, args...); err != nil {
		return false, err
	}
	if !st.Exists {
		return false, fmt.Errorf("%s: %w %s (under %s)", job, ErrNoJob, h.Target, h.Root)
	}
	return st.Stopping, nil
}

// List lists the host's jobs, newest first.
func (h *Host) List(ctx context.Context) ([]agent.Summary, error) {
	var out []agent.Summary
	err := h.agentJSON(ctx, &out, "ls", h.Root)
	if err != nil && strings.Contains(err.Error(), noAgent) {
		return nil, nil // a host that never ran a job has none to list
	}
	return out, err
}
