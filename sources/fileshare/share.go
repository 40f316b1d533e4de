package fileshare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/extractor/sniff"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// Options configures a Share. DataType and PublicURL are required.
type Options struct {
	// DataType is the gdpr-data-type:data-type-id of every document.
	DataType string
	// PublicURL is the base URL the pipeline reaches this source at; the
	// extract-content URLs are built from it (never from a request's Host).
	PublicURL string
	// OriginalURLBase, when set, is the base of the original-url a reviewer
	// opens (e.g. "smb://fileserver/hr" or "https://intranet/files"); the
	// escaped relative path is appended. Empty: original-url is the
	// extract-content URL.
	OriginalURLBase string
	// IDPrefix starts every _id and document_id: "<IDPrefix>:<relative path>"
	// (default "fileshare").
	IDPrefix string
	// Dataset is the store dataset holding the entities (default
	// "fileshare/<IDPrefix>").
	Dataset string
	// BatchSize is how many files one store transaction covers (default 500).
	BatchSize int
	// Workers bounds concurrent file reads (hashing) during a rescan
	// (default 4: reads are mostly I/O bound, network shares especially).
	Workers int
	// AllowEmptyRoot lets a rescan that finds the root completely empty
	// delete every known document. By default that is refused as an error,
	// because an unmounted share looks exactly like an empty directory.
	AllowEmptyRoot bool
	// Logger (default slog.Default()). Paths and names are never logged.
	Logger *slog.Logger
}

// Share is a file-share Source. It is safe for concurrent use.
type Share struct {
	root     string // absolute
	st       *store.Store
	opt      Options
	dataset  string
	cfg      string // hash of the options that shape entity bodies
	log      *slog.Logger
	scanning chan struct{}
	// failHook, in tests, makes opening the given key fail as a permission
	// error would (tests may run as root, which reads everything).
	failHook func(key string) error
}

var (
	_ sources.Source    = (*Share)(nil)
	_ sources.RawSource = (*Share)(nil)
)

// maxDepth bounds directory nesting (and so open descriptors during a walk).
const maxDepth = 128

// New returns a Share over the directory root, keeping its state in st. It
// does not scan: call Rescan or Run.
func New(root string, st *store.Store, opt Options) (*Share, error) {
	if st == nil {
		return nil, errors.New("fileshare: no store")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fileshare: root: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("fileshare: open root: %w", err)
	}
	r.Close()
	if strings.TrimSpace(opt.DataType) == "" {
		return nil, errors.New("fileshare: a data type is required")
	}
	if err := sources.CheckPublicURL(opt.PublicURL); err != nil {
		return nil, fmt.Errorf("fileshare: %w", err)
	}
	if opt.OriginalURLBase != "" {
		u, err := url.Parse(opt.OriginalURLBase)
		if err != nil || u.Scheme == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("fileshare: original URL base must be an absolute URL without query or fragment")
		}
	}
	if opt.IDPrefix == "" {
		opt.IDPrefix = "fileshare"
	}
	if strings.ContainsAny(opt.IDPrefix, ":/ ") {
		return nil, errors.New("fileshare: the id prefix must not contain ':', '/' or spaces")
	}
	if opt.Dataset == "" {
		opt.Dataset = "fileshare/" + opt.IDPrefix
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := sha256.Sum256([]byte(strings.Join([]string{"v1", opt.DataType, opt.PublicURL, opt.OriginalURLBase, opt.IDPrefix}, "\x00")))
	return &Share{
		root:     abs,
		st:       st,
		opt:      opt,
		dataset:  opt.Dataset,
		cfg:      hex.EncodeToString(h[:8]),
		log:      opt.Logger.With("source", "fileshare", "dataset", opt.Dataset),
		scanning: make(chan struct{}, 1),
	}, nil
}

// Dataset returns the store dataset the share publishes.
func (s *Share) Dataset() string { return s.dataset }

// ID returns the _id (and document_id) of the file at the slash path key.
func (s *Share) ID(key string) string { return s.opt.IDPrefix + ":" + key }

// Changes implements sources.Source.
func (s *Share) Changes(ctx context.Context, since int64, limit int, fn func(sources.Document) error) error {
	return s.st.Since(ctx, s.dataset, since, limit, func(e store.Entity) error {
		var d sources.Document
		if err := json.Unmarshal(e.Body, &d); err != nil {
			return fmt.Errorf("fileshare: stored entity %d is corrupt: %w", e.Seq, err)
		}
		d.ID, d.Seq, d.Deleted = e.ID, e.Seq, e.Deleted
		return fn(d)
	})
}

// RawChanges implements sources.RawSource: entities go out in the store's
// published JSON form without re-encoding.
func (s *Share) RawChanges(ctx context.Context, since int64, limit int, fn func(int64, []byte) error) error {
	var buf []byte
	return s.st.Since(ctx, s.dataset, since, limit, func(e store.Entity) error {
		buf = e.AppendJSON(buf[:0])
		return fn(e.Seq, buf)
	})
}

