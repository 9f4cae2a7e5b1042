package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// dataset is a parsed channel: features x and 0/1 labels y.
type dataset struct {
	x [][]float64
	y []float64
}

func (d *dataset) features() int { return len(d.x[0]) }

// source yields the data of each pass over a channel; pass counts from 0
// within this run.
type source interface {
	pass(i int) (*dataset, error)
}

// fileSource is a File or FastFile channel, read once before training.
type fileSource struct{ data *dataset }

func (s fileSource) pass(int) (*dataset, error) { return s.data, nil }

// pipeSource is a Pipe channel: a FIFO <channel>_<pass> per pass.
type pipeSource struct {
	name     string
	prefix   string
	recordIO bool
}

// openChannel checks the channel against inputdataconfig.json and its
// directory, and returns its source.
func (t *trainer) openChannel(name string, c config) (source, error) {
	cc := channelConfig{TrainingInputMode: "File"}
	if c.inputData != nil {
		got, ok := c.inputData[name]
		if !ok {
			return nil, badInput("channel %q is not in inputdataconfig.json (channels: %s)",
				name, strings.Join(sortedKeys(c.inputData), ", "))
		}
		cc = got
	}
	if cc.ContentType != "" && !strings.HasPrefix(cc.ContentType, "text/csv") {
		logf("channel %q: ContentType %q; reading it as CSV anyway", name, cc.ContentType)
	}
	switch cc.TrainingInputMode {
	case "File", "FastFile", "":
		return t.openFileChannel(name)
	case "Pipe":
		return t.openPipeChannel(name, cc)
	default:
		return nil, badInput("channel %q: unknown TrainingInputMode %q", name, cc.TrainingInputMode)
	}
}

func (t *trainer) openFileChannel(name string) (source, error) {
	dir := t.dirs.data(name)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badInput("channel %q: directory %s does not exist", name, dir)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, badInput("channel %q: %s is not a directory", name, dir)
	}
	data, err := readDir(name, dir)
	if err != nil {
		return nil, err
	}
	return fileSource{data: data}, nil
}

func (t *trainer) openPipeChannel(name string, cc channelConfig) (source, error) {
	prefix := t.dirs.data(name)
	if _, err := os.Stat(prefix + "_0"); err != nil {
		return nil, badInput("channel %q (Pipe mode): %s_0: %v", name, prefix, err)
	}
	recordIO := cc.RecordWrapperType == "RecordIO"
	logf("channel %q: Pipe mode, FIFOs %s_<epoch>, RecordIO %v", name, prefix, recordIO)
	return pipeSource{name: name, prefix: prefix, recordIO: recordIO}, nil
}

// readDir parses every *.csv file under dir, recursively, in lexical order.
func readDir(channel, dir string) (*dataset, error) {
	files, err := csvFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, badInput("channel %q: no CSV files (*.csv) under %s", channel, dir)
	}
	p := &csvParser{}
	for _, f := range files {
		if err := p.parseFile(f); err != nil {
			return nil, err
		}
	}
	if len(p.data.y) == 0 {
		return nil, badInput("channel %q: no data rows in %d CSV file(s) under %s", channel, len(files), dir)
	}
	logf("channel %q: %d rows, %d features from %d CSV file(s)", channel, len(p.data.y), p.data.features(), len(files))
	return &p.data, nil
}

// csvFiles lists the regular files (or links to them) named *.csv under dir.
func csvFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".csv") {
			return err
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

func (s pipeSource) pass(i int) (*dataset, error) {
	path := fmt.Sprintf("%s_%d", s.prefix, i)
	if err := waitForFile(path, time.Minute); err != nil {
		return nil, badInput("channel %q (Pipe mode): %v", s.name, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &csvParser{headerAnywhere: !s.recordIO}
	if s.recordIO {
		err = readRecordIO(f, func(rec []byte) error { return p.parse(bytes.NewReader(rec), path) })
	} else {
		err = p.parse(f, path)
	}
	if err != nil {
		return nil, err
	}
	if len(p.data.y) == 0 {
		return nil, badInput("channel %q (Pipe mode): no data rows in %s", s.name, path)
	}
	logf("channel %q: pass %d: %d rows from %s", s.name, i, len(p.data.y), path)
	return &p.data, nil
}

// waitForFile waits for the next pass's FIFO, which the platform may create
// only once the previous one has been read to the end.
func waitForFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := os.Stat(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// csvParser parses numeric CSV: features, then a 0/1 label in the last
// column; the first line of a file may be a header (no numeric field).
type csvParser struct {
	data           dataset
	cols           int
	colsFrom       string // file:line that set cols
	headerAnywhere bool   // Pipe mode: files are concatenated, headers and all
}

func (p *csvParser) parseFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return p.parse(f, path)
}

func (p *csvParser) parse(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	first := true
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		header := (first || p.headerAnywhere) && isHeader(fields)
		first = false
		if err := p.add(fields, header, fmt.Sprintf("%s:%d", name, line)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return badInput("%s: %v", name, err)
	}
	return nil
}

// isHeader reports whether no field of a line is a number.
func isHeader(fields []string) bool {
	for _, f := range fields {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			return false
		}
	}
	return true
}

func (p *csvParser) add(fields []string, header bool, at string) error {
	if err := p.checkColumns(len(fields), at); err != nil {
		return err
	}
	if header {
		return nil
	}
	row := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return badInput("%s: column %d: %q is not a finite number", at, i+1, strings.TrimSpace(f))
		}
		row[i] = v
	}
	label := row[len(row)-1]
	if label != 0 && label != 1 {
		return badInput("%s: label (last column) is %v, want 0 or 1", at, label)
	}
	p.data.x = append(p.data.x, row[:len(row)-1])
	p.data.y = append(p.data.y, label)
	return nil
}

func (p *csvParser) checkColumns(n int, at string) error {
	if n < 2 {
		return badInput("%s: %d column(s); want at least one feature and a label", at, n)
	}
	if p.cols == 0 {
		p.cols, p.colsFrom = n, at
		return nil
	}
	if n != p.cols {
		return badInput("%s: %d columns, but %s has %d", at, n, p.colsFrom, p.cols)
	}
	return nil
}

// recordIOMagic starts every MXNet RecordIO record (SageMaker's
// RecordWrapperType RecordIO), little-endian.
const recordIOMagic = 0xced7230a

// readRecordIO calls fn with each record of r. A record larger than one
// chunk is split at embedded magic numbers (flags 1 start, 2 middle, 3 end),
// and the magic is put back when the parts are joined.
func readRecordIO(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReader(r)
	var rec []byte
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return badInput("RecordIO: truncated header: %v", err)
		}
		if binary.LittleEndian.Uint32(hdr[:4]) != recordIOMagic {
			return badInput("RecordIO: bad magic %#x", binary.LittleEndian.Uint32(hdr[:4]))
		}
		lrec := binary.LittleEndian.Uint32(hdr[4:])
		flag, n := lrec>>29, int(lrec&(1<<29-1))
		part := make([]byte, n+(4-n%4)%4)
		if _, err := io.ReadFull(br, part); err != nil {
			return badInput("RecordIO: truncated record: %v", err)
		}
		rec = joinPart(rec, part[:n], flag)
		if flag == 0 || flag == 3 {
			if err := fn(rec); err != nil {
				return err
			}
			rec = nil
		}
	}
}

func joinPart(rec, part []byte, flag uint32) []byte {
	if flag == 2 || flag == 3 {
		rec = binary.LittleEndian.AppendUint32(rec, recordIOMagic)
	}
	return append(rec, part...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
