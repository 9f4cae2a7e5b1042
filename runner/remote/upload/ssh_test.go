//go:build unix

package upload

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// binDir holds the host-side binary, built on first use by hostBin.
var binDir string

// TestMain runs the tests and fails the package when a test left an
// sshd behind.
func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "uploadhost-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	if left := sshtest.Leftovers(); code == 0 && len(left) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: tests left behind:", strings.Join(left, "; "))
		code = 1
	}
	os.Exit(code)
}

// buildHost builds internal/uploadhost, the host side for tests over
// SSH, once (not in every fuzz worker).
var buildHost = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "uploadhost")
	build := exec.Command("go", "build", "-o", bin, "./internal/uploadhost")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building internal/uploadhost: %v\n%s", err, out)
	}
	return bin, nil
})

func hostBin(t testing.TB) string {
	t.Helper()
	bin, err := buildHost()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// dialSSH starts a private sshd and connects to it with hermetic options.
func dialSSH(t testing.TB) *sshconn.Conn {
	t.Helper()
	srv := sshtest.Start(t)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600))
	opts := sshconn.DialOptions{
		ConfigFile:      "none",
		Home:            dir,
		KnownHostsFiles: []string{kh},
		IdentityFiles:   []string{srv.ClientKeyPath},
		DisableAgent:    true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sshconn.Dial(ctx, srv.Target(), opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", srv.Target(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSendOverSSH runs the whole upload through a real sshd, with the
// host side a separate binary that calls Serve.
func TestSendOverSSH(t *testing.T) {
	conn := dialSSH(t)
	src := sample()
	e := newEnv(t, src)
	e.opts.Agent = Prefix(hostBin(t))
	ctx := t.Context()

	st, err := Send(ctx, conn, e.opts)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, src) {
		t.Errorf("Dest holds\n%q\nwant\n%q", got, src)
	}
	if st.SentBlobs != 5 || st.Files != 6 {
		t.Errorf("first send: %+v", st)
	}
	t.Logf("first send: %+v", st)

	st, err = Send(ctx, conn, e.opts)
	if err != nil || st.SentBlobs != 0 || st.HashedBytes != 0 {
		t.Fatalf("resend: %+v, %v", st, err)
	}
	t.Logf("resend: %+v", st)

	// What reaches the user when the agent is not there.
	e.opts.Agent = Prefix(hostBin(t) + "-missing")
	_, err = Send(ctx, conn, e.opts)
	if err == nil || !strings.Contains(err.Error(), "status 127") || !strings.Contains(err.Error(), "agent binary is missing") {
		t.Errorf("Send with a missing agent: %v", err)
	}
}

// BenchmarkResend sends a dataset of 8 files of random data over a real
// sshd, first to an empty store, then again unchanged, and reports both
// times and their ratio. The dataset's size comes from UPLOAD_BENCH_MIB
// (default 1024); bench/upload.sh runs it.
//
//	go test -run '^$' -bench Resend -benchtime 5x ./runner/remote/upload
func BenchmarkResend(b *testing.B) {
	mib := 1024
	if v := os.Getenv("UPLOAD_BENCH_MIB"); v != "" {
		var err error
		if mib, err = strconv.Atoi(v); err != nil || mib < 8 {
			b.Fatalf("UPLOAD_BENCH_MIB=%q: want a number of MiB ≥ 8", v)
		}
	}
	conn := dialSSH(b)
	root := b.TempDir()
	o := Options{
		Agent:     Prefix(hostBin(b)),
		Store:     filepath.Join(root, "host", "store"),
		Dest:      filepath.Join(root, "host", "inputs", "train"),
		Source:    filepath.Join(root, "laptop", "train"),
		HashCache: filepath.Join(root, "laptop", "cache"),
	}
	genDataset(b, o.Source, 8, int64(mib)<<20/8)
	// Files written less than racyWindow ago are hashed again next time,
	// by design; a dataset being uploaded is older than that.
	settle()

	ctx := context.Background()
	start := time.Now()
	first, err := Send(ctx, conn, o)
	firstTime := time.Since(start)
	if err != nil {
		b.Fatalf("first send: %v", err)
	}
	raw := rawSend(b, conn, o.Source, filepath.Join(root, "raw"))
	var times []time.Duration
	var last Stats
	for b.Loop() {
		start := time.Now()
		if last, err = Send(ctx, conn, o); err != nil || last.SentBlobs != 0 || last.HashedBytes != 0 {
			b.Fatalf("resend: %+v, %v", last, err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	resend := times[len(times)/2]
	ratio := float64(resend) / float64(firstTime)
	b.ReportMetric(firstTime.Seconds(), "first-s")
	b.ReportMetric(float64(resend.Microseconds())/1000, "resend-ms")
	b.ReportMetric(ratio*100, "ratio-%")
	b.Logf("first send: %s in %d files: %.2f s (%.0f MiB/s; hash %.2f s, send %.2f s, link %.1f ms)",
		humanBytes(first.Bytes), first.Files, firstTime.Seconds(), float64(first.Bytes)/(1<<20)/firstTime.Seconds(),
		first.Hash.Seconds(), first.Send.Seconds(), ms(first.Link))
	b.Logf("for scale, the same bytes through `cat > file` over the same connection: %.2f s", raw.Seconds())
	b.Logf("resend unchanged: median %.1f ms of %d (hash %.1f ms, link %.1f ms); resend/first = %.2f %%",
		ms(resend), len(times), ms(last.Hash), ms(last.Link), ratio*100)
}

// rawSend times sending the files of dir, concatenated, to a file on the
// host with cat: the transport's own speed.
func rawSend(b *testing.B, conn *sshconn.Conn, dir, dst string) time.Duration {
	ents, err := os.ReadDir(dir)
	must(b, err)
	var files []io.Reader
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		must(b, err)
		defer f.Close()
		files = append(files, f)
	}
	start := time.Now()
	code, err := conn.Run(context.Background(), "cat > "+sshconn.Quote(dst), io.MultiReader(files...), nil, nil)
	if code != 0 || err != nil {
		b.Fatalf("cat: %d, %v", code, err)
	}
	d := time.Since(start)
	must(b, os.Remove(dst))
	return d
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// genDataset writes n files of size bytes of random data into dir.
func genDataset(b *testing.B, dir string, n int, size int64) {
	must(b, os.MkdirAll(dir, 0o755))
	buf := make([]byte, 4<<20)
	for i := range n {
		rng := rand.NewChaCha8([32]byte{byte(i), 42})
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%05d.bin", i)))
		must(b, err)
		for left := size; left > 0; left -= int64(len(buf)) {
			chunk := buf[:min(left, int64(len(buf)))]
			rng.Read(chunk)
			if _, err := f.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		must(b, f.Close())
	}
}
