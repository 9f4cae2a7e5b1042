package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// recordingCheckpoints gives a Syncer a recording store.
type recordingCheckpoints struct {
	Checkpoints
	rs *recordingStore
}

func (c recordingCheckpoints) Store() Store { return c.rs }

// checkpointKinds are the checkpoint stores every sync test runs against.
func checkpointKinds(t *testing.T) map[string]func(t *testing.T) Checkpoints {
	return map[string]func(t *testing.T) Checkpoints{
		"s3": func(t *testing.T) Checkpoints {
			return S3Checkpoints{S3: newS3Store(t, srv, srv.NewBucket(t), "ckpt/iris", S3Options{})}
		},
		"local": func(t *testing.T) Checkpoints { return LocalCheckpoints{Dir: filepath.Join(t.TempDir(), "ckpt")} },
	}
}

func seed(t *testing.T, st Store, key, body string) {
	t.Helper()
	if _, err := st.PutStream(context.Background(), key, bytes.NewReader([]byte(body)), StreamOptions{}); err != nil {
		t.Fatal(err)
	}
}

// remoteBody reads an object; ok is false when there is none.
func remoteBody(t *testing.T, st Store, key string) (body []byte, ok bool) {
	t.Helper()
	r, err := st.Open(context.Background(), key, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func fastSync(t *testing.T) SyncOptions {
	log, _ := newLog()
	return SyncOptions{Interval: 100 * time.Millisecond, Settle: 400 * time.Millisecond, Log: log}
}

// TestSyncDuringTheRun restores two checkpoints, then has a "trainer"
// write a checkpoint per epoch while another file is written slowly: the
// store must catch up while the trainer still runs, must never hold the
// slow file half-written, must not get the restored files back, and must
// get a file written just before Stop.
func TestSyncDuringTheRun(t *testing.T) {
	for name, open := range checkpointKinds(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			cp := open(t)
			seed(t, cp.Store(), "epoch-00.ckpt", "restored")
			seed(t, cp.Store(), "sub/meta.json", "{}")
			local := t.TempDir()
			if err := cp.Restore(ctx, local); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(local, "sub", "meta.json")); string(b) != "{}" {
				t.Fatalf("restored %q", b)
			}
			rs := &recordingStore{Store: cp.Store()}
			syncer := Sync(ctx, local, recordingCheckpoints{cp, rs}, fastSync(t))

			slow := bytes.Repeat([]byte("0123456789abcdef"), 4096*10)
			var trainerDone, slowDone atomic.Bool
			go trainer(t, local, 6, &trainerDone)
			go slowWriter(t, filepath.Join(local, "slow.bin"), slow, &slowDone)

			caughtUp := watchRemote(t, rs, slow, &trainerDone, &slowDone)
			t.Logf("the store had up to %d of 6 epochs while the trainer ran", caughtUp)
			if caughtUp < 2 {
				t.Errorf("while the trainer ran the store had %d of its checkpoints at most: the sync should catch up during the run", caughtUp)
			}
			waitFor(t, 5*time.Second, "all six epochs in the store before Stop", func() bool {
				for e := 1; e <= 6; e++ {
					if _, ok := remoteBody(t, rs, fmt.Sprintf("epoch-%02d.ckpt", e)); !ok {
						return false
					}
				}
				return true
			})

			write(t, filepath.Join(local, "last.ckpt"), "written just before the stop")
			if err := os.Remove(filepath.Join(local, "epoch-01.ckpt")); err != nil {
				t.Fatal(err)
			}
			if err := syncer.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if b, ok := remoteBody(t, rs, "last.ckpt"); !ok || string(b) != "written just before the stop" {
				t.Errorf("Stop did not sync a file that had not settled: %q %v", b, ok)
			}
			if _, ok := remoteBody(t, rs, "epoch-01.ckpt"); !ok {
				t.Error("a file deleted locally was deleted from the store")
			}
			for _, k := range rs.puts() {
				if k == "epoch-00.ckpt" || k == "sub/meta.json" {
					t.Errorf("restored file %s was uploaded back", k)
				}
			}
		})
	}
}

// trainer writes a checkpoint per epoch, 300 ms apart.
func trainer(t *testing.T, dir string, epochs int, done *atomic.Bool) {
	defer done.Store(true)
	for e := 1; e <= epochs; e++ {
		randomFile(t, filepath.Join(dir, fmt.Sprintf("epoch-%02d.ckpt", e)), 256<<10, uint64(e))
		time.Sleep(300 * time.Millisecond)
	}
}

