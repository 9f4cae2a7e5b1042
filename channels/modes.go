package channels

import (
	"io/fs"
	"os"
	"sync"
)

// modeCheck restores a mode the umask narrowed. Staged files must be
// readable (0444) and directories searchable (0755) by everyone: the
// container's user is often not the one running jobrun (a USER in the
// image, user-namespace remapping). One stat of the first file tells
// whether the umask interferes; only then does every file cost a chmod.
type modeCheck struct {
	once   sync.Once
	masked bool
}

// fix gives the file or directory name (or the open file f, when not
// nil) the mode want, if the umask took bits away.
func (m *modeCheck) fix(f *os.File, name string, want fs.FileMode) error {
	m.once.Do(func() {
		var fi fs.FileInfo
		var err error
		if f != nil {
			fi, err = f.Stat()
		} else {
			fi, err = os.Stat(name)
		}
		m.masked = err != nil || fi.Mode().Perm() != want
	})
	switch {
	case !m.masked:
		return nil
	case f != nil:
		return f.Chmod(want)
	}
	return os.Chmod(name, want)
}
