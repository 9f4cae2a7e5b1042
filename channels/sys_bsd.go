//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package channels

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TIOCGETA

// preallocate sets f's size; the parts are then written at their offsets.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// Unnamed temp files are a Linux feature; elsewhere blobs are written to
// .tmp- files and renamed.
func openUnnamed(dir string) (*os.File, error) { return nil, errors.ErrUnsupported }
func linkUnnamed(f *os.File, dst string) error { return errors.ErrUnsupported }
func unnamedWorks(string) bool                 { return false }
