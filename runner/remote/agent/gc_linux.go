package agent

import (
	"io/fs"
	"syscall"
	"time"
)

// unlinkedSince reports whether a blob has no other link and its link
// count has not changed since t (ctime moves with every link and unlink).
func unlinkedSince(fi fs.FileInfo, t time.Time) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink <= 1 && time.Unix(st.Ctim.Unix()).Before(t)
}
