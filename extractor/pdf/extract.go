package pdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	lpdf "github.com/ledongthuc/pdf"
)

var _ doctext.ExtractFunc = (*Extractor)(nil).Extract

var errNotPDF = fmt.Errorf("pdf: no %%PDF header: %w", doctext.ErrMalformed)

// inMemoryMax is the largest input read into memory before parsing: the
// library re-reads objects through ReadAt many times, which is far cheaper
// from memory than through a file.
const inMemoryMax = 64 << 20

// maxPageTreeNodes bounds the page tree walk beyond the page limit: a tree
// with many empty intermediate nodes is hostile, not a document.
const maxTreeDepth = 64

// doc is the state of one extraction.
type doc struct {
	ctx         context.Context
	r           *lpdf.Reader
	lim         doctext.Limits
	fonts       map[string]*font // by object reference
	forms       map[string][]byte
	formBytes   int64
	limitErr    *doctext.LimitError
	interpreted int64
	ops         int
	warnings    map[string]bool
	b           *doctext.Builder
	dflt        *font
	canceled    bool
	off         map[string]bool // optional content groups off by default
	offDone     bool
}

// ocOff returns the optional content groups that are off in the default
// configuration, nil if there are none.
func (d *doc) ocOff() map[string]bool {
	if d.offDone {
		return d.off
	}
	d.offDone = true
	ocp := d.r.Trailer().Key("Root").Key("OCProperties")
	if ocp.IsNull() {
		return nil
	}
	cfg := ocp.Key("D")
	off := map[string]bool{}
	if cfg.Key("BaseState").Name() == "OFF" {
		on := map[string]bool{}
		for _, r := range refList(cfg.Key("ON")) {
			on[r] = true
		}
		for _, r := range refList(ocp.Key("OCGs")) {
			if r != "" && !on[r] {
				off[r] = true
			}
		}
	}
	for _, r := range refList(cfg.Key("OFF")) {
		if r != "" {
			off[r] = true
		}
	}
	if len(off) > 0 {
		d.off = off
	}
	return d.off
}

// ocValueHidden decides visibility of an OCG or OCMD v with reference ref.
func (d *doc) ocValueHidden(v lpdf.Value, ref string) bool {
	off := d.ocOff()
	if off[ref] {
		return true
	}
	if v.Key("Type").Name() != "OCMD" {
		return false
	}
	var groups []string
	if g := v.Key("OCGs"); g.Kind() == lpdf.Array {
		groups = refList(g)
	} else if r := refMap(v)["OCGs"]; r != "" {
		groups = []string{r}
	}
	if len(groups) == 0 {
		return false
	}
	nOff := 0
	for _, g := range groups {
		if off[g] {
			nOff++
		}
	}
	switch v.Key("P").Name() {
	case "AllOn":
		return nOff > 0
	case "AnyOff":
		return nOff == 0
	case "AllOff":
		return nOff < len(groups)
	}
	return nOff == len(groups) // AnyOn, the default
}

func (d *doc) warn(msg string) {
	if d.warnings[msg] {
		return
	}
	if d.warnings == nil {
		d.warnings = map[string]bool{}
	}
	d.warnings[msg] = true
	d.b.Warn("pdf: " + msg)
}

func (d *doc) limit(name string, v int64) {
	if d.limitErr == nil {
		d.limitErr = &doctext.LimitError{Limit: name, Value: v}
	}
}

// stopped reports whether work must stop: context done or the total
// interpreted content (forms run repeatedly count each time) exceeds four
// times the stream limit.
func (d *doc) stopped() bool {
	if d.ctx.Err() != nil {
		d.canceled = true
		return true
	}
	if d.interpreted > 4*d.lim.MaxPDFStreamBytes {
		d.limit("max_pdf_stream_bytes", d.lim.MaxPDFStreamBytes)
		return true
	}
	return false
}

// readStream decodes stream v, at most MaxPDFStreamBytes of it. A stream
// that decodes with an error after some data keeps that data, as readers
// do with slightly damaged Flate streams.
func (d *doc) readStream(v lpdf.Value) (data []byte, err error) {
	defer func() {
		if x := recover(); x != nil {
			if bp, ok := x.(budgetPanic); ok {
				panic(bp)
			}
			data, err = nil, fmt.Errorf("pdf: stream undecodable: %w", doctext.ErrMalformed)
		}
	}()
	rc := v.Reader()
	defer rc.Close()
	max := d.lim.MaxPDFStreamBytes
	data, err = io.ReadAll(io.LimitReader(rc, max+1))
	if int64(len(data)) > max {
		d.limit("max_pdf_stream_bytes", max)
		return data[:max], nil
	}
	if err != nil && len(data) > 0 {
		return data, nil
	}
	return data, err
}

