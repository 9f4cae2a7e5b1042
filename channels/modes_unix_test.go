//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package channels

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStageUmask stages with a umask that would hide the files from
// other users: modes must still be 0444 and 0755.
func TestStageUmask(t *testing.T) {
	e := newEnv(t)
	e.put(t, "u/d/a", []byte("a"))
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	st := stageOK(t, e.stager(), e.workDir(t), input("train", "s3://data/u/"))
	for name, want := range map[string]os.FileMode{"": 0o755, "d": 0o755, "d/a": 0o444} {
		fi, err := os.Stat(filepath.Join(st[0].Dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%q: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
}
