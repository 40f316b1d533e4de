//go:build linux

package fileshare

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlags never blocks on a FIFO swapped in after the Lstat check.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

func fingerprintOf(fi fs.FileInfo) fingerprint {
	fp := fingerprint{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fp.ctime = st.Ctim.Nano()
		fp.ino = st.Ino
		fp.dev = uint64(st.Dev)
	}
	return fp
}