// slowWriter writes body in 10 pieces, 200 ms apart: longer than a scan
// interval, shorter than the settle time.
func slowWriter(t *testing.T, path string, body []byte, done *atomic.Bool) {
	defer done.Store(true)
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	piece := len(body) / 10
	for off := 0; off < len(body); off += piece {
		if _, err := f.Write(body[off:min(off+piece, len(body))]); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// watchRemote polls the store until both writers are done and returns how
// many epochs it had at most while the trainer ran; it fails the test if
// it ever sees the slow file other than whole.
func watchRemote(t *testing.T, st Store, slow []byte, trainerDone, slowDone *atomic.Bool) int {
	most := 0
	for !trainerDone.Load() || !slowDone.Load() {
		if b, ok := remoteBody(t, st, "slow.bin"); ok && !bytes.Equal(b, slow) {
			t.Errorf("the store held slow.bin half-written: %d of %d bytes", len(b), len(slow))
		}
		n := 0
		for e := 1; e <= 6; e++ {
			if _, ok := remoteBody(t, st, fmt.Sprintf("epoch-%02d.ckpt", e)); ok {
				n++
			}
		}
		if !trainerDone.Load() {
			most = max(most, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return most
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSyncMirrorDeletes(t *testing.T) {
	for name, open := range checkpointKinds(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			cp := open(t)
			seed(t, cp.Store(), "old.ckpt", "old")
			local := t.TempDir()
			if err := cp.Restore(ctx, local); err != nil {
				t.Fatal(err)
			}
			o := fastSync(t)
			o.MirrorDeletes = true
			syncer := Sync(ctx, local, cp, o)
			write(t, filepath.Join(local, "new.ckpt"), "new")
			waitFor(t, 5*time.Second, "new.ckpt in the store", func() bool { _, ok := remoteBody(t, cp.Store(), "new.ckpt"); return ok })
			os.Remove(filepath.Join(local, "old.ckpt"))
			os.Remove(filepath.Join(local, "new.ckpt"))
			if err := syncer.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"old.ckpt", "new.ckpt"} {
				if _, ok := remoteBody(t, cp.Store(), k); ok {
					t.Errorf("%s deleted locally is still in the store", k)
				}
			}
		})
	}
}

// TestSyncStopIsFastForUnchangedFiles: after a sync of many files, Stop
// sends only the one that changed.
func TestSyncStopSendsOnlyWhatChanged(t *testing.T) {
	for name, open := range checkpointKinds(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			cp := open(t)
			local := t.TempDir()
			smallFiles(t, local, 200)
			rs := &recordingStore{Store: cp.Store()}
			syncer := Sync(ctx, local, recordingCheckpoints{cp, rs}, fastSync(t))
			waitFor(t, 20*time.Second, "200 files synced", func() bool { return len(rs.puts()) >= 200 })
			time.Sleep(300 * time.Millisecond)
			rs.reset()
			randomFile(t, filepath.Join(local, "layer-00", "sub-0", "w-000.bin"), 5000, 99)
			if err := syncer.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if puts := rs.puts(); !slices.Equal(puts, []string{"layer-00/sub-0/w-000.bin"}) {
				t.Errorf("Stop sent %v", puts)
			}
			if err := syncer.Stop(ctx); err != nil || len(rs.puts()) != 1 {
				t.Errorf("a second Stop: %v, %d uploads", err, len(rs.puts()))
			}
			sameFiles(t, storeFiles(t, cp.Store(), ""), localFiles(t, local))
		})
	}
}

func TestS3CheckpointsRestoreSkipsUnchangedAndSaveAddsOnly(t *testing.T) {
	ctx := testCtx(t)
	bucket := srv.NewBucket(t)
	cp := S3Checkpoints{S3: newS3Store(t, srv, bucket, "c", S3Options{})}
	srv.Put(t, bucket, "c/a/b.ckpt", []byte("ab"))
	srv.Put(t, bucket, "c/folder/", nil) // a console "folder"
	srv.Put(t, bucket, "c/../escape", []byte("x"))
	local := t.TempDir()
	if err := cp.Restore(ctx, local); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(local, "folder")); err != nil || !info.IsDir() {
		t.Errorf("folder marker: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(local), "escape")); err == nil {
		t.Error("a key with .. was restored outside the folder")
	}
	// A second restore downloads nothing: the server going away shows it.
	before, _ := os.Stat(filepath.Join(local, "a", "b.ckpt"))
	if err := cp.Restore(ctx, local); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(local, "a", "b.ckpt"))
	if !os.SameFile(before, after) {
		t.Error("an unchanged file was downloaded again")
	}
	os.Remove(filepath.Join(local, "a", "b.ckpt"))
	write(t, filepath.Join(local, "n.ckpt"), "n")
	if err := cp.Save(ctx, local); err != nil {
		t.Fatal(err)
	}
	got := srv.List(t, bucket, "c/")
	if !slices.Contains(got, "c/a/b.ckpt") || !slices.Contains(got, "c/n.ckpt") {
		t.Errorf("after Save: %v", got)
	}
	head, err := srv.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("c/n.ckpt")})
	if err != nil || aws.ToInt64(head.ContentLength) != 1 {
		t.Errorf("n.ckpt: %v", err)
	}
}
