package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote"
	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/imageship"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// BenchmarkRemoteOverhead measures what `jobrun remote` adds to a job over
// `jobrun local` when the host is this machine reached over SSH (a private
// sshd on 127.0.0.2, the host's Docker Engine being the local one), for a
// job that does nothing: the trainer image with fail=true, exit_code=0
// reads its config, writes the failure file and exits 0 at once; no
// inputs, a local output (the remote run is pulled back). Target: remote
// at most 1.5 s slower than local on loopback.
//
// Every iteration runs, in a rotating order, a bare `docker run --rm` of
// the image with the same mounts, environment, hostname, shm size and
// network (the peer, as in bench/overhead.sh), `jobrun local` and `jobrun
// remote --host gpu-box`. The very first remote run, which copies the
// agent binary to the host, is timed apart before the loop; so are one
// warm-up run of each (first container start, the jobrun network).
//
// The breakdown of the remote run comes from the timestamps the run leaves
// behind (the client and the host share a clock here): the request's
// submitted_at, the run record's created_at, started_at (the container's)
// and ended_at, the outcome's finished_at, and the client's own stderr
// lines. It is followed by the client's steps before it submits the job,
// timed in this process, and by the cost of the SSH operations the client
// makes: a connection, a command, an agent command, a Docker API request
// over the forwarded socket.
//
//	go test -v -run '^$' -bench '^BenchmarkRemoteOverhead$' -benchtime 5x .
//
// or bash bench/remote.sh.
func BenchmarkRemoteOverhead(b *testing.B) {
	buildTrainer(b)
	bin := jobrunBinary(b)
	srv := sshtest.Start(b)
	home, root, dir := b.TempDir(), b.TempDir(), b.TempDir()
	srv.WriteHome(b, home, "gpu-box")
	env := append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=", "JOBRUN_CACHE_DIR="+filepath.Join(home, "cache"))
	spec := "name: noop\nimage: " + trainerTag + "\nhyperparameters: {fail: true, exit_code: 0}\n"
	if err := os.WriteFile(filepath.Join(dir, "train.yaml"), []byte(spec), 0o644); err != nil {
		b.Fatal(err)
	}
	bj := &benchJobs{b: b, bin: bin, env: env, dir: dir, root: root}

	bj.local("warm-local") // the jobrun network, a first container start
	bare := bj.bareCommand()
	bj.bare(bare)
	first := bj.remote("first-remote")
	if !strings.Contains(first.stderr, "installing the agent") {
		b.Fatalf("the first remote run did not install the agent:\n%s", first.stderr)
	}
	if warm := bj.remote("warm-remote"); strings.Contains(warm.stderr, "installing the agent") {
		b.Fatalf("the second remote run installed the agent again:\n%s", warm.stderr)
	}

	var tb, tl, tr, added []time.Duration
	var localRuns, remoteRuns []timedRun
	for i := 0; b.Loop(); i++ {
		for k := range 3 { // rotate the order, so that drift hits all three alike
			switch (i + k) % 3 {
			case 0:
				tb = append(tb, bj.bare(bare))
			case 1:
				r := bj.local(fmt.Sprintf("local-%d", i))
				tl, localRuns = append(tl, r.wall), append(localRuns, r)
			case 2:
				r := bj.remote(fmt.Sprintf("remote-%d", i))
				tr, remoteRuns = append(tr, r.wall), append(remoteRuns, r)
			}
		}
		added = append(added, tr[i]-tl[i])
	}
	b.StopTimer()
	mb, ml, mr, ma := median(tb), median(tl), median(tr), median(added)
	b.ReportMetric(mb.Seconds(), "bare-s")
	b.ReportMetric(ml.Seconds(), "local-s")
	b.ReportMetric(mr.Seconds(), "remote-s")
	b.ReportMetric(ma.Seconds(), "added-s")
	b.ReportMetric(float64(mr)/float64(ml), "remote/local")
	b.ReportMetric(first.wall.Seconds(), "first-s")

	var out strings.Builder
	fmt.Fprintf(&out, "no-op job, %d interleaved iterations, medians:\n", len(tr))
	fmt.Fprintf(&out, "  docker run --rm (peer)        %6.3f s\n", mb.Seconds())
	fmt.Fprintf(&out, "  jobrun local                  %6.3f s   %.2fx docker run\n", ml.Seconds(), float64(ml)/float64(mb))
	fmt.Fprintf(&out, "  jobrun remote --host gpu-box  %6.3f s   %.2fx local\n", mr.Seconds(), float64(mr)/float64(ml))
	fmt.Fprintf(&out, "  remote - local (added)        %+6.3f s   (target <= 1.5 s; per iteration %s)\n", ma.Seconds(), secs(added))
	fmt.Fprintf(&out, "  first remote run (installs the agent, %.1f MiB) %.3f s: +%.3f s over the median remote run\n",
		fileMiB(bin), first.wall.Seconds(), (first.wall - mr).Seconds())
	out.WriteString(breakdown(localRuns, remoteRuns))
	out.WriteString(bj.roundTrips(srv, home))
	// Printed, not logged: the testing package keeps only the first 10
	// lines of a benchmark's log. Run with -v to keep the report off the
	// benchmark's result line.
	fmt.Print(out.String())
}

