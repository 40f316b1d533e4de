package extractor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/sniff"
)

// Version identifies the extraction output. Bump it whenever any format's
// text, segments or status for the same bytes may change: the ledger
// re-extracts documents whose stored version differs.
const Version = "2" // 2: xlsx headers/drawings/embeddings, base64 after padding, segment cap

// Result is the outcome of extracting one document.
type Result struct {
	Status   doctext.Status    `json:"status"`
	Reason   string            `json:"reason,omitempty"` // set for every status but ok
	SHA256   string            `json:"sha256"`           // hex, of the full input
	MIME     string            `json:"mime"`             // detected (content first)
	Size     int64             `json:"size"`             // bytes of the full input
	Text     string            `json:"text"`
	Segments []doctext.Segment `json:"segments,omitempty"`
	Chars    int64             `json:"chars"` // runes in Text
	Warnings []string          `json:"warnings,omitempty"`
	Engine   string            `json:"engine,omitempty"` // format package that produced Text
	Version  string            `json:"version"`
}

// Hint carries what the caller knows about a document besides its bytes.
// Both are hints: content detection wins where it is specific.
type Hint struct {
	Name string // file name (only its extension is used)
	MIME string // declared type, e.g. from the source's mime-type property
}

// Options tune an Extractor. Zero values are replaced by defaults.
type Options struct {
	Limits doctext.Limits
	// Timeout bounds one in-process extraction (default 60s). In-process a
	// parser that ignores its context cannot be stopped: its goroutine is
	// abandoned and the document reported failed. Use the Pool for
	// untrusted input.
	Timeout time.Duration
	// Pdftotext is the path of poppler's pdftotext, the PDF fallback
	// engine: empty looks it up in PATH, "-" disables it.
	Pdftotext string
	// testHooks registers the hostile test formats (see hooks.go).
	testHooks bool
	// noTimeout runs parsers on the calling goroutine (worker processes:
	// the parent enforces the deadline by killing the process).
	noTimeout bool
}

// DefaultTimeout is the per-document wall-clock limit.
const DefaultTimeout = 60 * time.Second

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.WithDefaults()
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Extractor dispatches documents to the format packages in-process.
type Extractor struct {
	opt     Options
	formats map[string]format
}

// format is one dispatch-table entry.
type format struct {
	name string
	fn   doctext.ExtractFunc
}

// New returns an Extractor with the standard format table.
func New(opt Options) *Extractor {
	opt = opt.withDefaults()
	e := &Extractor{opt: opt, formats: formatTable(opt)}
	if opt.testHooks {
		for m, f := range testFormats() {
			e.formats[m] = f
		}
	}
	return e
}

// ErrInputRead wraps a failure to read the caller's reader.
var ErrInputRead = errors.New("read input")

// Extract reads r (hashing every byte, keeping at most Limits.MaxInputBytes),
// detects the type and extracts the text in this process. Bad documents are
// reported in Result.Status; the error is only for infrastructure problems
// (ctx done, r failing).
//
// An input larger than MaxInputBytes is still read to its end so that
// Result.SHA256 and Size describe the whole document (the ledger needs a
// stable identity even for documents we cannot read). Text formats are then
// extracted from the first MaxInputBytes bytes and reported partial; every
// other format is failed ("input larger than N bytes"), because a cut PDF,
// zip or mail is not meaningfully readable.
func (e *Extractor) Extract(ctx context.Context, r io.Reader, hint Hint) (Result, error) {
	in, err := readInput(ctx, r, e.opt.Limits.MaxInputBytes)
	if err != nil {
		return Result{}, err
	}
	res := e.extract(ctx, in.data, request{Name: hint.Name, MIME: hint.MIME, Size: in.size, Over: in.over})
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res.SHA256, res.Size = in.sha, in.size
	return res, nil
}

// input is what readInput returns.
type input struct {
	data []byte
	sha  string
	size int64
	over bool
}

// ctxReader fails reads once ctx is done, so a slow source cannot hold a
// cancelled extraction.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func readInput(ctx context.Context, r io.Reader, max int64) (input, error) {
	h := sha256.New()
	cr := ctxReader{ctx, r}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.TeeReader(io.LimitReader(cr, max+1), h))
	if err != nil {
		return input{}, fmt.Errorf("%w: %w", ErrInputRead, err)
	}
	in := input{data: buf.Bytes(), size: n}
	if n > max {
		in.over = true
		in.data = in.data[:max]
		rest, err := io.Copy(h, cr)
		if err != nil {
			return input{}, fmt.Errorf("%w: %w", ErrInputRead, err)
		}
		in.size += rest
	}
	in.sha = hex.EncodeToString(h.Sum(nil))
	return in, nil
}

// request describes the bytes handed to extract (also the worker wire header).
type request struct {
	Name string `json:"name,omitempty"`
	MIME string `json:"mime,omitempty"`
	Size int64  `json:"size"` // full input size
	Over bool   `json:"over"` // data is the first MaxInputBytes of a larger input
}

