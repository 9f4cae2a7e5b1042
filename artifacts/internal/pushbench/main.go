// Command pushbench drives package artifacts for bench/outputs.sh until
// jobrun has a push command of its own:
//
//	pushbench gen RUNDIR MIB FILES     make a run directory whose model/ holds
//	                                   MIB MiB of float32 weights in FILES files
//	pushbench push [-gzip] RUNDIR URI  artifacts.Push RUNDIR to URI
//
// AWS settings come from the environment (AWS_ENDPOINT_URL_S3, ...).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/awsconfig"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: pushbench gen|push ARGS")
	}
	switch args[0] {
	case "gen":
		return gen(args[1:])
	case "push":
		return push(args[1:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	gz := fs.Bool("gzip", false, "compression: gzip")
	conc := fs.Int("concurrency", 0, "requests in flight (0: the default)")
	part := fs.Int64("part-mib", 0, "part size in MiB (0: the default)")
	fs.Parse(args)
	if fs.NArg() != 2 {
		return fmt.Errorf("usage: pushbench push [-gzip] RUNDIR URI")
	}
	ctx := context.Background()
	st, err := openStore(ctx, fs.Arg(1), artifacts.S3Options{Concurrency: *conc, PartSize: *part << 20})
	if err != nil {
		return err
	}
	o := artifacts.PushOptions{Compression: artifacts.CompressionNone}
	if *gz {
		o.Compression = artifacts.CompressionGzip
	}
	start := time.Now()
	rec, err := artifacts.Push(ctx, fs.Arg(0), st, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pushed %d files, %d bytes in %v\n", rec.Upload.Files, rec.Upload.Bytes, time.Since(start).Round(time.Millisecond))
	return nil
}

func openStore(ctx context.Context, uri string, o artifacts.S3Options) (artifacts.Store, error) {
	if !artifacts.IsS3(uri) {
		return artifacts.NewLocalStore(uri)
	}
	client, _, err := awsconfig.S3Client(ctx, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	return artifacts.NewS3Store(client, uri, o)
}

// gen writes a run directory: a quarter of the bytes in four big files,
// the rest spread over the others, all float32 samples of N(0, 0.02) like
// trained weights (gzip saves under a tenth of such data).
func gen(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: pushbench gen RUNDIR MIB FILES")
	}
	mib, err1 := strconv.Atoi(args[1])
	files, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || files < 5 {
		return fmt.Errorf("MIB and FILES (at least 5) must be numbers")
	}
	dir := args[0]
	if err := newRun(dir); err != nil {
		return err
	}
	total := int64(mib) << 20
	big := total / 2 / 4
	small := (total - 4*big) / int64(files-4)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range files {
		size, name := small, fmt.Sprintf("layers/%02d/part-%03d.bin", i%8, i)
		if i < 4 {
			size, name = big, fmt.Sprintf("shards/shard-%d.safetensors", i)
		}
		if err := weights(filepath.Join(dir, "model", name), size, rng); err != nil {
			return err
		}
	}
	return nil
}

func newRun(dir string) error {
	for _, d := range []string{"model", "output/data", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "logs", "algo-1.log"), []byte("loss=0.1\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "output", "data", "eval.csv"), []byte("acc\n0.9\n"), 0o644); err != nil {
		return err
	}
	return artifacts.WriteRecord(dir, &artifacts.Record{JobName: filepath.Base(dir), Status: artifacts.StatusCompleted, CreatedAt: time.Now().UTC()})
}

func weights(path string, size int64, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b [4]byte
	for n := int64(0); n < size; n += 4 {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(rng.NormFloat64()*0.02)))
		w.Write(b[:min(4, size-n)])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
