package xlsx

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

// Parts excelize does not read for us: header/footer text, text boxes and
// shapes in drawings, embedded files.

const (
	nsDrawingML       = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsDrawingMLStrict = "http://purl.oclc.org/ooxml/drawingml/main"
	// maxSmallPart bounds the workbook, relationship and drawing parts
	// read whole or token by token here.
	maxSmallPart = 64 << 20
)

// sheetParts maps sheet names to their worksheet part through
// xl/workbook.xml and its relationships. Anything unreadable yields a
// partial (or empty) map: header/footer text of unmapped sheets is then
// not looked for.
func sheetParts(zr *zipsafe.Reader, lim doctext.Limits) map[string]string {
	const wb = "xl/workbook.xml"
	rels := map[string]string{}
	if data, err := zr.ReadAll("xl/_rels/workbook.xml.rels", maxSmallPart); err == nil {
		_ = eachStart(data, lim, func(t xml.StartElement) {
			if t.Name.Local != "Relationship" {
				return
			}
			var id, target string
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "Id":
					id = a.Value
				case "Target":
					target = a.Value
				}
			}
			if strings.HasPrefix(target, "/") {
				target = strings.TrimPrefix(target, "/")
			} else {
				target = path.Join(path.Dir(wb), target)
			}
			rels[id] = target
		})
	}
	out := map[string]string{}
	if data, err := zr.ReadAll(wb, maxSmallPart); err == nil {
		_ = eachStart(data, lim, func(t xml.StartElement) {
			if t.Name.Local != "sheet" {
				return
			}
			var name, id string
			for _, a := range t.Attr {
				switch {
				case a.Name.Local == "name":
					name = a.Value
				case a.Name.Local == "id" && a.Name.Space != "":
					id = a.Value
				}
			}
			if p, ok := rels[id]; ok && name != "" {
				out[name] = p
			}
		})
	}
	return out
}

// eachStart calls fn for every start element of a small XML part.
func eachStart(data []byte, lim doctext.Limits, fn func(xml.StartElement)) error {
	d := zipsafe.NewDecoder(bytes.NewReader(data), lim.MaxXMLDepth)
	for {
		t, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s, ok := t.(xml.StartElement); ok {
			fn(s)
		}
	}
}

// hfNames are the header/footer elements of a worksheet's headerFooter.
var hfNames = map[string]string{
	"oddHeader": "header", "evenHeader": "even page header", "firstHeader": "first page header",
	"oddFooter": "footer", "evenFooter": "even page footer", "firstFooter": "first page footer",
}

// headerFooter writes the sheet's header and footer text (segment
// "Sheet header", "Sheet footer", ...). The headerFooter element sits after
// the cell data, so the part is scanned as bytes for it (decompression is
// the cost; no second XML parse of the cells) and only that element is
// parsed.
func (x *extractor) headerFooter(sheet string) error {
	name, ok := x.parts[sheet]
	if !ok {
		return nil
	}
	rc, err := x.zr.Open(name)
	if err != nil {
		return nil // excelize read the sheet: nothing more to say here
	}
	defer rc.Close()
	frag, err := findElement(x.ctx, rc, []byte("headerFooter"), 64<<10)
	if err != nil {
		if isStop(x.ctx, err) {
			return err
		}
		x.b.Warn("xlsx: header/footer of a sheet not read")
		return nil
	}
	if frag == nil {
		return nil
	}
	d := zipsafe.NewDecoder(bytes.NewReader(frag), x.lim.MaxXMLDepth)
	var cur string
	var text strings.Builder
	for {
		t, err := d.Token()
		if err != nil {
			break // the fragment ends after headerFooter: stop there
		}
		switch tt := t.(type) {
		case xml.StartElement:
			cur, text = hfNames[tt.Name.Local], strings.Builder{}
		case xml.CharData:
			if cur != "" {
				text.Write(tt)
			}
		case xml.EndElement:
			if cur != "" {
				if s := stripHFCodes(text.String()); s != "" {
					if err := x.begin(sheetRef(sheet) + " " + cur); err != nil {
						return err
					}
					if err := x.b.WriteString(s + "\n"); err != nil {
						return err
					}
				}
			}
			cur = ""
			if tt.Name.Local == "headerFooter" {
				return nil
			}
		}
	}
	return nil
}

func isStop(ctx context.Context, err error) bool {
	var le *doctext.LimitError
	return ctx.Err() != nil || (errors.As(err, &le) && le.Limit == "max_chars")
}

// findElement scans r for the start tag of the element whose local name is
// local and returns the bytes from its '<' on, at most max of them (nil if
// there is none).
func findElement(ctx context.Context, r io.Reader, local []byte, max int) ([]byte, error) {
	const chunk = 256 << 10
	keep := len(local) + 64 // a prefix ("x:") and '<' before the name
	buf := make([]byte, 0, chunk+keep)
	for n := 0; ; n++ {
		if n&63 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if i := startTag(buf, local); i >= 0 {
			frag := append([]byte(nil), buf[i:]...)
			if len(frag) < max {
				rest, rerr := io.ReadAll(io.LimitReader(r, int64(max-len(frag))))
				if rerr != nil {
					return nil, rerr
				}
				frag = append(frag, rest...)
			}
			return frag, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) > keep {
			buf = buf[:copy(buf, buf[len(buf)-keep:])]
		}
	}
}

