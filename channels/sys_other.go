//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package channels

import (
	"errors"
	"io/fs"
	"os"
)

func linkCount(fs.FileInfo) uint64                  { return 1 }
func processAlive(int) bool                         { return true }
func diskSpace(string) (avail, size int64, ok bool) { return 0, 0, false }
func isTerminal(*os.File) bool                      { return false }
func termWidth(*os.File) int                        { return 80 }
func preallocate(f *os.File, size int64) error      { return f.Truncate(size) }

// Unnamed temp files are a Linux feature; elsewhere blobs are written to
// .tmp- files and renamed.
func openUnnamed(dir string) (*os.File, error) { return nil, errors.ErrUnsupported }
func linkUnnamed(f *os.File, dst string) error { return errors.ErrUnsupported }
func unnamedWorks(string) bool                 { return false }

// FastFile mounts itself (mount(2) flags, lazy unmount) and resizes pipe
// buffers on Linux only; elsewhere go-fuse's own mounting applies (FastFile
// falls back to File mode when it fails) and pipes keep their size.
const directMountFlags = 0

func lazyUnmount(string) error { return errors.New("lazy unmount needs Linux") }
func growPipe(*os.File)        {}
