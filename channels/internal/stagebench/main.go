// Command stagebench drives package channels for bench/inputs.sh:
//
//	stagebench gen DIR N BYTES             write N files of BYTES random bytes
//	                                       (DIR/f-00000 ...), for uploading
//	stagebench stage -cache DIR -work W URI  stage the S3 prefix URI as a File
//	                                       mode channel "train" into W/train
//	                                       through a Stager with the cache DIR
//	                                       (empty: cold; filled: warm)
//	stagebench cat URI                     pin the object URI and stream it to
//	                                       stdout through Stager.Open, as Pipe
//	                                       mode reads a channel (no cache)
//	stagebench fastfile -cache DIR -mnt M URI  mount the S3 prefix URI as a
//	                                       FastFile channel at M (a Stager with
//	                                       the cache DIR) and read every file
//	                                       through it in key order, as a
//	                                       trainer would; then unmount
//
// AWS settings come from the environment (AWS_ENDPOINT_URL_S3, ...).
// STAGEBENCH_CPUPROFILE=FILE writes a CPU profile of the command (go tool
// pprof FILE).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/spec"
)

func main() {
	err := profiled(os.Getenv("STAGEBENCH_CPUPROFILE"), func() error { return run(os.Args[1:]) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "stagebench:", err)
		os.Exit(1)
	}
}

// profiled runs f, writing a CPU profile to path when it is not "".
func profiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return f()
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: stagebench gen|stage|cat ARGS")
	}
	switch args[0] {
	case "gen":
		return gen(args[1:])
	case "stage":
		return stage(args[1:])
	case "cat":
		return cat(args[1:])
	case "fastfile":
		return fastFile(args[1:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// cachedStager is a Stager with the AWS settings of the environment and
// the cache in dir.
func cachedStager(ctx context.Context, dir string) (*channels.Stager, error) {
	client, _, err := awsconfig.S3Client(ctx, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	c, err := channels.OpenCache(dir, 0)
	if err != nil {
		return nil, err
	}
	return &channels.Stager{S3: client, Cache: c}, nil
}

func input(uri, mode string) spec.Input {
	return spec.Input{Name: "train", URI: uri, Type: "s3prefix", Mode: mode, Compression: "none",
		Distribution: "fully_replicated", RecordWrapper: "none"}
}

func stage(args []string) error {
	fs := flag.NewFlagSet("stage", flag.ExitOnError)
	cacheDir := fs.String("cache", "", "cache directory (required)")
	work := fs.String("work", "", "work directory, on the cache's file system (required)")
	conc := fs.Int("concurrency", 0, "GETs in flight (0: the default)")
	part := fs.Int64("part-size", 0, "bytes per ranged GET of a big object (0: the default)")
	threshold := fs.Int64("threshold", 0, "size from which objects are fetched in parts (0: the default)")
	partConc := fs.Int("part-concurrency", 0, "ranged GETs of parts in flight (0: the default)")
	fs.Parse(args)
	if fs.NArg() != 1 || *cacheDir == "" || *work == "" {
		return fmt.Errorf("usage: stagebench stage -cache DIR -work DIR s3://bucket/prefix/")
	}
	ctx := context.Background()
	s, err := cachedStager(ctx, *cacheDir)
	if err != nil {
		return err
	}
	s.Concurrency, s.PartSize, s.MultipartThreshold, s.PartConcurrency = *conc, *part, *threshold, *partConc
	start := time.Now()
	st, err := s.Stage(ctx, []spec.Input{input(fs.Arg(0), "file")}, *work)
	if err != nil {
		return err
	}
	var bytes int64
	for _, o := range st[0].Objects {
		bytes += o.Size
	}
	fmt.Fprintf(os.Stderr, "staged %d objects (%d from cache), %d bytes into %s in %v\n",
		len(st[0].Objects), st[0].FromCache, bytes, st[0].Dir, time.Since(start).Round(time.Millisecond))
	return nil
}

func cat(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: stagebench cat s3://bucket/key")
	}
	ctx := context.Background()
	client, _, err := awsconfig.S3Client(ctx, awsconfig.Options{})
	if err != nil {
		return err
	}
	s := &channels.Stager{S3: client}
	st, err := s.Pin(ctx, []spec.Input{input(args[0], "pipe")})
	if err != nil {
		return err
	}
	if len(st[0].Objects) != 1 {
		return fmt.Errorf("%s: %d objects under that prefix, want 1", args[0], len(st[0].Objects))
	}
	rc, err := s.Open(ctx, st[0].Objects[0])
	if err != nil {
		return err
	}
	defer rc.Close()
	// As Pipe mode copies into its FIFO: a 1 MiB buffer, the writer
	// hidden so that os.File's ReadFrom (32 KiB copies) is not used, and
	// a pipe on stdout grown to 1 MiB as Pipe mode grows its FIFOs.
	growStdout()
	_, err = io.CopyBuffer(writerOnly{os.Stdout}, rc, make([]byte, 1<<20))
	return err
}

type writerOnly struct{ io.Writer }

func fastFile(args []string) error {
	fs := flag.NewFlagSet("fastfile", flag.ExitOnError)
	cacheDir := fs.String("cache", "", "cache directory (required)")
	mnt := fs.String("mnt", "", "mount point, created if missing (required)")
	fs.Parse(args)
	if fs.NArg() != 1 || *cacheDir == "" || *mnt == "" {
		return fmt.Errorf("usage: stagebench fastfile -cache DIR -mnt DIR s3://bucket/prefix/")
	}
	ctx := context.Background()
	s, err := cachedStager(ctx, *cacheDir)
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := s.Pin(ctx, []spec.Input{input(fs.Arg(0), "fastfile")})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*mnt, 0o755); err != nil {
		return err
	}
	ff, err := channels.MountFastFile(ctx, *mnt, filepath.Join(*cacheDir, "spill"), st[0].Objects, s)
	if err != nil {
		return err
	}
	defer ff.Close()
	mounted := time.Since(start)
	buf := make([]byte, 1<<20)
	var bytes, want int64
	for _, o := range st[0].Objects {
		want += o.Size
		f, err := os.Open(filepath.Join(*mnt, o.Rel))
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", o.Rel, err)
		}
		bytes += n
	}
	if bytes != want {
		return fmt.Errorf("read %d bytes through FastFile, the objects hold %d", bytes, want)
	}
	fmt.Fprintf(os.Stderr, "mounted %d objects in %v, read %d bytes through FastFile in %v\n",
		len(st[0].Objects), mounted.Round(time.Millisecond), bytes, time.Since(start).Round(time.Millisecond))
	return ff.Close()
}

func gen(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: stagebench gen DIR N BYTES")
	}
	n, err1 := strconv.Atoi(args[1])
	size, err2 := strconv.ParseInt(args[2], 10, 64)
	if err1 != nil || err2 != nil || n < 1 || size < 0 {
		return errors.New("gen: the object count and size must be numbers")
	}
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range n {
		f, err := os.Create(filepath.Join(args[0], fmt.Sprintf("f-%05d", i)))
		if err != nil {
			return err
		}
		for left := size; left > 0; {
			b := buf[:min(int64(len(buf)), left)]
			rand.Read(b)
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(b))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
