//go:build !linux

package agent

import (
	"io/fs"
	"time"
)

// unlinkedSince keeps every blob: agents run on Linux only.
func unlinkedSince(fs.FileInfo, time.Time) bool { return false }