// detect resolves the MIME type: content first; the declared type only
// refines generic content (unknown binary, or plain text declared as a
// specific text type).
func (e *Extractor) detect(head []byte, ra io.ReaderAt, size int64, name, declared string) string {
	hint := sniff.Essence(declared)
	if e.opt.testHooks && strings.HasPrefix(hint, testMIMEPrefix) {
		return hint
	}
	m := sniff.Detect(head, ra, size, name)
	if hint == "" || hint == m {
		return m
	}
	if _, known := e.lookup(hint); !known {
		return m
	}
	switch m {
	case sniff.Octet:
		return hint
	case sniff.Plain:
		if isTextual(hint) {
			return hint
		}
	}
	return m
}

func isTextual(m string) bool {
	return strings.HasPrefix(m, "text/") || m == sniff.EML || m == sniff.Mbox ||
		m == sniff.JSON || m == "application/xml" || strings.HasSuffix(m, "+xml")
}

func (e *Extractor) lookup(m string) (format, bool) {
	if f, ok := e.formats[m]; ok {
		return f, true
	}
	if isTextual(m) {
		if f, ok := e.formats[sniff.Plain]; ok {
			return f, true
		}
	}
	return format{}, false
}

// extract runs detection and the format parser on data and maps the outcome
// to a status. It never returns an infrastructure error: a done ctx shows as
// a failed result that the caller discards.
func (e *Extractor) extract(ctx context.Context, data []byte, req request) Result {
	lim := e.opt.Limits
	res := Result{Version: Version, Size: req.Size}
	head := data[:min(len(data), sniff.HeadSize)]
	res.MIME = e.detect(head, bytes.NewReader(data), int64(len(data)), req.Name, req.MIME)
	if sniff.IsOLE(head) && sniff.IsEncryptedOLE(bytes.NewReader(data), int64(len(data))) {
		res.Status, res.Reason = doctext.StatusEncrypted, "password-protected Office document"
		return res
	}
	f, ok := e.lookup(res.MIME)
	if !ok {
		res.Status, res.Reason = doctext.StatusUnsupported, "unsupported format "+res.MIME
		return res
	}
	overReason := fmt.Sprintf("input larger than %d bytes", lim.MaxInputBytes)
	if req.Over && !isTextual(res.MIME) {
		res.Status, res.Reason = doctext.StatusFailed, overReason
		return res
	}
	res.Engine = f.name
	b := doctext.NewBuilder(lim.MaxChars)
	opt := doctext.Options{Limits: lim, Recurse: e.recurser()}
	in := doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), Name: req.Name, MIME: res.MIME}
	err, crashed, abandoned := e.run(ctx, f.fn, in, b, opt)
	if abandoned {
		// The parser may still be writing to b: never read it.
		res.Status, res.Reason = doctext.StatusFailed, "timeout after "+e.opt.Timeout.String()
		if ctx.Err() != nil {
			res.Reason = "cancelled"
		}
		return res
	}
	res.Text = b.Text()
	res.Segments = b.Segments()
	res.Chars = b.Len()
	res.Warnings = b.Warnings()
	if crashed {
		res.Text, res.Segments, res.Chars = "", nil, 0
		res.Status, res.Reason = doctext.StatusFailed, "parser crashed"
		return res
	}
	res.Status, res.Reason = classify(err, res.Text, res.Warnings)
	if req.Over {
		switch res.Status {
		case doctext.StatusOK, doctext.StatusPartial:
			res.Status = doctext.StatusPartial
			res.Reason = joinReason(overReason+": only the first part was read", res.Reason)
		case doctext.StatusEmpty:
			res.Reason = joinReason(overReason, res.Reason)
		}
	}
	return res
}

// run calls fn, recovering panics. With a timeout it runs fn on its own
// goroutine and gives up waiting when the deadline passes or ctx is done;
// abandoned reports that: the parser may still be running and writing to
// b, so b must not be read.
func (e *Extractor) run(ctx context.Context, fn doctext.ExtractFunc, in doctext.Input, b *doctext.Builder, opt doctext.Options) (err error, crashed, abandoned bool) {
	call := func(ctx context.Context) (err error, crashed bool) {
		defer func() {
			if r := recover(); r != nil {
				crashed = true
			}
		}()
		return fn(ctx, in, b, opt), false
	}
	if e.opt.noTimeout {
		err, crashed = call(ctx)
		return err, crashed, false
	}
	tctx, cancel := context.WithTimeout(ctx, e.opt.Timeout)
	defer cancel()
	type outcome struct {
		err     error
		crashed bool
	}
	done := make(chan outcome, 1)
	go func() {
		err, crashed := call(tctx)
		done <- outcome{err, crashed}
	}()
	select {
	case o := <-done:
		if o.err != nil && tctx.Err() != nil && ctx.Err() == nil && errors.Is(o.err, context.DeadlineExceeded) {
			return nil, false, true
		}
		return o.err, o.crashed, false
	case <-tctx.Done():
		return tctx.Err(), false, true
	}
}

