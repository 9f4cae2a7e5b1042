package upload

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Serve runs one host-side operation; args are what follows AgentCommand
// on the command line (see Command):
//
//	receive --store STORE            stdin: a blob stream
//	link --store STORE --dest DEST   stdin: a manifest
//
// On failure it writes the error to stderr, where Send picks it up, and
// returns it: the caller only has to exit non-zero.
func Serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := serve(ctx, args, stdin, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "jobrun %s: %v\n", AgentCommand, err)
	}
	return err
}

func serve(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing operation (receive or link)")
	}
	op := args[0]
	flags := flag.NewFlagSet(op, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	storeDir := flags.String("store", "", "the blob store's directory")
	dest := flags.String("dest", "", "where link materializes the tree")
	if err := flags.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if flags.NArg() > 0 || *storeDir == "" {
		return fmt.Errorf("usage: %s --store STORE [--dest DEST] (got %q)", op, args)
	}
	switch {
	case op != opReceive && op != opLink:
		return fmt.Errorf("unknown operation %q (receive or link)", op)
	case op == opLink && *dest == "":
		return errors.New("link: --dest is required")
	}
	st, err := openStore(*storeDir)
	if err != nil {
		return err
	}
	if op == opReceive {
		return st.receive(ctx, stdin, stdout)
	}
	return st.link(ctx, *dest, stdin, stdout)
}

// receive reads a blob stream into the store and prints "received N".
// Every blob is verified before it gets its name. Verified blobs are
// committed in batches of commitBytes, and also when the stream breaks:
// a retry sends only the rest.
func (s store) receive(ctx context.Context, r io.Reader, w io.Writer) error {
	s.sweepTemps()
	var pending []received
	var pendingBytes int64
	n := 0
	add := func(b received, size int64) error {
		pending, pendingBytes, n = append(pending, b), pendingBytes+size, n+1
		if pendingBytes < commitBytes {
			return nil
		}
		err := s.commit(pending)
		pending, pendingBytes = nil, 0
		return err
	}
	err := s.readBlobs(ctx, r, add)
	if cerr := s.commit(pending); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	_, err = fmt.Fprintf(w, "received %d\n", n)
	return err
}

// commitBytes is how much verified data waits for one syncfs: a crash
// loses at most that much progress.
const commitBytes = 1 << 30

// readBlobs reads the stream into verified temp files, handing each to
// add.
func (s store) readBlobs(ctx context.Context, r io.Reader, add func(received, int64) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	if err := expectLine(br, blobsHeader); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := readLine(br)
		if err != nil {
			return fmt.Errorf("after %d blobs: %w", i, err)
		}
		if line == endRecord {
			return expectEOF(br)
		}
		hash, size, err := parseBlobHeader(line)
		if err != nil {
			return err
		}
		tmp, err := s.receiveBlob(br, hash, size, buf)
		if err != nil {
			return fmt.Errorf("blob %s: %w", hash, err)
		}
		if err := add(received{tmp, hash}, size); err != nil {
			return err
		}
	}
}

// maxBlob bounds a blob's announced size (1 PiB), so a corrupt header is
// a clear error rather than a long wait.
const maxBlob = 1 << 50

// parseBlobHeader parses "blob HASH SIZE".
func parseBlobHeader(line string) (hash string, size int64, err error) {
	f := strings.Split(line, " ")
	if len(f) != 3 || f[0] != "blob" || !isHash(f[1]) {
		return "", 0, fmt.Errorf("malformed blob header %q", clip(line))
	}
	size, err = strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 || size > maxBlob || f[2] != strconv.FormatInt(size, 10) {
		return "", 0, fmt.Errorf("bad size in blob header %q", clip(line))
	}
	return f[1], size, nil
}

// link materializes the manifest on stdin at dest, or, when blobs are
// missing, prints them and changes nothing.
func (s store) link(ctx context.Context, dest string, r io.Reader, w io.Writer) error {
	m, err := parseManifest(r)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	missing, err := s.missing(m)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if len(missing) > 0 {
		bw := bufio.NewWriter(w)
		for _, h := range missing {
			fmt.Fprintf(bw, "missing %s\n", h)
		}
		return bw.Flush()
	}
	if err := s.materialize(ctx, m, dest); err != nil {
		return fmt.Errorf("link %s: %w", dest, err)
	}
	_, err = fmt.Fprintf(w, "linked %d\n", len(m))
	return err
}

// materialize builds the tree beside dest and renames it into place.
func (s store) materialize(ctx context.Context, m manifest, dest string) error {
	dest = filepath.Clean(dest)
	parent, base := filepath.Dir(dest), filepath.Base(dest)
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return errors.New("not a directory path to create")
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	sweepSiblings(parent, base)
	tmp, err := os.MkdirTemp(parent, base+tmpMark)
	if err != nil {
		return err
	}
	if err := s.build(ctx, m, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := replaceDir(tmp, dest); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

// build creates m's directories and files below root.
func (s store) build(ctx context.Context, m manifest, root string) error {
	if err := os.Chmod(root, 0o755); err != nil { // MkdirTemp made it 0700
		return err
	}
	made := map[string]bool{".": true}
	for _, e := range m {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(root, filepath.FromSlash(e.Path))
		if e.Dir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			made[e.Path] = true
			continue
		}
		if dir := filepath.Dir(e.Path); !made[dir] {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			made[dir] = true
		}
		if err := s.place(e, dst); err != nil {
			return err
		}
	}
	return nil
}

// replaceDir renames tmp to dest; a dest that exists (and is not an
// empty directory, which rename replaces) is first moved aside, then
// removed.
func replaceDir(tmp, dest string) error {
	err := os.Rename(tmp, dest)
	if err == nil {
		return nil
	}
	if _, statErr := os.Lstat(dest); statErr != nil {
		return err
	}
	old := dest + oldMark + randHex(6)
	if err := os.Rename(dest, old); err != nil {
		return fmt.Errorf("moving the previous tree aside: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		_ = os.Rename(old, dest)
		return err
	}
	// The new tree is in place; a failure to remove the old one leaves a
	// DEST.old-* that a later link sweeps.
	_ = os.RemoveAll(old)
	return nil
}
