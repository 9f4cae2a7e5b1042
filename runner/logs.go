package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jobrun/jobrun/spec"
)

// logSink receives the container's two output streams: it passes them on
// to the terminal, appends both to the run's log file and extracts metrics
// line by line.
type logSink struct {
	mu      sync.Mutex
	log     io.Writer
	metrics io.Writer
	defs    []metricDef
	final   map[string]float64
	now     func() time.Time
	err     error // the first write error to the log or metrics file
}

type metricDef struct {
	name string
	re   *regexp.Regexp
}

// metricPoint is one line of metrics.jsonl.
type metricPoint struct {
	Timestamp time.Time `json:"timestamp"`
	Name      string    `json:"name"`
	Value     float64   `json:"value"`
}

func newLogSink(log, metrics io.Writer, defs []spec.Metric, now func() time.Time) (*logSink, error) {
	s := &logSink{log: log, metrics: metrics, final: map[string]float64{}, now: now}
	for _, d := range defs {
		re, err := regexp.Compile(d.Regex)
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", d.Name, err)
		}
		s.defs = append(s.defs, metricDef{d.Name, re})
	}
	return s, nil
}

// stream returns the writer for one of the container's streams.
func (s *logSink) stream(term io.Writer) io.Writer {
	return &streamWriter{sink: s, term: term}
}

type streamWriter struct {
	sink    *logSink
	term    io.Writer
	partial []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.term != nil {
		w.term.Write(p) // a closed terminal must not stop the job
	}
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	if _, err := w.sink.log.Write(p); err != nil && w.sink.err == nil {
		w.sink.err = fmt.Errorf("writing log: %w", err)
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.sink.scan(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// flush scans a last line that had no newline.
func (w *streamWriter) flush() {
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	if len(w.partial) > 0 {
		w.sink.scan(w.partial)
		w.partial = nil
	}
}

func (s *logSink) scan(line []byte) {
	for _, d := range s.defs {
		m := d.re.FindSubmatch(line)
		if len(m) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(string(bytes.TrimSpace(m[1])), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		s.final[d.name] = v
		data, _ := json.Marshal(metricPoint{Timestamp: s.now().UTC(), Name: d.name, Value: v})
		if _, err := s.metrics.Write(append(data, '\n')); err != nil && s.err == nil {
			s.err = fmt.Errorf("writing metrics: %w", err)
		}
	}
}
