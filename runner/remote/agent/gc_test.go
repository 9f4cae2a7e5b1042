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
	// Agent binaries: the one running gc, another version, a link to it.
	bin := filepath.Join(root, BinDir)
	os.MkdirAll(bin, 0o755)
	self, other := filepath.Join(bin, "jobrun-self"), filepath.Join(bin, "jobrun-other")
	os.WriteFile(self, []byte("self"), 0o755)
	os.WriteFile(other, []byte("other"), 0o755)
	os.Symlink(self, filepath.Join(bin, "jobrun-link"))
	time.Sleep(20 * time.Millisecond)

	dry, err := GC(root, 0, true, self)
	if err != nil || len(dry) != 3 || dry[0].Job != "ended" || filepath.Base(dry[1].Path) != "unused" || dry[1].Bytes != 6 ||
		dry[2].Kind != "agent" || dry[2].Path != other || dry[2].Bytes != 5 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if _, err := os.Stat(string(ended)); err != nil {
		t.Fatal("a dry run removed something")
	}
	if got, err := GC(root, time.Hour, false, self); err != nil || len(got) != 0 {
		t.Errorf("nothing is an hour old: %+v, %v", got, err)
	}
	if _, err := GC(root, 0, false, self); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{string(ended): false, string(starting): true,
		filepath.Join(blobs, "used"): true, filepath.Join(blobs, "unused"): false, self: true, other: false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", p, err == nil, want)
		}
	}
}