// classify maps a parser's outcome to a status and reason. Only text our
// own code wrote reaches the reason: error details pass through
// doctext.SafeDetail, warnings through doctext.Sanitize.
func classify(err error, text string, warnings []string) (doctext.Status, string) {
	hasText := strings.TrimSpace(text) != ""
	warn := ""
	if len(warnings) > 0 {
		ws := make([]string, len(warnings))
		for i, w := range warnings {
			ws[i] = doctext.Sanitize(w)
		}
		warn = "warnings: " + strings.Join(ws, "; ")
	}
	var le *doctext.LimitError
	switch {
	case err == nil && !hasText:
		return doctext.StatusEmpty, joinReason("no text found", warn)
	case err == nil && warn != "":
		return doctext.StatusPartial, capReason(warn)
	case err == nil:
		return doctext.StatusOK, ""
	case errors.Is(err, doctext.ErrEncrypted):
		return doctext.StatusEncrypted, joinReason(safeErr("encrypted", err), warn)
	case errors.Is(err, doctext.ErrUnsupported):
		return doctext.StatusUnsupported, joinReason(safeErr("unsupported", err), warn)
	case errors.As(err, &le):
		if hasText {
			return doctext.StatusPartial, joinReason(le.Error(), warn)
		}
		return doctext.StatusFailed, joinReason(le.Error()+" before any text", warn)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return doctext.StatusFailed, "cancelled"
	case errors.Is(err, doctext.ErrMalformed):
		return doctext.StatusFailed, joinReason(safeErr("malformed document", err), warn)
	default:
		return doctext.StatusFailed, joinReason(safeErr("extraction failed", err), warn)
	}
}

const maxReason = 500

// safeErr returns "prefix: detail" with detail = doctext.SafeDetail(err),
// or prefix alone when there is no safe detail.
func safeErr(prefix string, err error) string {
	msg := doctext.SafeDetail(err)
	if msg == "" || msg == prefix {
		return prefix
	}
	if strings.HasPrefix(msg, prefix) {
		return msg
	}
	return prefix + ": " + msg
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return capReason(b)
	case b == "":
		return capReason(a)
	}
	return capReason(a + "; " + b)
}

func capReason(s string) string {
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "") + "…"
	}
	return s
}

// recurser returns the doctext.Recurser containers (e-mail) use to extract
// embedded files with this same engine, writing into the container's
// Builder. Contract for containers:
//   - nil: the embedded file was handled. Text was written, or a warning was
//     recorded on b (encrypted, malformed, crashed, a limit, nested deeper
//     than MaxAttachDepth), which makes the document partial. Do not warn again.
//   - an error wrapping doctext.ErrUnsupported: a type we do not read (an
//     image, say); no warning was recorded, list it as an attachment.
//   - a *LimitError for max_chars, or a context error: stop and return it.
func (e *Extractor) recurser() doctext.Recurser {
	var rec doctext.Recurser
	rec = func(ctx context.Context, in doctext.Input, depth int, b *doctext.Builder) (err error) {
		lim := e.opt.Limits
		if depth > lim.MaxAttachDepth {
			b.Warn(fmt.Sprintf("embedded file nested deeper than %d levels not read", lim.MaxAttachDepth))
			return nil
		}
		if in.R == nil || in.Size < 0 {
			b.Warn(fmt.Sprintf("embedded file (depth %d): no content", depth))
			return nil
		}
		head := make([]byte, min(in.Size, sniff.HeadSize))
		n, rerr := in.R.ReadAt(head, 0)
		if rerr != nil && rerr != io.EOF {
			b.Warn(fmt.Sprintf("embedded file (depth %d): unreadable", depth))
			return nil
		}
		head = head[:n]
		m := e.detect(head, in.R, in.Size, in.Name, in.MIME)
		if sniff.IsOLE(head) && sniff.IsEncryptedOLE(in.R, in.Size) {
			b.Warn(fmt.Sprintf("embedded file (depth %d): encrypted", depth))
			return nil
		}
		f, ok := e.lookup(m)
		if !ok {
			return fmt.Errorf("embedded file of type %s: %w", m, doctext.ErrUnsupported)
		}
		in.MIME = m
		defer func() {
			if r := recover(); r != nil {
				b.Warn(fmt.Sprintf("embedded %s file (depth %d): parser crashed", f.name, depth))
				err = nil
			}
		}()
		err = f.fn(ctx, in, b, doctext.Options{Limits: lim, Recurse: rec, Depth: depth})
		var le *doctext.LimitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &le) && le.Limit == "max_chars", ctx.Err() != nil:
			return err // the shared builder is full or we are cancelled: stop
		case errors.Is(err, doctext.ErrUnsupported):
			return err
		case errors.Is(err, doctext.ErrEncrypted):
			b.Warn(fmt.Sprintf("embedded %s file (depth %d): encrypted", f.name, depth))
		case errors.As(err, &le):
			b.Warn(fmt.Sprintf("embedded %s file (depth %d): %s", f.name, depth, le.Error()))
		default:
			b.Warn(safeErr(fmt.Sprintf("embedded %s file (depth %d)", f.name, depth), err))
		}
		return nil
	}
	return rec
}
