package pdf

import (
	"bytes"
	"context"
	"errors"
	"io"
)

// errBudget is the panic value source.ReadAt raises when the read budget is
// spent or the context is done. The library loops on its own over /Prev and
// /Extends chains; a cycle there re-reads the file forever, so the reader is
// where such a loop is caught. Extract recovers it.
type budgetPanic struct{ err error }

// Error makes budgetPanic an error, so the library's own recover (in
// NewReaderEncrypted) returns it unchanged and errors.As finds it.
func (b budgetPanic) Error() string { return b.err.Error() }

var errReadBudget = errors.New("pdf re-read more than its read budget (cyclic xref or object stream chain?)")

// headerLen is the length of the header the library accepts: "%PDF-1.7\n".
const headerLen = 9

// source is the ReaderAt the library reads. It
//   - presents "%PDF-1.7\n" as the first 9 bytes, because the library rejects
//     %PDF-2.0 and any header not followed directly by an end of line;
//   - ends the file right after the last %%EOF, because the library requires
//     %%EOF in the last 100 bytes and real files carry trailing junk;
//   - panics with budgetPanic when ctx is done or more than budget bytes were
//     read, which turns library-internal infinite loops into an error.
type source struct {
	ctx    context.Context
	r      io.ReaderAt
	size   int64
	read   int64
	budget int64
	calls  int
}

var fakeHeader = []byte("%PDF-1.7\n")

// newSource checks the header, trims trailing junk after %%EOF and returns
// the wrapped reader with its effective size.
func newSource(ctx context.Context, r io.ReaderAt, size int64) (*source, error) {
	head := make([]byte, 1024)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	i := bytes.Index(head, []byte("%PDF-"))
	if i < 0 {
		return nil, errNotPDF
	}
	// Trim after the last %%EOF found in the tail (or the whole file if small).
	const tail = 64 << 10
	start := max(size-tail, 0)
	buf := make([]byte, size-start)
	m, _ := r.ReadAt(buf, start)
	buf = buf[:m]
	eff := size
	if j := bytes.LastIndex(buf, []byte("%%EOF")); j >= 0 {
		eff = start + int64(j) + 5
	}
	budget := int64(2<<30) + 400*size
	return &source{ctx: ctx, r: r, size: eff, budget: budget}, nil
}

func (s *source) ReadAt(p []byte, off int64) (int, error) {
	s.calls++
	if s.calls&63 == 0 && s.ctx.Err() != nil {
		panic(budgetPanic{s.ctx.Err()})
	}
	s.read += int64(len(p))
	if s.read > s.budget {
		panic(budgetPanic{errReadBudget})
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > s.size-off {
		p = p[:s.size-off]
	}
	n, err := s.r.ReadAt(p, off)
	if off < headerLen {
		copy(p[:n], fakeHeader[off:])
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}
