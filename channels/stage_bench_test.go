package channels

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Benchmark sizes; the benchmark sets are 10,000 × 10 KiB and
// 2 × 1 GiB (JOBRUN_BENCH_SMALL=10000 JOBRUN_BENCH_BIG_MIB=1024).
func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// putMany uploads n objects of size bytes under prefix, 64 at a time.
func putMany(b *testing.B, e *env, prefix string, n, size int) {
	b.Helper()
	client := e.srv.Client(b)
	body := randomBytes(b, size)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, 1)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(e.bucket), Key: aws.String(fmt.Sprintf("%s%05d", prefix, i)),
				Body: bytes.NewReader(body),
			})
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// benchStage measures cold staging (empty cache) and warm staging (cache
// filled by the previous run) of the prefix.
func benchStage(b *testing.B, e *env, uri string, total int64) {
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(total)
		for range b.N {
			b.StopTimer()
			c, err := OpenCache(filepath.Join(b.TempDir(), "cache"), 0)
			if err != nil {
				b.Fatal(err)
			}
			s := &Stager{S3: e.s3, Cache: c}
			work, _ := c.NewWorkDir()
			b.StartTimer()
			stageOK(b, s, work, input("train", uri))
			b.StopTimer()
			os.RemoveAll(c.Dir())
		}
	})
	b.Run("warm", func(b *testing.B) {
		s := e.stager()
		stageOK(b, s, e.workDir(b), input("train", uri))
		b.SetBytes(total)
		b.ResetTimer()
		for range b.N {
			work := e.workDir(b)
			stageOK(b, s, work, input("train", uri))
			b.StopTimer()
			os.RemoveAll(work)
			b.StartTimer()
		}
	})
}

func BenchmarkStageSmall(b *testing.B) {
	n := benchSize("JOBRUN_BENCH_SMALL", 2000)
	e := newEnv(b)
	putMany(b, e, "small/", n, 10<<10)
	benchStage(b, e, "s3://data/small/", int64(n)*10<<10)
}

func BenchmarkStageBig(b *testing.B) {
	mib := benchSize("JOBRUN_BENCH_BIG_MIB", 256)
	e := newEnv(b)
	for _, k := range []string{"big/a", "big/b"} {
		e.putBig(b, k, mib<<20)
	}
	benchStage(b, e, "s3://data/big/", 2*int64(mib)<<20)
}
