package channels

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TCGETS

// preallocate reserves size bytes for f, so that a full disk fails the
// download at once rather than half-way, and ranged parts written out of
// order do not fragment the file. Where fallocate is not supported it
// only sets the size.
func preallocate(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if err == unix.ENOSPC {
		return err
	}
	return f.Truncate(size)
}

// openUnnamed creates a read-write file without a name in dir
// (O_TMPFILE): it gets one only when linkUnnamed links it.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)")), nil
}

// linkUnnamed gives the open file f the name dst. Linking a descriptor by
// itself (AT_EMPTY_PATH) needs a capability; its /proc/self/fd entry does
// not.
func linkUnnamed(f *os.File, dst string) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: err}
	}
	return nil
}

// unnamedWorks reports whether unnamed temp files can be made and linked
// in dir: not every file system supports O_TMPFILE, and /proc may be
// missing.
func unnamedWorks(dir string) bool {
	f, err := openUnnamed(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	probe := filepath.Join(dir, tempPrefix+"probe-"+randomSuffix())
	if linkUnnamed(f, probe) != nil {
		return false
	}
	os.Remove(probe)
	return true
}

// directMountFlags are FastFile's mount(2) flags: read-only, no setuid
// programs, no devices.
const directMountFlags = syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV

// lazyUnmount detaches a mount even while it is busy.
func lazyUnmount(dir string) error { return syscall.Unmount(dir, syscall.MNT_DETACH) }

// pipeBufSize is the kernel buffer jobrun asks for on each FIFO: Linux
// defaults to 64 KiB, and a bigger one lets S3 reads and the container's
// reads overlap. Unprivileged processes may go up to
// /proc/sys/fs/pipe-max-size (1 MiB by default).
const pipeBufSize = 1 << 20

// growPipe asks for a bigger kernel pipe buffer; failing is harmless.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBufSize)
		})
	}
}
