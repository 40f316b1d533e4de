//go:build !unix

package store

import "os"

// lockFile is a no-op where flock is unavailable; SQLite's own locking still
// keeps the database consistent.
func lockFile(path string) (*os.File, error) { return nil, nil }
