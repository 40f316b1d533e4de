//go:build !linux

package extractor

import (
	"os"
	"runtime/debug"
	"syscall"
)

// applyMemoryLimit: without Linux's RLIMIT_DATA semantics only the soft Go
// limit is available; the parent's timeout still bounds a runaway parser.
func applyMemoryLimit(limit int64) (string, error) {
	if limit <= 0 {
		return "none", nil
	}
	debug.SetMemoryLimit(limit / 100 * 85)
	return "GOMEMLIMIT", nil
}

func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the worker; without process groups its children are left
// to their own end.
func killGroup(p *os.Process) { _ = p.Kill() }

func rss(pid int) (int64, bool) { return 0, false }
