package artifacts

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadFailure(t *testing.T) {
	dir := t.TempDir()
	if got := ReadFailure(dir); got != "" {
		t.Errorf("no failure file: got %q", got)
	}
	long := strings.Repeat("é", 2000)
	write(t, filepath.Join(dir, "failure"), long)
	if got := ReadFailure(dir); len([]rune(got)) != 1024 || got != long[:2048] {
		t.Errorf("got %d runes, want SageMaker's 1024", len([]rune(got)))
	}
	write(t, filepath.Join(dir, "failure"), "  bad input\n")
	if got := ReadFailure(dir); got != "bad input" {
		t.Errorf("got %q", got)
	}
}

func TestArchiveKeepsLinksAsLinks(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	write(t, filepath.Join(model, "weights.bin"), "w")
	write(t, filepath.Join(model, "sub", "config.json"), "{}")
	write(t, filepath.Join(dir, "secret"), "do not ship")
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(model, "link")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "model.tar.gz")
	if err := Archive(model, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(model); !os.IsNotExist(err) {
		t.Errorf("archived folder should be gone: %v", err)
	}
	names, bodies := readTarGz(t, dst)
	want := []string{"link", "sub/", "sub/config.json", "weights.bin"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("entries = %v, want %v", names, want)
	}
	if strings.Contains(strings.Join(bodies, ""), "do not ship") {
		t.Error("a symlink out of the model folder was followed")
	}
}

func readTarGz(t *testing.T, path string) (names, bodies []string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names, bodies = append(names, h.Name), append(bodies, string(b))
	}
	sort.Strings(names)
	return names, bodies
}

func TestCheckpointsRestoreAndSave(t *testing.T) {
	dir := t.TempDir()
	store := LocalCheckpoints{Dir: filepath.Join(dir, "store")}
	work := filepath.Join(dir, "work")
	if err := store.Restore(context.Background(), work); err != nil {
		t.Fatalf("restoring from a store that does not exist yet: %v", err)
	}
	write(t, filepath.Join(work, "epoch-1", "ckpt"), "1")
	if err := store.Save(context.Background(), work); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(work, "epoch-1"))
	write(t, filepath.Join(work, "epoch-2", "ckpt"), "2")
	if err := store.Save(context.Background(), work); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"epoch-1/ckpt", "epoch-2/ckpt"} {
		if _, err := os.Stat(filepath.Join(store.Dir, p)); err != nil {
			t.Errorf("%s: %v (saves add, never delete)", p, err)
		}
	}
	restored := filepath.Join(dir, "restored")
	if err := store.Restore(context.Background(), restored); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(restored, "epoch-2", "ckpt")); string(b) != "2" {
		t.Errorf("restored %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(store.Dir, "*", ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRecordsRoundTripNewestFirst(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"old", "new"} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		code := i
		if err := WriteRecord(filepath.Join(dir, name), &Record{JobName: name, CreatedAt: t0.Add(time.Duration(i) * time.Hour), ExitCode: &code}); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "not-a-run"), 0o755)
	st, err := NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ListRuns(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].JobName != "new" || *recs[1].ExitCode != 0 {
		t.Errorf("records = %+v", recs)
	}
	missing, _ := NewLocalStore(filepath.Join(dir, "missing"))
	if recs, err := ListRuns(context.Background(), missing); err != nil || len(recs) != 0 {
		t.Errorf("a missing output folder lists nothing: %v %v", recs, err)
	}
}

func TestForeignOwned(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "x")
	if ForeignOwned(os.Getuid(), dir) {
		t.Error("our own files reported as foreign")
	}
	if !ForeignOwned(os.Getuid()+1, dir) {
		t.Error("files of another uid not reported")
	}
}
