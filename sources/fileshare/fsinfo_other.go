//go:build !linux

package fileshare

import (
	"io/fs"
	"os"
)

const openFlags = os.O_RDONLY

// fingerprintOf uses size and mtime only where ctime and inode are not
// portably available; a same-size rewrite within one mtime tick is missed.
func fingerprintOf(fi fs.FileInfo) fingerprint {
	return fingerprint{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