// benchJobs runs the three kinds of job of BenchmarkRemoteOverhead.
type benchJobs struct {
	b         *testing.B
	bin       string
	env       []string
	dir, root string // the job's folder here; --remote-dir
}

// timedRun is one jobrun run: its wall time, its stderr lines with the
// time each arrived, and the timestamps its files hold.
type timedRun struct {
	name       string
	start, end time.Time
	wall       time.Duration
	stderr     string
	lines      []stampedLine
	rec        *artifacts.Record
	req        *agent.Request // remote only
	outcome    *agent.Outcome // remote only
}

type stampedLine struct {
	at   time.Time
	text string
}

// stampWriter records when each line of a stream arrived.
type stampWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	part  []byte
	lines []stampedLine
}

func (w *stampWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, stampedLine{now, string(w.part[:i])})
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

func (bj *benchJobs) jobrun(name string, args ...string) timedRun {
	b := bj.b
	cmd := exec.Command(bj.bin, args...)
	cmd.Dir, cmd.Env = bj.dir, bj.env
	var stdout bytes.Buffer
	stderr := &stampWriter{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	r := timedRun{name: name, start: time.Now()}
	err := cmd.Run()
	r.end = time.Now()
	r.wall = r.end.Sub(r.start)
	r.stderr, r.lines = stderr.buf.String(), stderr.lines
	if err != nil {
		b.Fatalf("jobrun %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), r.stderr)
	}
	rec, err := artifacts.ReadRecord(filepath.Join(bj.dir, "runs", name))
	if err != nil {
		b.Fatalf("jobrun %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), r.stderr)
	}
	if rec.Status != artifacts.StatusCompleted {
		b.Fatalf("jobrun %s: status %s\n%s%s", strings.Join(args, " "), rec.Status, stdout.String(), r.stderr)
	}
	r.rec = rec
	return r
}

func (bj *benchJobs) local(name string) timedRun {
	return bj.jobrun(name, "local", "train.yaml", "--name", name)
}

func (bj *benchJobs) remote(name string) timedRun {
	r := bj.jobrun(name, "remote", "train.yaml", "--name", name, "--host", "gpu-box", "--remote-dir", bj.root)
	jd := agent.Dir(filepath.Join(bj.root, agent.JobsDir, name))
	var err error
	if r.req, err = jd.ReadRequest(); err != nil {
		bj.b.Fatal(err)
	}
	if r.outcome, err = jd.ReadOutcome(); err != nil {
		bj.b.Fatal(err)
	}
	return r
}

// bareCommand renders the job's /opt/ml tree and environment and returns
// the arguments of the equivalent bare docker run (see bench/overhead.sh).
func (bj *benchJobs) bareCommand() []string {
	ml, out := filepath.Join(bj.dir, "bare-ml"), filepath.Join(bj.dir, "bare")
	cmd := exec.Command(bj.bin, "render", "train.yaml", ml, "--name", "bench-bare")
	cmd.Dir, cmd.Env = bj.dir, bj.env
	if o, err := cmd.CombinedOutput(); err != nil {
		bj.b.Fatalf("jobrun render: %v\n%s", err, o)
	}
	for _, d := range []string{"model", "output/data"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			bj.b.Fatal(err)
		}
	}
	return []string{"run", "--rm", "--network", "jobrun", "--hostname", "algo-1", "--shm-size", "1g",
		"--env-file", filepath.Join(ml, "env"),
		"--mount", "type=bind,src=" + filepath.Join(ml, "input", "config") + ",dst=/opt/ml/input/config,readonly",
		"--mount", "type=bind,src=" + filepath.Join(out, "model") + ",dst=/opt/ml/model",
		"--mount", "type=bind,src=" + filepath.Join(out, "output") + ",dst=/opt/ml/output",
		trainerTag, "train"}
}

func (bj *benchJobs) bare(args []string) time.Duration {
	os.Remove(filepath.Join(bj.dir, "bare", "output", "failure")) // a failure file is never overwritten
	start := time.Now()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		bj.b.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(start)
}

// breakdown splits the median local and remote runs into phases by the
// timestamps they left.
func breakdown(locals, remotes []timedRun) string {
	at := func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	}
	lineAt := func(r timedRun, substr string) time.Time {
		for _, l := range r.lines {
			if strings.Contains(l.text, substr) {
				return l.at
			}
		}
		return time.Time{}
	}
	type phase struct {
		name string
		d    func(r timedRun) time.Duration
	}
	span := func(from, to func(r timedRun) time.Time) func(r timedRun) time.Duration {
		return func(r timedRun) time.Duration {
			f, t := from(r), to(r)
			if f.IsZero() || t.IsZero() {
				return -1
			}
			return t.Sub(f)
		}
	}
	start := func(r timedRun) time.Time { return r.start }
	end := func(r timedRun) time.Time { return r.end }
	created := func(r timedRun) time.Time { return r.rec.CreatedAt }
	started := func(r timedRun) time.Time { return at(r.rec.StartedAt) }
	ended := func(r timedRun) time.Time { return at(r.rec.EndedAt) }
	submitted := func(r timedRun) time.Time { return r.req.SubmittedAt }
	startedLine := func(r timedRun) time.Time { return lineAt(r, " started on ") }
	finished := func(r timedRun) time.Time { return r.outcome.FinishedAt }

	var out strings.Builder
	row := func(name string, rs []timedRun, d func(timedRun) time.Duration) {
		var ds []time.Duration
		for _, r := range rs {
			if v := d(r); v >= 0 {
				ds = append(ds, v)
			}
		}
		if len(ds) == 0 {
			fmt.Fprintf(&out, "    %-60s      ?\n", name)
			return
		}
		fmt.Fprintf(&out, "    %-60s %6.3f s\n", name, median(ds).Seconds())
	}
	out.WriteString("where the time goes (medians of the phases; the phases' medians need not add up exactly):\n")
	out.WriteString("  jobrun local:\n")
	for _, p := range []phase{
		{"exec -> run record created (spec, Docker, image, network)", span(start, created)},
		{"-> container started", span(created, started)},
		{"-> run ended (container ran, exited, removed; outputs)", span(started, ended)},
		{"-> process exited", span(ended, end)},
	} {
		row(p.name, locals, p.d)
	}
	out.WriteString("  jobrun remote (client and host share this clock):\n")
	for _, p := range []phase{
		{"exec -> request submitted (dial, home+arch, agent?, image?)", span(start, submitted)},
		{"  (-> `agent start` returned: the \"started on\" line)", span(submitted, startedLine)},
		{"-> run record created on the host (agent up, as local)", span(submitted, created)},
		{"-> container started", span(created, started)},
		{"-> run ended (container ran, exited, removed; outputs)", span(started, ended)},
		{"-> outcome written (agent done)", span(ended, finished)},
		{"-> client exited (follow poll, status, pull: status+pack)", span(finished, end)},
	} {
		row(p.name, remotes, p.d)
	}
	return out.String()
}

// roundTrips times the SSH operations the remote client is made of, each
// a few times, over a connection of its own to the same host.
func (bj *benchJobs) roundTrips(srv *sshtest.Server, home string) string {
	b := bj.b
	ctx := context.Background()
	opts := sshconn.DialOptions{Home: home, DisableAgent: true}
	const n = 10
	timeIt := func(f func() error) time.Duration {
		var ds []time.Duration
		for range n {
			start := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		return median(ds)
	}
	dial := timeIt(func() error {
		c, err := sshconn.Dial(ctx, "gpu-box", opts)
		if err == nil {
			c.Close()
		}
		return err
	})
	dialTrue := timeIt(func() error {
		c, err := sshconn.Dial(ctx, "gpu-box", opts)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Run(ctx, "true", nil, nil, nil)
		return err
	})
	c, err := sshconn.Dial(ctx, "gpu-box", opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	run := func(cmd string) func() error {
		return func() error {
			var stderr bytes.Buffer
			code, err := c.Run(ctx, cmd, nil, io.Discard, &stderr)
			if err == nil && code != 0 {
				err = fmt.Errorf("%s: exit %d: %s", cmd, code, stderr.String())
			}
			return err
		}
	}
	agents, _ := filepath.Glob(filepath.Join(bj.root, agent.BinDir, "jobrun-*"))
	if len(agents) != 1 {
		b.Fatalf("agent binaries on the host: %v", agents)
	}
	job := filepath.Join(bj.root, agent.JobsDir, "warm-remote")
	cmdTrue := timeIt(run("true"))
	status := timeIt(run(sshconn.Quote(agents[0]) + " agent status " + sshconn.Quote(job)))
	pack := timeIt(run(sshconn.Quote(agents[0]) + " agent pack " + sshconn.Quote(filepath.Join(bj.root, agent.RunsDir, "warm-remote"))))
	version := timeIt(func() error { return exec.Command(bj.bin, "--version").Run() })
	docker := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.DialUnix(ctx, "/var/run/docker.sock")
		}}}
	ping := timeIt(func() error {
		resp, err := docker.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})

	// The client's steps before it submits the job, in this process.
	connect := timeIt(func() error {
		h, err := remote.Connect(ctx, "gpu-box", opts, bj.root)
		if err == nil {
			h.Close()
		}
		return err
	})
	h, err := remote.Connect(ctx, "gpu-box", opts, bj.root)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	hash := timeIt(func() error {
		f, err := os.Open(bj.bin)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(sha256.New(), f)
		return err
	})
	install := timeIt(func() error { return h.InstallAgent(ctx, bj.bin, io.Discard) })
	local, err := client.New(client.FromEnv)
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	var rcli *client.Client
	remoteDocker := timeIt(func() error {
		var err error
		if rcli != nil {
			rcli.Close()
		}
		rcli, err = h.DockerClient(ctx, "/var/run/docker.sock")
		return err
	})
	defer rcli.Close()
	ship := timeIt(func() error {
		res, err := imageship.Ship(ctx, local, rcli, trainerTag, nil, io.Discard)
		if err == nil && res.Shipped {
			err = fmt.Errorf("the image was shipped again")
		}
		return err
	})

	var out strings.Builder
	fmt.Fprintf(&out, "the remote client's steps before it submits, timed in process (medians of %d):\n", n)
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "connect: dial + `printf $HOME; uname -m`", ms(connect))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "install the agent, present: sha256 of jobrun + `wc -c`", ms(install))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", fmt.Sprintf("  of which sha256 of the %.0f MiB jobrun binary", fileMiB(bj.bin)), ms(hash))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "Docker client over SSH (API version negotiation: _ping)", ms(remoteDocker))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "image check (inspect here; info, inspect ID and tag there)", ms(ship))
	fmt.Fprintf(&out, "SSH operations to %s (medians of %d):\n", srv.Addr, n)
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "connect (TCP, key exchange, public-key auth)", ms(dial))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "connect, then `true` (the first command of a connection)", ms(dialTrue))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "command `true` on an open connection", ms(cmdTrue))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "agent command `jobrun agent status JOBDIR`", ms(status))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "agent command `jobrun agent pack RUNDIR` (output discarded)", ms(pack))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "Docker API _ping over the forwarded socket (new channel)", ms(ping))
	fmt.Fprintf(&out, "    %-60s %6.1f ms\n", "for scale: `jobrun --version` here, no SSH", ms(version))
	return out.String()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func secs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%+.2f", d.Seconds())
	}
	return strings.Join(parts, " ")
}

func fileMiB(path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
}
