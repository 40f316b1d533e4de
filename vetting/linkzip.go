package vetting

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// linkZip is the zip writer excelize saves through. It adds the hyperlinks
// of the streamed data sheets: excelize's SetCellHyperLink scans every
// existing link and relationship per call (30,000 links took 36 s), and
// links set after a StreamWriter Flush are dropped, so we write the
// <hyperlinks> element into each sheet part and its relationships part
// ourselves, in linear time.
type linkZip struct {
	zw    *zip.Writer
	links map[string][]link // sheet part path -> links
	cur   *linkInjector
	err   error
}

var _ excelize.ZipWriter = (*linkZip)(nil)

func newLinkZip(w io.Writer, links map[string][]link) *linkZip {
	return &linkZip{zw: zip.NewWriter(w), links: links}
}

func relsPath(sheetPath string) string {
	i := strings.LastIndexByte(sheetPath, '/')
	return sheetPath[:i] + "/_rels/" + sheetPath[i+1:] + ".rels"
}

func (z *linkZip) Create(name string) (io.Writer, error) {
	if err := z.finishEntry(); err != nil {
		return nil, err
	}
	for p := range z.links {
		if name == relsPath(p) {
			return nil, fmt.Errorf("vetting: sheet %s already has relationships", p)
		}
	}
	w, err := z.zw.Create(name)
	if err != nil {
		return nil, err
	}
	if l, ok := z.links[name]; ok && len(l) > 0 {
		z.cur = &linkInjector{w: w, links: l, path: name}
		return z.cur, nil
	}
	return w, nil
}

func (z *linkZip) AddFS(fsys fs.FS) error {
	if err := z.finishEntry(); err != nil {
		return err
	}
	return z.zw.AddFS(fsys)
}

func (z *linkZip) finishEntry() error {
	if z.cur == nil {
		return nil
	}
	cur := z.cur
	z.cur = nil
	if err := cur.finish(); err != nil {
		return err
	}
	cur.done = true
	return nil
}

func (z *linkZip) Close() error {
	if err := z.finishEntry(); err != nil {
		return err
	}
	for p, l := range z.links {
		if len(l) == 0 {
			continue
		}
		w, err := z.zw.Create(relsPath(p))
		if err != nil {
			return err
		}
		if err := writeLinkRels(w, l); err != nil {
			return err
		}
	}
	return z.zw.Close()
}

func writeLinkRels(w io.Writer, links []link) error {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i, l := range links {
		b.WriteString(`<Relationship Id="rIdL`)
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString(`" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="`)
		_ = xml.EscapeText(&b, []byte(l.url))
		b.WriteString(`" TargetMode="External"/>`)
		if b.Len() > 64<<10 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString(`</Relationships>`)
	_, err := w.Write(b.Bytes())
	return err
}

// linkInjector passes a sheet part through and inserts <hyperlinks> at its
// schema position: after </sheetData> and the elements that precede
// hyperlinks (autoFilter, mergeCells, dataValidations, ...), before the
// first element that follows it.
type linkInjector struct {
	w      io.Writer
	links  []link
	path   string
	hold   []byte // pending bytes that may contain the start of the marker
	inTail bool
	tail   bytes.Buffer
	done   bool
}

var sheetDataEnd = []byte("</sheetData>")

// afterHyperlinks are the worksheet elements that come after <hyperlinks>.
var afterHyperlinks = []string{"<printOptions", "<pageMargins", "<pageSetup", "<headerFooter", "<rowBreaks",
	"<colBreaks", "<customProperties", "<cellWatches", "<ignoredErrors", "<smartTags", "<drawing",
	"<legacyDrawing", "<legacyDrawingHF", "<drawingHF", "<picture", "<oleObjects", "<controls",
	"<webPublishItems", "<tableParts", "<extLst", "</worksheet>"}

func (l *linkInjector) Write(p []byte) (int, error) {
	if l.done {
		return 0, fmt.Errorf("vetting: write after end of %s", l.path)
	}
	n := len(p)
	if l.inTail {
		l.tail.Write(p)
		return n, nil
	}
	l.hold = append(l.hold, p...)
	if i := bytes.Index(l.hold, sheetDataEnd); i >= 0 {
		end := i + len(sheetDataEnd)
		if _, err := l.w.Write(l.hold[:end]); err != nil {
			return 0, err
		}
		l.tail.Write(l.hold[end:])
		l.hold = nil
		l.inTail = true
		return n, nil
	}
	if keep := len(sheetDataEnd) - 1; len(l.hold) > keep {
		if _, err := l.w.Write(l.hold[:len(l.hold)-keep]); err != nil {
			return 0, err
		}
		l.hold = append(l.hold[:0], l.hold[len(l.hold)-keep:]...)
	}
	return n, nil
}

func (l *linkInjector) finish() error {
	if !l.inTail {
		return fmt.Errorf("vetting: no sheet data in %s", l.path)
	}
	tail := l.tail.Bytes()
	if bytes.Contains(tail, []byte("<hyperlinks")) {
		return fmt.Errorf("vetting: %s already has hyperlinks", l.path)
	}
	at := -1
	for _, m := range afterHyperlinks {
		if i := bytes.Index(tail, []byte(m)); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("vetting: cannot place hyperlinks in %s", l.path)
	}
	if _, err := l.w.Write(tail[:at]); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("<hyperlinks>")
	for i, lk := range l.links {
		b.WriteString(`<hyperlink ref="`)
		b.WriteString(lk.ref)
		b.WriteString(`" r:id="rIdL`)
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString(`"/>`)
		if b.Len() > 64<<10 {
			if _, err := l.w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString("</hyperlinks>")
	if _, err := l.w.Write(b.Bytes()); err != nil {
		return err
	}
	_, err := l.w.Write(tail[at:])
	return err
}