// startTag returns the index of the '<' of a start tag "<local" or
// "<prefix:local" followed by '>', '/' or white space, or -1.
func startTag(b, local []byte) int {
	for off := 0; ; {
		i := bytes.Index(b[off:], local)
		if i < 0 {
			return -1
		}
		i += off
		off = i + 1
		end := i + len(local)
		if end < len(b) && !bytes.ContainsRune([]byte(">/ \t\r\n"), rune(b[end])) {
			continue
		}
		j := i - 1
		if j >= 0 && b[j] == ':' {
			for j--; j >= 0 && j > i-64 && isNameByte(b[j]); j-- {
			}
		}
		if j >= 0 && b[j] == '<' {
			return j
		}
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// stripHFCodes removes Excel's header/footer formatting codes: &L &C &R
// start a section (kept as a space), &P &N &D &T &Z &F &A &G insert fields
// (page numbers, file and sheet names: dropped), &"font,style", &nn (size),
// &K (colour) and the toggles &B &I &U &E &S &X &Y &O &H format; && is a
// literal ampersand.
func stripHFCodes(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '&' || i+1 >= len(s) {
			out.WriteByte(c)
			continue
		}
		i++
		switch d := s[i]; {
		case d == '&':
			out.WriteByte('&')
		case d == 'L' || d == 'C' || d == 'R':
			out.WriteByte(' ')
		case d == '"':
			if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case d >= '0' && d <= '9':
			for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
			}
		case d == 'K':
			// &Krrggbb or &KttSnnn: six characters.
			i = min(i+6, len(s)-1)
		}
	}
	return strings.Join(strings.Fields(out.String()), " ")
}

// drawings writes the text of text boxes and shapes (a:t runs in
// xl/drawings/*.xml), one segment per drawing part ("drawing1.xml"),
// paragraphs on lines of their own. Charts are not read.
func (x *extractor) drawings() error {
	var names []string
	for _, n := range x.zr.Names() {
		ln := strings.ToLower(n)
		if strings.HasPrefix(ln, "xl/drawings/") && path.Dir(ln) == "xl/drawings" && strings.HasSuffix(ln, ".xml") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		text, err := drawingText(x.zr, n, x.lim)
		if err != nil {
			var le *doctext.LimitError
			if errors.As(err, &le) && le.Limit != "max_chars" {
				x.b.Warn("xlsx: drawing text: " + le.Error())
			} else {
				x.b.Warn("xlsx: drawing text unreadable")
			}
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if err := x.begin("drawing " + path.Base(n)); err != nil {
			return err
		}
		if err := x.b.WriteString(text); err != nil {
			return err
		}
	}
	return nil
}

// drawingText returns the DrawingML text of one drawing part (what was read
// before an error, too).
func drawingText(zr *zipsafe.Reader, name string, lim doctext.Limits) (string, error) {
	rc, err := zr.Open(name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	d := zipsafe.NewDecoder(rc, lim.MaxXMLDepth)
	var sb strings.Builder
	inT, line := false, false
	for {
		t, err := d.Token()
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return sb.String(), err
		}
		switch tt := t.(type) {
		case xml.StartElement:
			inT = tt.Name.Local == "t" && isDML(tt.Name.Space)
		case xml.EndElement:
			inT = false
			if tt.Name.Local == "p" && isDML(tt.Name.Space) && line {
				sb.WriteByte('\n')
				line = false
			}
		case xml.CharData:
			if inT {
				sb.Write(tt)
				line = true
			}
		}
		if int64(sb.Len()) > lim.MaxChars*4 {
			return sb.String(), &doctext.LimitError{Limit: "max_chars", Value: lim.MaxChars}
		}
	}
}

func isDML(ns string) bool { return ns == nsDrawingML || ns == nsDrawingMLStrict }

// embeddings hands embedded files (xl/embeddings/*: documents, workbooks,
// OLE objects) to the Recurser, located "embedded NAME". What cannot be
// read is reported with Builder.Warn.
func (x *extractor) embeddings() error {
	var names []string
	for _, n := range x.zr.Names() {
		if strings.HasPrefix(strings.ToLower(n), "xl/embeddings/") && !strings.HasSuffix(n, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for i, name := range names {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		if x.opt.Recurse == nil {
			x.b.Warn(fmt.Sprintf("xlsx: %d embedded object(s) not read (no recursion)", len(names)-i))
			return nil
		}
		if x.opt.Depth+1 > x.lim.MaxAttachDepth {
			x.b.Warn("xlsx: embedded object not read (nesting too deep)")
			continue
		}
		data, err := x.zr.ReadAll(name, 0)
		if err != nil {
			x.b.Warn(joinDetail("xlsx: embedded object unreadable", err))
			continue
		}
		// The Recurser writes into b directly. Pending headings of empty
		// sheets are not flushed first (an embedded file without text must
		// not turn sheet names into the workbook's only text): they follow
		// at the end. An embedded file without text leaves an empty
		// segment, which Builder drops.
		if err := x.b.EnsureSep("\n"); err != nil {
			return err
		}
		before := x.b.Len()
		x.b.Start("embedded " + path.Base(name))
		in := doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), Name: path.Base(name)}
		err = x.opt.Recurse(x.ctx, in, x.opt.Depth+1, x.b)
		if x.b.Len() > before {
			x.content = true
		}
		if err != nil {
			if isStop(x.ctx, err) {
				return err
			}
			x.b.Warn(joinDetail("xlsx: embedded object", err))
		}
	}
	return nil
}

func joinDetail(prefix string, err error) string {
	if d := doctext.SafeDetail(err); d != "" {
		return prefix + ": " + d
	}
	return prefix
}
