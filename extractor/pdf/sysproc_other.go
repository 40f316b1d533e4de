//go:build !linux

package pdf

import "syscall"

// childSysProcAttr: without Linux's parent-death signal a stray pdftotext
// is left to the pool's process-group kill (where available) and to
// pdftotext's own end.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
