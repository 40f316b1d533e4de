package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrBadAddress: a blob address that is not a hex SHA-256.
var ErrBadAddress = errors.New("invalid blob address")

// errBlobWrite marks a failure to write the delivery store (disk full): not
// the source's fault, so it never counts toward giving a row up.
var errBlobWrite = errors.New("delivery store write failed")

// Blobs is the content-addressed store of encrypted items and bundles
// under the data directory: dir/ab/abcdef….  A blob is written to a
// temporary name in dir/tmp, synced and renamed into place, so a crash
// leaves either the whole blob or a temporary file the sweep removes. Only
// ciphertext and the bundles' index pages are stored here.
type Blobs struct {
	dir string
}

// NewBlobs opens (creating) the blob store at dir.
func NewBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("delivery store: %w", err)
	}
	return &Blobs{dir: dir}, nil
}

// Dir returns the store's directory.
func (b *Blobs) Dir() string { return b.dir }

// BlobWriter is a blob being written. Commit or Abort it.
type BlobWriter struct {
	b    *Blobs
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

// Create starts a new blob.
func (b *Blobs) Create() (*BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("delivery store: %w", err)
	}
	return &BlobWriter{b: b, f: f, h: sha256.New()}, nil
}

func (w *BlobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		err = fmt.Errorf("%w: %v", errBlobWrite, err)
	}
	return n, err
}

// Commit syncs the blob and moves it to its content address.
func (w *BlobWriter) Commit() (addr string, size int64, err error) {
	if w.done {
		return "", 0, errors.New("delivery store: blob already finished")
	}
	w.done = true
	tmp := w.f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return "", 0, fmt.Errorf("delivery store: sync: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return "", 0, fmt.Errorf("delivery store: close: %w", err)
	}
	addr = hex.EncodeToString(w.h.Sum(nil))
	dst := w.b.path(addr)
	dir := filepath.Dir(dst)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", 0, fmt.Errorf("delivery store: %w", err)
		}
		if err := syncDir(w.b.dir); err != nil { // the new folder's entry
			return "", 0, err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", 0, fmt.Errorf("delivery store: rename: %w", err)
	}
	// The rename must be durable before the database names the blob.
	if err := syncDir(dir); err != nil {
		return "", 0, err
	}
	return addr, w.n, nil
}

// Abort discards the blob. It is safe after Commit (then it does nothing).
func (w *BlobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

func (b *Blobs) path(addr string) string {
	return filepath.Join(b.dir, addr[:2], addr)
}

func validAddr(addr string) bool {
	if len(addr) != 64 {
		return false
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Open opens the blob at addr.
func (b *Blobs) Open(addr string) (*os.File, error) {
	if !validAddr(addr) {
		return nil, ErrBadAddress
	}
	f, err := os.Open(b.path(addr))
	if err != nil {
		return nil, fmt.Errorf("delivery store: open blob: %w", err)
	}
	return f, nil
}

// Sweep removes temporary files and blobs no record refers to, when they
// are older than minAge (so a delivery writing right now keeps its blobs
// until it commits). It returns how many files it removed.
func (b *Blobs) Sweep(ctx context.Context, minAge time.Duration, referenced func(ctx context.Context, addr string) (bool, error)) (int, error) {
	cutoff := time.Now().Add(-minAge)
	removed := 0
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		name := d.Name()
		if filepath.Base(filepath.Dir(p)) == "tmp" && strings.HasPrefix(name, "blob-") {
			if os.Remove(p) == nil {
				removed++
			}
			return nil
		}
		if !validAddr(name) {
			return nil
		}
		ok, err := referenced(ctx, name)
		if err != nil {
			return err
		}
		if !ok && os.Remove(p) == nil {
			removed++
		}
		return nil
	})
	return removed, err
}

// copyBlob streams the blob at addr into w.
func (b *Blobs) copyBlob(w io.Writer, addr string) (int64, error) {
	f, err := b.Open(addr)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("delivery store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("delivery store: sync %s: %w", filepath.Base(dir), err)
	}
	return nil
}
