package channels

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// How often progress is shown: a bar redraws quickly; log lines are for
// files and CI logs, where every line stays.
const (
	barInterval  = 200 * time.Millisecond
	lineInterval = 5 * time.Second
)

// progress counts one channel's staging and reports it on w: a redrawn
// bar when w is a terminal, otherwise a plain line every lineInterval;
// always a summary line at the end. A nil *progress counts nothing.
type progress struct {
	w          io.Writer
	tty        *os.File // non-nil when drawing a bar
	channel    string
	objs       atomic.Int64 // listed so far: the totals grow while a prefix is listed
	bytes      atomic.Int64
	start      time.Time
	doneBytes  atomic.Int64 // downloaded
	cacheBytes atomic.Int64 // linked from the cache
	doneObjs   atomic.Int64
	cacheObjs  atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// newProgress starts reporting on w (nil: silent).
func newProgress(w io.Writer, channel string) *progress {
	p := &progress{w: w, channel: channel, start: time.Now(), stop: make(chan struct{})}
	if w == nil {
		return p
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.tty = f
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

// listed counts an object to stage.
func (p *progress) listed(size int64) {
	if p != nil {
		p.objs.Add(1)
		p.bytes.Add(size)
	}
}

func (p *progress) add(n int64) {
	if p != nil {
		p.doneBytes.Add(n)
	}
}

func (p *progress) object() {
	if p != nil {
		p.doneObjs.Add(1)
	}
}

func (p *progress) cached(size int64) {
	if p != nil {
		p.cacheBytes.Add(size)
		p.cacheObjs.Add(1)
		p.doneObjs.Add(1)
	}
}

func (p *progress) loop() {
	defer p.wg.Done()
	every := lineInterval
	if p.tty != nil {
		every = barInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.show()
		}
	}
}

func (p *progress) show() {
	if p.tty != nil {
		fmt.Fprintf(p.tty, "\r\x1b[K%s", p.bar(termWidth(p.tty)))
		return
	}
	fmt.Fprintf(p.w, "staging channel %q: %d/%d objects, %s/%s, %s/s\n", p.channel,
		p.doneObjs.Load(), p.objs.Load(), humanBytes(p.have()), humanBytes(p.bytes.Load()), humanBytes(int64(p.rate())))
}

// done stops the reports and prints the summary (the bar is replaced by it).
func (p *progress) done(ok bool) {
	if p == nil || p.w == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	if p.tty != nil {
		fmt.Fprint(p.tty, "\r\x1b[K")
	}
	if !ok {
		return
	}
	elapsed, total := time.Since(p.start), p.bytes.Load()
	fmt.Fprintf(p.w, "staged channel %q: %d objects, %s in %s (%s/s), %d from cache\n", p.channel,
		p.objs.Load(), humanBytes(total), elapsed.Round(time.Millisecond), humanBytes(int64(float64(total)/max(elapsed.Seconds(), 1e-3))),
		p.cacheObjs.Load())
}

// have is the bytes in place so far.
func (p *progress) have() int64 { return p.doneBytes.Load() + p.cacheBytes.Load() }

// rate is the download rate so far in bytes per second (cache hits
// excluded: they say nothing about the time left).
func (p *progress) rate() float64 {
	return float64(p.doneBytes.Load()) / max(time.Since(p.start).Seconds(), 1e-3)
}

// bar renders "train [=====>    ] 45.2 MiB/97.7 MiB 4500/10000 obj 30.5 MiB/s ETA 2s"
// to fit width.
func (p *progress) bar(width int) string {
	have, total, rate := p.have(), p.bytes.Load(), p.rate()
	eta := "--"
	if rate > 0 {
		eta = time.Duration(float64(total-have) / rate * float64(time.Second)).Round(time.Second).String()
	}
	info := fmt.Sprintf(" %s/%s %d/%d obj %s/s ETA %s", humanBytes(have), humanBytes(total),
		p.doneObjs.Load(), p.objs.Load(), humanBytes(int64(rate)), eta)
	name := p.channel
	room := width - len(name) - len(info) - 4
	if room < 10 {
		return clipString(name+info, width-1)
	}
	fill := room
	if total > 0 {
		fill = int(float64(room) * float64(have) / float64(total))
	}
	fill = min(fill, room)
	return name + " [" + strings.Repeat("=", fill) + strings.Repeat(" ", room-fill) + "]" + info
}

func clipString(s string, n int) string {
	if n < 0 {
		return ""
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}

// humanBytes formats a byte count with binary units: "97.7 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// IsTerminal reports whether w is a terminal: progress is drawn only there.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
