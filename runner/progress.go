package runner

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jobrun/jobrun/channels"
)

// ByteProgress returns a progress callback that redraws one line on w
// ("uploading JOB: 12.0 of 96.5 MiB") at most five times a second, or nil
// when w is not a terminal: logs and pipes get no progress noise.
func ByteProgress(w io.Writer, what string) func(done, total int64) {
	if !channels.IsTerminal(w) {
		return nil
	}
	var mu sync.Mutex
	var last time.Time
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if done < total && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "\r%s: %.1f of %.1f MiB", what, float64(done)/(1<<20), float64(total)/(1<<20))
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