// formData returns the decoded content of a form XObject, cached by
// reference because forms (logos, headers) repeat on every page.
func (d *doc) formData(x lpdf.Value, ref string) ([]byte, error) {
	if ref != "" {
		if b, ok := d.forms[ref]; ok {
			return b, nil
		}
	}
	b, err := d.readStream(x)
	if err != nil {
		return nil, err
	}
	if ref != "" && d.formBytes+int64(len(b)) < 32<<20 {
		if d.forms == nil {
			d.forms = map[string][]byte{}
		}
		d.forms[ref] = b
		d.formBytes += int64(len(b))
	}
	return b, nil
}

// font returns the font resource name of res, cached by reference.
func (d *doc) font(res lpdf.Value, name string) *font {
	fd := res.Key("Font")
	ref := refMap(fd)[name]
	return d.fontFromValue(fd.Key(name), ref)
}

func (d *doc) fontFromValue(v lpdf.Value, ref string) (f *font) {
	if ref != "" {
		if f, ok := d.fonts[ref]; ok {
			return f
		}
	}
	defer func() {
		if x := recover(); x != nil {
			if bp, ok := x.(budgetPanic); ok {
				panic(bp)
			}
			d.warn("malformed font; text in it may be wrong")
			f = d.defaultFont()
		}
		if ref != "" {
			if d.fonts == nil {
				d.fonts = map[string]*font{}
			}
			d.fonts[ref] = f
		}
	}()
	if v.Kind() != lpdf.Dict {
		return d.defaultFont()
	}
	return fontLoader{d}.load(v)
}

// defaultFont decodes bytes as WinAnsi with Helvetica widths; it stands in
// for missing or broken font resources.
func (d *doc) defaultFont() *font {
	if d.dflt == nil {
		f := &font{simple: true, scale: 1, sizeScale: 1}
		for c := range 256 {
			if r := winAnsiEncoding[c]; r != 0 {
				f.text[c] = string(r)
			}
			f.widths[c] = standardWidth("Helvetica", winAnsiEncoding[c])
		}
		d.dflt = f
	}
	return d.dflt
}

type pageRef struct {
	v   lpdf.Value
	res lpdf.Value
}

// pages walks the page tree, detecting cycles by object reference, and
// returns at most max+1 pages (one more tells that the limit was hit).
func (d *doc) pages(max int) []pageRef {
	root := d.r.Trailer().Key("Root")
	top := root.Key("Pages")
	topRef := refMap(root)["Pages"]
	var out []pageRef
	visited := map[string]bool{}
	nodes := 0
	var walk func(n lpdf.Value, ref string, res lpdf.Value, depth int)
	walk = func(n lpdf.Value, ref string, res lpdf.Value, depth int) {
		if len(out) > max || d.ctx.Err() != nil {
			return
		}
		if ref != "" {
			if visited[ref] {
				d.warn("page tree contains a cycle; repeated nodes skipped")
				return
			}
			visited[ref] = true
		}
		nodes++
		if depth > maxTreeDepth || nodes > 4*max+1024 {
			d.warn("page tree too deep or too large; rest skipped")
			return
		}
		if r := n.Key("Resources"); !r.IsNull() {
			res = r
		}
		kids := n.Key("Kids")
		if kids.Kind() == lpdf.Array && n.Key("Type").Name() != "Page" {
			refs := refList(kids)
			for i := 0; i < kids.Len(); i++ {
				k := kids.Index(i)
				if k.Kind() != lpdf.Dict {
					continue
				}
				walk(k, refs[i], res, depth+1)
			}
			return
		}
		if n.Kind() == lpdf.Dict {
			out = append(out, pageRef{v: n, res: res})
		}
	}
	walk(top, topRef, lpdf.Value{}, 0)
	return out
}

