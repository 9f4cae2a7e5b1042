//go:build !linux

package dockertest

import (
	"errors"
	"os"
)

var errNotLinux = errors.New("dockertest: a private dockerd needs Linux")

func checkOS() error                   { return errNotLinux }
func lockNew(string) (*os.File, error) { return nil, errNotLinux }
func tryLock(string) (*os.File, bool)  { return nil, false }
func killUsers(string)                 {}
func unmountUnder(string) error        { return nil }
