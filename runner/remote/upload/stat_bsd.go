//go:build darwin || freebsd || netbsd

package upload

import (
	"io/fs"
	"syscall"
)

// statID returns fi's identity; ok is false when fi carries no inode.
func statID(fi fs.FileInfo) (id fileID, ok bool) {
	id.Size = fi.Size()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return id, false
	}
	id.Mtime = st.Mtimespec.Nano()
	id.Ctime = st.Ctimespec.Nano()
	id.Dev, id.Ino = uint64(st.Dev), uint64(st.Ino)
	return id, true
}
