//go:build linux

package extractor

import (
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
)

// applyMemoryLimit bounds this process's memory. RLIMIT_DATA is the hard
// bound: since Linux 4.7 it counts private anonymous mappings, i.e. the Go
// heap, so an allocation beyond it fails and the runtime dies with "out of
// memory". RLIMIT_AS cannot be used: an idle Go process already reserves
// ~1.2 GB of address space. The soft GOMEMLIMIT at 85% makes the GC work
// harder before the hard limit, so garbage alone does not kill the worker.
// Measurements: BENCHMARKS.md, "Extraction sandbox".
func applyMemoryLimit(limit int64) (string, error) {
	if limit <= 0 {
		return "none", nil
	}
	debug.SetMemoryLimit(limit / 100 * 85)
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &cur); err != nil {
		return "", err
	}
	v := uint64(limit)
	if cur.Max < v {
		v = cur.Max // cannot raise the hard limit; keep the tighter one
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: v, Max: v}); err != nil {
		return "", fmt.Errorf("setrlimit RLIMIT_DATA: %w", err)
	}
	return "RLIMIT_DATA=" + strconv.FormatUint(v, 10) + ",GOMEMLIMIT", nil
}

// sysProcAttr makes the kernel kill a worker whose parent dies (stdin EOF
// would end it too, but not one stuck in a parser), and puts the worker in
// a process group of its own: a terminal's Ctrl-C then reaches only the
// parent (which cancels and drains), and killGroup takes the worker's
// children (pdftotext) with it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup sends SIGKILL to p's process group (p leads it: Setpgid) and to
// p itself. A group id stays reserved while any member lives, so after a
// crash the group signal still reaches a surviving pdftotext.
func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

var pageSize = int64(os.Getpagesize())

// rss returns the resident set size of pid in bytes.
func rss(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * pageSize, true
}
