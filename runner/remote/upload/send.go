package upload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Runner runs a shell command line on the host; *sshconn.Session and
// *sshconn.Conn are Runners. The exit code is the command's; err is set
// only when it is unknown (connection lost, ctx ended).
type Runner interface {
	Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// Options say what Send uploads where.
type Options struct {
	// Agent is the host command that reaches Serve, already quoted for
	// the host's shell, without the operation: Prefix(bin) for jobrun's
	// binary at bin, e.g. `/root/.cache/jobrun/bin/jobrun-ab12 agent
	// upload`. Send appends "receive ..." or "link ..." (see Command).
	Agent string
	// Store is the blob store's directory on the host; Dest is where the
	// tree is materialized (replacing what is there). Both are host
	// paths, absolute or ~/... (relative ones are relative to the login
	// user's home).
	Store, Dest string
	// Source is the local directory or file to send. A file arrives as
	// Dest/<its base name>.
	Source string
	// Name names the upload in Log lines and errors (e.g. the channel,
	// "train"); default: Source's base name.
	Name string
	// HashCache is a local directory for the hash cache (e.g.
	// <cache dir>/upload-hashes), created when needed; "" hashes every
	// file on every Send.
	HashCache string
	// Progress, if set, is called as blob bytes are sent: done of total
	// (the bytes the host lacks). Calls come from one goroutine at a time.
	Progress func(done, total int64)
	// Log, if set, receives one plain line per upload: its size and how
	// much of it is new to the host, and a warning if the hash cache
	// could not be saved.
	Log io.Writer

	hashed func(local string) // test hook: called for every file read to hash
}

// Stats describe one Send.
type Stats struct {
	Files       int   // regular files in Source
	Bytes       int64 // their total size
	HashedBytes int64 // bytes read to hash (files the hash cache did not know)
	SentBlobs   int   // blobs the host lacked, sent
	SentBytes   int64 // their total size
	// Time spent walking and hashing, sending blobs, and in link commands.
	Hash, Send, Link time.Duration
}

// Send uploads o.Source to o.Dest on the host that r runs commands on.
// It takes one host command when the host has every blob already, three
// otherwise. When it fails, Dest is as it was (the old tree, or nothing);
// blobs that arrived whole stay in the store for the next try.
func Send(ctx context.Context, r Runner, o Options) (Stats, error) {
	if o.Name == "" {
		o.Name = filepath.Base(o.Source)
	}
	s := &sender{r: r, o: o}
	err := s.send(ctx)
	if err != nil {
		err = fmt.Errorf("upload %s to %s: %w", o.Name, o.Dest, err)
	}
	return s.stats, err
}

type sender struct {
	r     Runner
	o     Options
	stats Stats
}

func (s *sender) send(ctx context.Context) error {
	if s.o.Agent == "" || s.o.Store == "" || s.o.Dest == "" || s.o.Source == "" {
		return errors.New("upload.Options needs Agent, Store, Dest and Source")
	}
	t, err := s.hash(ctx)
	if err != nil {
		return err
	}
	var man bytes.Buffer
	if err := t.manifest().write(&man); err != nil {
		return err
	}
	missing, err := s.link(ctx, man.Bytes())
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		s.logf(0)
		return nil
	}
	blobs, err := pick(t, missing)
	if err != nil {
		return err
	}
	s.logf(sizeOf(blobs))
	if err := s.receive(ctx, blobs); err != nil {
		return err
	}
	if missing, err = s.link(ctx, man.Bytes()); err == nil && len(missing) > 0 {
		err = fmt.Errorf("%d blobs sent are gone from the host's store %s (is something cleaning it?)", len(missing), s.o.Store)
	}
	return err
}

// hash walks the source and hashes its files.
func (s *sender) hash(ctx context.Context) (*tree, error) {
	start := time.Now()
	defer func() { s.stats.Hash = time.Since(start) }()
	src, err := filepath.Abs(s.o.Source)
	if err != nil {
		return nil, err
	}
	t, err := walk(src)
	if err != nil {
		return nil, err
	}
	s.stats.Files, s.stats.Bytes = len(t.files), t.bytes
	cache := openHashCache(s.o.HashCache, src)
	s.stats.HashedBytes, err = hashFiles(ctx, t.files, cache, s.o.hashed)
	if err != nil {
		return nil, err
	}
	if err := cache.save(); err != nil && s.o.Log != nil {
		fmt.Fprintf(s.o.Log, "warning: hash cache not saved (files will be hashed again next time; check %s): %v\n", s.o.HashCache, err)
	}
	return t, nil
}

// pick returns one local file for each missing hash.
func pick(t *tree, missing []string) ([]*localFile, error) {
	byHash := make(map[string]*localFile, len(t.files))
	for _, f := range t.files {
		byHash[f.Hash] = f
	}
	out := make([]*localFile, 0, len(missing))
	for _, h := range missing {
		f, ok := byHash[h]
		if !ok {
			return nil, fmt.Errorf("the host asked for blob %s, which is not in the source", h)
		}
		out = append(out, f)
	}
	return out, nil
}

