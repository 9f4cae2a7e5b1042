//go:build !linux

package testproc

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

// ParentOf needs /proc: elsewhere no process is known.
func ParentOf(int) (int, bool) { return 0, false }

// Alive needs /proc: elsewhere no process is known.
func Alive(int) bool { return false }

// Children needs /proc: elsewhere no process is known.
func Children() map[int][]int { return map[int][]int{} }