// extractGo is the pure-Go engine.
func extractGo(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) (err error) {
	lim := opt.Limits.WithDefaults()
	if in.Size > lim.MaxInputBytes {
		return &doctext.LimitError{Limit: "max_input_bytes", Value: lim.MaxInputBytes}
	}
	var data []byte // the whole input, when small enough to hold
	ra := in.R
	if in.Size <= inMemoryMax {
		data = make([]byte, in.Size)
		n, rerr := in.R.ReadAt(data, 0)
		if rerr != nil && !(errors.Is(rerr, io.EOF) && int64(n) == in.Size) {
			return fmt.Errorf("read: %w", rerr)
		}
		ra = bytes.NewReader(data)
	}
	d := &doc{ctx: ctx, lim: lim, b: b}
	defer func() {
		if x := recover(); x != nil {
			err = panicErr(ctx, x)
		}
	}()
	open := func(ra io.ReaderAt, size int64) (*lpdf.Reader, error) {
		src, err := newSource(ctx, ra, size)
		if err != nil {
			return nil, err
		}
		r, err := lpdf.NewReaderEncrypted(src, src.size, nil)
		if err != nil {
			var bp budgetPanic
			if errors.As(err, &bp) {
				panic(bp)
			}
			return nil, err
		}
		return r, nil
	}
	openBytes := func(buf []byte) (*lpdf.Reader, error) { return open(bytes.NewReader(buf), int64(len(buf))) }
	rebuilt := false
	tryRebuild := func() *lpdf.Reader {
		if data == nil || rebuilt {
			return nil
		}
		rebuilt = true
		nd := rebuild(data, func(buf []byte) (*lpdf.Reader, error) {
			r, err := openBytes(buf)
			d.r = r
			return r, err
		}, d.readStream)
		if nd == nil {
			return nil
		}
		r, err := openBytes(nd)
		if err != nil {
			return nil
		}
		return r
	}

	var r *lpdf.Reader
	if data != nil {
		err = precheck(data)
	}
	if err == nil {
		r, err = open(ra, in.Size)
	}
	if err != nil {
		if errors.Is(err, errNotPDF) {
			return err
		}
		oerr := err
		if !errors.Is(err, doctext.ErrMalformed) {
			oerr = openErr(err)
		}
		if errors.Is(oerr, doctext.ErrEncrypted) {
			return oerr
		}
		if r = tryRebuild(); r == nil {
			return oerr
		}
		d.warn("cross-reference table damaged; rebuilt by scanning the file")
	}
	if enc := r.Trailer().Key("Encrypt"); !enc.IsNull() {
		// The library derives RC4 object keys as if every key were 128 bits
		// long, so text of files with shorter keys would come out as
		// garbage: refuse them instead.
		if n := enc.Key("Length").Int64(); n < 128 && enc.Key("V").Int64() != 4 {
			return fmt.Errorf("pdf: %d-bit RC4 encryption is not supported by the Go engine: %w", max(n, 40), doctext.ErrUnsupported)
		}
	}
	res := d.run(r)
	if (res.failed > 0 || len(res.pages) == 0) && !rebuilt && ctx.Err() == nil {
		if r2 := tryRebuild(); r2 != nil {
			d2 := &doc{ctx: ctx, lim: lim, b: b, warnings: d.warnings}
			res2 := d2.run(r2)
			if len(res2.pages) > 0 && res2.failed < res.failed || len(res.pages) == 0 {
				d, res = d2, res2
				d.warn("cross-reference table damaged; rebuilt by scanning the file")
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(res.pages) == 0 {
		return fmt.Errorf("pdf: no pages found: %w", doctext.ErrMalformed)
	}
	for i, text := range res.texts {
		if text == "" {
			continue
		}
		b.Start(fmt.Sprintf("page %d", i+1))
		if err := b.EnsureSep("\n"); err != nil {
			return err
		}
		if err := b.WriteString(text); err != nil {
			return err
		}
	}
	for _, i := range res.failedPages {
		d.warn(fmt.Sprintf("page %d unreadable", i+1))
	}
	if res.failed == len(res.pages) {
		return fmt.Errorf("pdf: no page could be read: %w", doctext.ErrMalformed)
	}
	if d.limitErr != nil {
		return d.limitErr
	}
	return nil
}

type runResult struct {
	pages       []pageRef
	texts       []string
	failed      int
	failedPages []int
}

// run extracts every page of r into memory (so that a retry on a rebuilt
// cross-reference table can replace it).
func (d *doc) run(r *lpdf.Reader) (res runResult) {
	d.r = r
	func() {
		defer func() {
			if x := recover(); x != nil {
				if bp, ok := x.(budgetPanic); ok {
					panic(bp)
				}
				d.warn("page tree unreadable")
			}
		}()
		res.pages = d.pages(d.lim.MaxPDFPages)
	}()
	total := d.b.Len()
	for i, p := range res.pages {
		if i >= d.lim.MaxPDFPages {
			d.limit("max_pdf_pages", int64(d.lim.MaxPDFPages))
			res.pages = res.pages[:i]
			break
		}
		if d.ctx.Err() != nil {
			return res
		}
		text, ok := d.page(p, total)
		if !ok {
			res.failed++
			res.failedPages = append(res.failedPages, i)
		}
		res.texts = append(res.texts, text)
		total += int64(len(text))
		if d.canceled || total > d.lim.MaxChars*4 {
			return res
		}
		if d.limitErr != nil && d.limitErr.Limit != "max_pdf_stream_bytes" {
			return res
		}
	}
	return res
}

// page extracts one page; ok is false if the page could not be read.
func (d *doc) page(p pageRef, written int64) (text string, ok bool) {
	out := &pageText{}
	if room := d.lim.MaxChars - written; room >= 0 {
		out.limit = int(min(room, 1<<40))*4 + 16
	}
	defer func() {
		if x := recover(); x != nil {
			if bp, isBudget := x.(budgetPanic); isBudget {
				panic(bp)
			}
			text, ok = out.text(), false
		}
	}()
	in := &interp{d: d, out: out, res: p.res}
	contents := p.v.Key("Contents")
	var streams []lpdf.Value
	switch contents.Kind() {
	case lpdf.Stream:
		streams = append(streams, contents)
	case lpdf.Array:
		for i := 0; i < contents.Len(); i++ {
			streams = append(streams, contents.Index(i))
		}
	}
	var data []byte
	for _, s := range streams {
		chunk, err := d.readStream(s)
		if err != nil {
			continue
		}
		if int64(len(data)+len(chunk)) > d.lim.MaxPDFStreamBytes {
			d.limit("max_pdf_stream_bytes", d.lim.MaxPDFStreamBytes)
			break
		}
		data = append(data, chunk...)
		data = append(data, '\n')
	}
	in.run(data, identity)
	d.annotations(p, in)
	return out.text(), true
}

// annotations runs the normal appearance streams of visible annotations
// (filled-in form fields, free text, stamps), as viewers and pdftotext do.
func (d *doc) annotations(p pageRef, in *interp) {
	annots := p.v.Key("Annots")
	n := annots.Len()
	for i := 0; i < n && i < 10000; i++ {
		if d.stopped() {
			return
		}
		a := annots.Index(i)
		switch a.Key("Subtype").Name() {
		case "Link", "Popup", "":
			continue
		}
		if a.Key("F").Int64()&2 != 0 { // hidden
			continue
		}
		ap := a.Key("AP").Key("N")
		if ap.Kind() == lpdf.Dict {
			st := a.Key("AS").Name()
			if st == "" {
				continue
			}
			ap = ap.Key(st)
		}
		if ap.Kind() != lpdf.Stream {
			continue
		}
		rect := a.Key("Rect")
		ctm := identity
		if rect.Len() == 4 {
			ctm[4] = min(rect.Index(0).Float64(), rect.Index(2).Float64())
			ctm[5] = min(rect.Index(1).Float64(), rect.Index(3).Float64())
		}
		in.out.breakBlock()
		in.runForm(ap, "", ctm)
	}
}

// openErr maps the library's open errors to the doctext sentinels. The
// library's messages quote document bytes: only the category is kept (see
// doctext.SafeDetail).
func openErr(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, lpdf.ErrInvalidPassword):
		return fmt.Errorf("pdf: a user password is required: %w", doctext.ErrEncrypted)
	case strings.Contains(msg, "encryption") || strings.Contains(msg, "-bit encryption key") || strings.Contains(msg, "missing ID"):
		return fmt.Errorf("pdf: unsupported encryption: %w", doctext.ErrEncrypted)
	}
	return fmt.Errorf("pdf: unreadable structure: %w", doctext.ErrMalformed)
}

// panicErr turns a recovered panic into an error. The panic value is not
// kept: a library panic message can quote document bytes.
func panicErr(ctx context.Context, x any) error {
	if bp, ok := x.(budgetPanic); ok {
		if errors.Is(bp.err, context.Canceled) || errors.Is(bp.err, context.DeadlineExceeded) {
			return bp.err
		}
		return fmt.Errorf("pdf: read budget exceeded (cyclic cross-references?): %w", doctext.ErrMalformed)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("pdf: parser failure: %w", doctext.ErrMalformed)
}