// Open implements sources.Source. It serves only live, published documents,
// and re-checks every path element (no symlinks, no hidden names, only a
// regular file at the end) at open time.
func (s *Share) Open(ctx context.Context, key string) (*sources.Content, error) {
	if !sources.ValidKey(key) {
		return nil, sources.ErrNotFound
	}
	e, err := s.st.Get(ctx, s.dataset, s.ID(key))
	if errors.Is(err, store.ErrNotFound) || err == nil && e.Deleted {
		return nil, sources.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("fileshare: look up document: %w", err)
	}
	f, fi, err := openInRoot(s.root, key)
	if err != nil {
		return nil, err
	}
	head := make([]byte, min(fi.Size(), sniff.HeadSize))
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, fmt.Errorf("fileshare: read document: %w", err)
	}
	return &sources.Content{
		ReadSeekCloser: f,
		Size:           fi.Size(),
		ModTime:        fi.ModTime(),
		Name:           path.Base(key),
		MIMEType:       sniff.Detect(head[:n], f, fi.Size(), path.Base(key)),
	}, nil
}

// errNotSame reports that a path changed between its check and its open.
var errNotSame = errors.New("file changed while being opened")

// openInRoot opens the regular file at key under rootDir, walking one
// element at a time: each directory is Lstat'ed (a symlink is refused even
// if it points inside), opened as its own os.Root and compared with what
// Lstat saw, so a swap between check and open is detected; the file itself
// is checked the same way. Missing or refused paths wrap ErrNotFound.
func openInRoot(rootDir, key string) (*os.File, fs.FileInfo, error) {
	if !sources.ValidKey(key) {
		return nil, nil, sources.ErrNotFound
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, nil, fmt.Errorf("fileshare: open root: %w", err)
	}
	cur := root
	defer func() { cur.Close() }()
	elems := strings.Split(key, "/")
	// Only a permission problem is the operator's to fix (a 500 and a log
	// line); anything else (missing, not a directory, escaping, a loop) is
	// simply not a document we serve.
	notFound := func(err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("fileshare: open document: %w", err)
		}
		return sources.ErrNotFound
	}
	for _, el := range elems[:len(elems)-1] {
		fi, err := cur.Lstat(el)
		if err != nil {
			return nil, nil, notFound(err)
		}
		if !fi.IsDir() { // symlinks are not dirs under Lstat
			return nil, nil, sources.ErrNotFound
		}
		next, err := cur.OpenRoot(el)
		if err != nil {
			return nil, nil, notFound(err)
		}
		nfi, err := next.Stat(".")
		if err != nil || !os.SameFile(fi, nfi) {
			next.Close()
			return nil, nil, sources.ErrNotFound
		}
		cur.Close()
		cur = next
	}
	last := elems[len(elems)-1]
	fi, err := cur.Lstat(last)
	if err != nil {
		return nil, nil, notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, sources.ErrNotFound
	}
	f, err := cur.OpenFile(last, openFlags, 0)
	if err != nil {
		return nil, nil, notFound(err)
	}
	ffi, err := f.Stat()
	if err != nil || !ffi.Mode().IsRegular() || !os.SameFile(fi, ffi) {
		f.Close()
		return nil, nil, sources.ErrNotFound
	}
	return f, ffi, nil
}

// fingerprint identifies a file version without reading it.
type fingerprint struct {
	size, mtime, ctime int64
	ino, dev           uint64
}

// aux is what the store keeps privately per file: fingerprint, the
// options hash the body was built with, and the content hash and MIME type,
// so an options change can rebuild bodies without re-reading files.
type aux struct {
	fp   fingerprint
	cfg  string
	sha  string
	mime string
}

func (a aux) String() string {
	return strings.Join([]string{"1",
		strconv.FormatInt(a.fp.size, 10), strconv.FormatInt(a.fp.mtime, 10), strconv.FormatInt(a.fp.ctime, 10),
		strconv.FormatUint(a.fp.ino, 10), strconv.FormatUint(a.fp.dev, 10), a.cfg, a.sha, a.mime}, " ")
}

func parseAux(s string) (aux, bool) {
	f := strings.Split(s, " ")
	if len(f) != 9 || f[0] != "1" {
		return aux{}, false
	}
	var a aux
	var err error
	var errs [5]error
	a.fp.size, errs[0] = strconv.ParseInt(f[1], 10, 64)
	a.fp.mtime, errs[1] = strconv.ParseInt(f[2], 10, 64)
	a.fp.ctime, errs[2] = strconv.ParseInt(f[3], 10, 64)
	a.fp.ino, errs[3] = strconv.ParseUint(f[4], 10, 64)
	a.fp.dev, errs[4] = strconv.ParseUint(f[5], 10, 64)
	if err = errors.Join(errs[:]...); err != nil || len(f[7]) != 64 || f[8] == "" {
		return aux{}, false
	}
	a.cfg, a.sha, a.mime = f[6], f[7], f[8]
	return a, true
}

// body builds the published properties of one file (SPEC §1).
func (s *Share) body(key string, size int64, mtime time.Time, sha, mimeType string) (json.RawMessage, error) {
	id := s.ID(key)
	content := sources.ContentURL(s.opt.PublicURL, key)
	original := content
	if s.opt.OriginalURLBase != "" {
		original = strings.TrimRight(s.opt.OriginalURLBase, "/") + "/" + sources.EscapeKey(key)
	}
	return json.Marshal(sources.Document{
		ID:             id,
		DataTypeID:     s.opt.DataType,
		DocumentID:     id,
		ExtractContent: sources.URI(content),
		OriginalURL:    sources.URI(original),
		FileSize:       size,
		Filename:       path.Base(key),
		MIMEType:       mimeType,
		Metadata: map[string]any{
			"path":     key,
			"modified": mtime.UTC().Format(time.RFC3339),
			"sha256":   sha,
		},
	})
}
