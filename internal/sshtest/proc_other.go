//go:build !linux

package sshtest

import "os"

// The harness runs sshd on Linux only; these stubs keep the package
// building elsewhere.

func descendants(root int) []int { return []int{root} }

// Alive reports whether pid is a live process (not known off Linux).
func Alive(pid int) bool { return false }

func killAll(pids []int) {
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}

func parsePids(string) []int { return nil }

func union(a, b []int) []int { return append(a, b...) }
