package zipsafe

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"

	"github.com/richardlehane/mscfb"

	"github.com/docvet/docvet/extractor/doctext"
)

// MinRatioBytes is the uncompressed size below which the compression ratio
// of an entry is not checked: a 2 KB run of spaces legitimately compresses
// 500:1, and cannot hurt anyone.
const MinRatioBytes = 64 << 10

var (
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// Reader is a size-checked zip container. It is safe for sequential use;
// the running total of decompressed bytes is shared by all parts opened.
type Reader struct {
	zr    *zip.Reader
	lim   doctext.Limits
	byKey map[string]*zip.File // lower-cased, slash-normalised name -> entry
	names []string             // entry names as stored, in zip order
	total atomic.Int64         // bytes decompressed so far, all parts
}

// Open checks in and returns a Reader for it. Errors wrap doctext.ErrMalformed,
// ErrEncrypted or ErrUnsupported, or are a *doctext.LimitError; no part has
// been decompressed when Open returns an error.
func Open(in doctext.Input, lim doctext.Limits) (*Reader, error) {
	lim = lim.WithDefaults()
	if in.R == nil || in.Size <= 0 {
		return nil, fmt.Errorf("zip: empty input: %w", doctext.ErrMalformed)
	}
	if in.Size > lim.MaxInputBytes {
		return nil, &doctext.LimitError{Limit: "input_bytes", Value: lim.MaxInputBytes}
	}
	head := make([]byte, 8)
	n, _ := in.R.ReadAt(head, 0)
	head = head[:n]
	if bytes.Equal(head, oleMagic) {
		return nil, classifyOLE(in)
	}
	if !bytes.HasPrefix(head, zipMagic) && !bytes.HasPrefix(head, []byte("PK\x05\x06")) {
		return nil, fmt.Errorf("zip: not a zip container: %w", doctext.ErrMalformed)
	}
	zr, err := zip.NewReader(in.R, in.Size)
	if err != nil {
		if errors.Is(err, zip.ErrInsecurePath) && zr != nil {
			// Names like "../x" or "/x": harmless here (nothing is written to
			// disk) and found in real files; the names are only map keys.
		} else {
			return nil, fmt.Errorf("zip: damaged container directory: %w: %w", doctext.ErrMalformed, err)
		}
	}
	r := &Reader{zr: zr, lim: lim, byKey: make(map[string]*zip.File, len(zr.File))}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// check applies the declared-size limits to every entry.
func (r *Reader) check() error {
	if len(r.zr.File) > r.lim.MaxZipEntries {
		return &doctext.LimitError{Limit: "zip_entries", Value: int64(r.lim.MaxZipEntries)}
	}
	var total uint64
	for _, f := range r.zr.File {
		usize := f.UncompressedSize64
		if usize > uint64(r.lim.MaxZipEntryBytes) {
			return &doctext.LimitError{Limit: "zip_entry_bytes", Value: r.lim.MaxZipEntryBytes}
		}
		total += usize
		if total > uint64(r.lim.MaxZipTotalBytes) {
			return &doctext.LimitError{Limit: "zip_total_bytes", Value: r.lim.MaxZipTotalBytes}
		}
		if isMarkup(f.Name) {
			if err := r.checkRatio(f); err != nil {
				return err
			}
		}
		key := normName(f.Name)
		if _, dup := r.byKey[key]; dup {
			// Two entries with one name: which one a reader sees is
			// ambiguous, a classic way to smuggle content past a checker.
			return fmt.Errorf("zip: duplicate entry name: %w", doctext.ErrMalformed)
		}
		r.byKey[key] = f
		r.names = append(r.names, f.Name)
	}
	return nil
}

// isMarkup reports whether an entry is a part that parsers read (XML,
// relationships, VML). Its declared ratio is checked at Open. Other entries
// (images, embedded files) are checked when opened: a blank bitmap may
// compress 1000:1 and must not fail a document that never reads it.
func isMarkup(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".xml") || strings.HasSuffix(n, ".rels") || strings.HasSuffix(n, ".vml")
}

func (r *Reader) checkRatio(f *zip.File) error {
	if f.UncompressedSize64 >= MinRatioBytes && exceedsRatio(f.UncompressedSize64, f.CompressedSize64, r.lim.MaxZipRatio) {
		return &doctext.LimitError{Limit: "zip_ratio", Value: r.lim.MaxZipRatio}
	}
	return nil
}

// CheckAllRatios applies the ratio limit to every entry, for callers that
// hand the whole container to a parser that reads every entry (excelize).
func (r *Reader) CheckAllRatios() error {
	for _, f := range r.zr.File {
		if err := r.checkRatio(f); err != nil {
			return err
		}
	}
	return nil
}

func exceedsRatio(usize, csize uint64, maxRatio int64) bool {
	if csize == 0 {
		return usize > 0
	}
	return usize/csize >= uint64(maxRatio) && usize > csize*uint64(maxRatio)
}

// normName gives the lookup key of a part name: OOXML part names are
// case-insensitive, may be written with a leading slash or backslashes.
func normName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = strings.TrimPrefix(name, "/")
	return strings.ToLower(path.Clean(name))
}

