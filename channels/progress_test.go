package channels

import (
	"github.com/jobrun/jobrun/internal/syncbuf"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestProgressLines(t *testing.T) {
	var out syncbuf.Buffer
	objs := []Object{{Size: 3 << 20}, {Size: 1 << 20}, {Size: 0}}
	p := newProgress(&out, "train")
	for _, o := range objs {
		p.listed(o.Size)
	}
	if p.tty != nil {
		t.Fatal("a buffer is not a terminal")
	}
	p.add(3 << 20)
	p.object()
	p.cached(1 << 20)
	p.show()
	p.done(true)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	line := regexp.MustCompile(`^staging channel "train": 2/3 objects, 4\.0 MiB/4\.0 MiB, [0-9.]+ [KMG]?i?B/s$`)
	if len(lines) != 2 || !line.MatchString(lines[0]) {
		t.Errorf("progress lines %q", lines)
	}
	re := regexp.MustCompile(`^staged channel "train": 3 objects, 4\.0 MiB in [0-9.]+m?s \([0-9.]+ [KMG]?i?B/s\), 1 from cache$`)
	if !re.MatchString(lines[len(lines)-1]) {
		t.Errorf("summary %q", lines[len(lines)-1])
	}
}

func TestProgressNotOnPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	p := newProgress(w, "x")
	if p.tty != nil {
		t.Error("bar on a pipe")
	}
	p.done(false)
}

func TestProgressBar(t *testing.T) {
	p := &progress{channel: "train", start: time.Now().Add(-2 * time.Second)}
	p.objs.Store(10000)
	p.bytes.Store(100 << 20)
	p.doneBytes.Store(50 << 20)
	p.doneObjs.Store(5000)
	bar := p.bar(100)
	if len(bar) > 99 || !strings.HasPrefix(bar, "train [") || !strings.Contains(bar, "] 50.0 MiB/100.0 MiB 5000/10000 obj 25.0 MiB/s ETA 2s") {
		t.Errorf("bar %q (%d columns)", bar, len(bar))
	}
	if n := strings.Count(bar, "="); n == 0 || n > 50 {
		t.Errorf("bar fill %d in %q", n, bar)
	}
	if narrow := p.bar(30); len(narrow) > 29 {
		t.Errorf("narrow bar %q", narrow)
	}
	var nilp *progress
	nilp.listed(1) // a nil progress counts nothing
	nilp.add(1)
	nilp.object()
	nilp.cached(1)
	nilp.done(true)
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 102400000: "97.7 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
