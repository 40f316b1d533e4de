//go:build linux

package pdf

import "syscall"

// childSysProcAttr makes the kernel kill pdftotext when the process that
// started it dies (a worker killed for a timeout or its memory), so a
// hostile PDF cannot keep a pdftotext running, or its temporary file open,
// after its worker is gone. The pool also kills the worker's whole process
// group; this covers a parent that dies without the pool's help.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