// classifyOLE tells an encrypted OOXML package from a legacy Office file.
func classifyOLE(in doctext.Input) (err error) {
	defer func() {
		if recover() != nil {
			err = fmt.Errorf("ole2: unreadable compound file: %w", doctext.ErrMalformed)
		}
	}()
	doc, err := mscfb.New(io.NewSectionReader(in.R, 0, in.Size))
	if err != nil {
		return fmt.Errorf("ole2: unreadable compound file: %w: %w", doctext.ErrMalformed, err)
	}
	for i := 0; ; i++ {
		if i > 100000 {
			return fmt.Errorf("ole2: too many directory entries: %w", doctext.ErrMalformed)
		}
		e, err := doc.Next()
		if err != nil {
			break
		}
		if e.Name == "EncryptedPackage" || e.Name == "EncryptionInfo" {
			return fmt.Errorf("ole2: encrypted OOXML package: %w", doctext.ErrEncrypted)
		}
	}
	return fmt.Errorf("ole2: legacy Office compound file: %w", doctext.ErrUnsupported)
}

// Names returns the entry names in container order.
func (r *Reader) Names() []string { return r.names }

// Has reports whether the container holds the part (case-insensitive).
func (r *Reader) Has(name string) bool {
	_, ok := r.byKey[normName(name)]
	return ok
}

// Size returns the declared uncompressed size of a part, or -1.
func (r *Reader) Size(name string) int64 {
	f, ok := r.byKey[normName(name)]
	if !ok {
		return -1
	}
	return int64(f.UncompressedSize64)
}

// ErrNotFound is returned by Open for a part the container does not hold.
var ErrNotFound = errors.New("zip part not found")

// Open returns a reader over the decompressed part that fails with a
// *doctext.LimitError when the part produces more bytes than the entry
// limit, the container total or the ratio limit allows, whatever its header
// claimed.
func (r *Reader) Open(name string) (io.ReadCloser, error) {
	f, ok := r.byKey[normName(name)]
	if !ok {
		return nil, ErrNotFound // never the name: it can be a person's
	}
	if err := r.checkRatio(f); err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip part: unreadable entry: %w: %w", doctext.ErrMalformed, err)
	}
	return &limitedPart{rc: rc, r: r, csize: f.CompressedSize64}, nil
}

// ReadAll reads a whole part, for small parts (relationships, content
// types) and for parts handed to another parser. max bounds the result on
// top of the zip limits; 0 means the entry limit.
func (r *Reader) ReadAll(name string, max int64) ([]byte, error) {
	rc, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if max <= 0 || max > r.lim.MaxZipEntryBytes {
		max = r.lim.MaxZipEntryBytes
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &doctext.LimitError{Limit: "zip_entry_bytes", Value: max}
	}
	return b, nil
}

// limitedPart counts decompressed bytes and enforces the limits while
// reading.
type limitedPart struct {
	rc    io.ReadCloser
	r     *Reader
	csize uint64
	n     int64
	err   error
}

func (p *limitedPart) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.rc.Read(b)
	p.n += int64(n)
	total := p.r.total.Add(int64(n))
	switch {
	case p.n > p.r.lim.MaxZipEntryBytes:
		p.err = &doctext.LimitError{Limit: "zip_entry_bytes", Value: p.r.lim.MaxZipEntryBytes}
	case total > p.r.lim.MaxZipTotalBytes:
		p.err = &doctext.LimitError{Limit: "zip_total_bytes", Value: p.r.lim.MaxZipTotalBytes}
	case p.n >= MinRatioBytes && exceedsRatio(uint64(p.n), p.csize, p.r.lim.MaxZipRatio):
		p.err = &doctext.LimitError{Limit: "zip_ratio", Value: p.r.lim.MaxZipRatio}
	}
	if p.err != nil {
		return 0, p.err
	}
	if err != nil && err != io.EOF {
		// archive/zip reports checksum and size mismatches as ErrFormat.
		err = fmt.Errorf("zip part: damaged entry data: %w: %w", doctext.ErrMalformed, err)
		p.err = err
	}
	return n, err
}

func (p *limitedPart) Close() error { return p.rc.Close() }