// link runs link with the manifest and returns the blobs the host lacks
// (none: the tree is in place).
func (s *sender) link(ctx context.Context, man []byte) ([]string, error) {
	start := time.Now()
	defer func() { s.stats.Link += time.Since(start) }()
	out, err := s.run(ctx, "linking", bytes.NewReader(man), opLink, "--store", s.o.Store, "--dest", s.o.Dest)
	if err != nil {
		return nil, err
	}
	return parseLinkOutput(out)
}

// parseLinkOutput reads "missing HASH" lines or one "linked N" line.
func parseLinkOutput(out string) ([]string, error) {
	var missing []string
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if h, ok := strings.CutPrefix(line, "missing "); ok && isHash(h) {
			missing = append(missing, h)
		} else if n, ok := strings.CutPrefix(line, "linked "); ok && missing == nil {
			if _, err := strconv.Atoi(n); err == nil {
				return nil, nil
			}
		} else {
			return nil, fmt.Errorf("linking: unexpected output from the host: %q", clip(line))
		}
	}
	if missing == nil {
		return nil, errors.New("linking: the host printed nothing (is Options.Agent a jobrun agent upload command?)")
	}
	return missing, nil
}

// receive streams the blobs to the host in one command.
func (s *sender) receive(ctx context.Context, blobs []*localFile) error {
	start := time.Now()
	defer func() { s.stats.Send = time.Since(start) }()
	total := sizeOf(blobs)
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := s.writeBlobs(pw, blobs, total)
		pw.CloseWithError(err)
		wrote <- err
	}()
	_, runErr := s.run(ctx, "sending blobs", pr, opReceive, "--store", s.o.Store)
	pr.CloseWithError(errHostDone) // unblocks the writer if the host stopped reading
	// A local failure (a file that changed or cannot be read) explains
	// the host's complaint about a short stream, so it comes first.
	if err := <-wrote; err != nil && !errors.Is(err, errHostDone) {
		return err
	}
	return runErr
}

func sizeOf(files []*localFile) (n int64) {
	for _, f := range files {
		n += f.id.Size
	}
	return n
}

var errHostDone = errors.New("the host command ended")

// writeBlobs writes the blob stream; bounded memory: files are copied
// through one buffer.
func (s *sender) writeBlobs(w io.Writer, blobs []*localFile, total int64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	fmt.Fprintln(bw, blobsHeader)
	var done int64
	for _, f := range blobs {
		if err := s.writeBlob(bw, f, &done, total); err != nil {
			return err
		}
		s.stats.SentBlobs++
		s.stats.SentBytes += f.id.Size
	}
	fmt.Fprintln(bw, endRecord)
	return bw.Flush()
}

// writeBlob writes one blob, checking that the file is still the one
// that was hashed.
func (s *sender) writeBlob(bw *bufio.Writer, f *localFile, done *int64, total int64) error {
	file, err := os.Open(f.local)
	if err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	defer file.Close()
	changed := fmt.Errorf("%s changed after it was hashed (wait until nothing writes to it, then retry)", f.local)
	if id, err := fstatID(file); err != nil || id != f.id {
		return changed
	}
	fmt.Fprintf(bw, "blob %s %d\n", f.Hash, f.id.Size)
	src := &progressReader{r: file, done: done, total: total, fn: s.o.Progress}
	if n, err := io.CopyN(bw, src, f.id.Size); err != nil {
		if n < f.id.Size && errors.Is(err, io.EOF) {
			return changed
		}
		return fmt.Errorf("sending %s: %w", f.local, err)
	}
	if id, err := fstatID(file); err != nil || id != f.id {
		return changed
	}
	return nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	done  *int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		*p.done += int64(n)
		p.fn(*p.done, p.total)
	}
	return n, err
}

// run runs one host operation and returns its stdout; a non-zero exit is
// an error carrying the host's stderr.
func (s *sender) run(ctx context.Context, what string, stdin io.Reader, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	code, err := s.r.Run(ctx, Command(s.o.Agent, args...), stdin, &stdout, &stderr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return "", fmt.Errorf("%s: host command exited with status %d: %s%s", what, code, tail(stderr.String()), hint(code))
	}
	return stdout.String(), nil
}

// hint explains the shell's own exit codes.
func hint(code int) string {
	switch code {
	case 126, 127:
		return " (the jobrun agent binary is missing or not executable on the host: check Options.Agent)"
	}
	return ""
}

// tail keeps the end of the host's stderr, where the error is.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// logf writes the one-line summary.
func (s *sender) logf(newBytes int64) {
	if s.o.Log != nil {
		fmt.Fprintf(s.o.Log, "uploading %s: %s in %d files, %s new\n", s.o.Name, humanBytes(s.stats.Bytes), s.stats.Files, humanBytes(newBytes))
	}
}

// humanBytes formats n in binary units: 512 B, 1.2 GiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n), 0
	for v >= 1024 && unit < 5 {
		v /= 1024
		unit++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}[unit]
}
