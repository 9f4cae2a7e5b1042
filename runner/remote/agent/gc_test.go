package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jobrun/jobrun/spec"
)

func TestGC(t *testing.T) {
	root := t.TempDir()
	blobs := filepath.Join(root, UploadsDir, "blobs")
	os.MkdirAll(blobs, 0o755)
	mkJob := func(name string) Dir {
		d := Dir(filepath.Join(root, JobsDir, name))
		os.MkdirAll(d.Path(InputsDir), 0o700)
		d.WriteRequest(&Request{JobName: name, Spec: &spec.Spec{}})
		return d
	}
	ended, starting := mkJob("ended"), mkJob("starting")
	Finish(ended, "ended", "", "Completed", "", nil)
	for _, b := range []string{"used", "unused"} {
		os.WriteFile(filepath.Join(blobs, b), []byte(b), 0o444)
	}
	os.Link(filepath.Join(blobs, "used"), starting.Path(InputsDir+"/f"))
	time.Sleep(20 * time.Millisecond)

	dry, err := GC(root, 0, true)
	if err != nil || len(dry) != 2 || dry[0].Job != "ended" || filepath.Base(dry[1].Path) != "unused" || dry[1].Bytes != 6 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if _, err := os.Stat(string(ended)); err != nil {
		t.Fatal("a dry run removed something")
	}
	if got, err := GC(root, time.Hour, false); err != nil || len(got) != 0 {
		t.Errorf("nothing is an hour old: %+v, %v", got, err)
	}
	if _, err := GC(root, 0, false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{string(ended): false, string(starting): true,
		filepath.Join(blobs, "used"): true, filepath.Join(blobs, "unused"): false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", p, err == nil, want)
		}
	}
}
