package docx

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

var _ doctext.ExtractFunc = Extract

// Namespaces we act on (transitional and strict spellings).
const (
	nsW       = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsWStrict = "http://purl.oclc.org/ooxml/wordprocessingml/main"
	nsMC      = "http://schemas.openxmlformats.org/markup-compatibility/2006"
	nsM       = "http://schemas.openxmlformats.org/officeDocument/2006/math"
	nsMStrict = "http://purl.oclc.org/ooxml/officeDocument/math"
	nsR       = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsRStrict = "http://purl.oclc.org/ooxml/officeDocument/relationships"
)

// Extract writes the text of a DOCX document into b. See the package doc
// for the rules.
func Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	lim := opt.Limits.WithDefaults()
	zr, err := zipsafe.Open(in, lim)
	if err != nil {
		return err
	}
	pk, err := discover(zr, lim)
	if err != nil {
		return err
	}
	x := &extractor{ctx: ctx, zr: zr, b: b, lim: lim, opt: opt}
	if pk.numbering != "" {
		if x.num, err = readNumbering(zr, pk.numbering, lim); err != nil {
			if le := limitErr(err); le != nil {
				return le
			}
			// List labels are decoration: the text is still complete.
			x.num = nil
		}
	}
	for _, p := range pk.parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.part(p); err != nil {
			return err
		}
	}
	if err := x.embeddings(pk.embeddings); err != nil {
		return err
	}
	return x.properties(pk.core)
}

// part is one XML part to read, with its segment location and the
// relationships it owns (for altChunk).
type part struct {
	name string
	loc  string
	kind string // "document", "header", "footer", "footnotes", "endnotes", "comments"
	rels map[string]rel
}

type extractor struct {
	ctx context.Context
	zr  *zipsafe.Reader
	b   *doctext.Builder
	lim doctext.Limits
	opt doctext.Options
	num *numbering // nil: no list labels

	// per part state
	p       part
	pending string // separator owed before the next text
	wrote   bool   // text written in this part
	del     strings.Builder
	delGap  bool             // non-deleted content since the last deleted piece
	ruby    *strings.Builder // open w:rt: its text is the reading, kept aside
	reading string           // the last closed w:rt, written after the base text
	tokens  int
}

// text writes s (running text of the current part).
func (x *extractor) text(s string) error {
	if s == "" {
		return nil
	}
	if x.ruby != nil {
		x.ruby.WriteString(s)
		return nil
	}
	if x.pending != "" && x.wrote {
		if err := x.b.WriteString(x.pending); err != nil {
			return err
		}
	}
	x.pending = ""
	x.wrote = true
	x.delGap = true
	return x.b.WriteString(s)
}

// sep records a separator owed before the next text. strong separators
// (cell, row) replace a pending one; weak ones (paragraph, break, tab) only
// fill an empty slot, so "a</p></tc><tc><p>b" gives "a\tb".
func (x *extractor) sep(s string, strong bool) {
	x.delGap = true
	if !x.wrote {
		return
	}
	if strong || x.pending == "" {
		x.pending = s
	}
}

// deleted collects deleted text for the part's "tracked deletions" segment.
func (x *extractor) deleted(s string) error {
	if s == "" {
		return nil
	}
	if x.del.Len() > 0 && x.delGap {
		x.del.WriteByte('\n')
	}
	x.delGap = false
	if int64(x.del.Len())+int64(len(s)) > x.lim.MaxChars*4 {
		return &doctext.LimitError{Limit: "max_chars", Value: x.lim.MaxChars}
	}
	x.del.WriteString(s)
	return nil
}

func (x *extractor) part(p part) error {
	rc, err := x.zr.Open(p.name)
	if err != nil {
		if errors.Is(err, zipsafe.ErrNotFound) {
			if p.kind == "document" {
				return fmt.Errorf("docx: main document part missing: %w", doctext.ErrMalformed)
			}
			x.b.Warn("docx: " + p.kind + " part listed but missing")
			return nil
		}
		return err
	}
	defer rc.Close()
	x.p = p
	x.pending, x.wrote, x.delGap, x.ruby, x.reading = "", false, false, nil, ""
	x.del.Reset()
	if err := x.b.EnsureSep("\n"); err != nil {
		return err
	}
	x.b.Start(p.loc)
	werr := x.walk(zipsafe.NewDecoder(rc, x.lim.MaxXMLDepth))
	if x.del.Len() > 0 {
		// Emit what deletions were read even when the walk stopped early.
		if err := x.b.EnsureSep("\n"); err != nil {
			return err
		}
		x.b.Start(p.loc + " tracked deletions")
		if err := x.b.WriteString(x.del.String()); err != nil {
			return err
		}
		x.del.Reset()
	}
	if werr != nil {
		var le *doctext.LimitError
		if p.kind != "document" && !errors.As(werr, &le) && x.b.Len() > 0 && !errors.Is(werr, context.Canceled) && !errors.Is(werr, context.DeadlineExceeded) {
			// A broken header or comment part costs that part, not the
			// document: keep going and say so.
			x.b.Warn(joinDetail(fmt.Sprintf("docx: %s part unreadable", p.kind), werr))
			return nil
		}
		return fmt.Errorf("docx %s: %w", p.kind, werr)
	}
	return nil
}

func isW(s string) bool { return s == nsW || s == nsWStrict }

// walk streams one part. Elements whose content is never text (properties,
// field codes, fallbacks) are skipped whole.
func (x *extractor) walk(d *zipsafe.Decoder) error {
	var (
		acTaken []bool // per open mc:AlternateContent: a Choice was read
		delDeep int    // open w:del / w:moveFrom elements
	)
	for {
		x.tokens++
		if x.tokens&4095 == 0 {
			if err := x.ctx.Err(); err != nil {
				return err
			}
		}
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xmlStart:
			sp, local := t.Name.Space, t.Name.Local
			switch {
			case sp == nsMC:
				switch local {
				case "AlternateContent":
					acTaken = append(acTaken, false)
				case "Choice", "Fallback":
					if n := len(acTaken); n > 0 {
						if acTaken[n-1] {
							if err := d.Skip(); err != nil {
								return err
							}
							continue
						}
						acTaken[n-1] = true
					}
				}
			case isW(sp):
				switch local {
				case "t":
					s, err := charData(d)
					if err != nil {
						return err
					}
					if delDeep > 0 {
						err = x.deleted(s)
					} else {
						err = x.text(s)
					}
					if err != nil {
						return err
					}
				case "delText":
					s, err := charData(d)
					if err != nil {
						return err
					}
					if err := x.deleted(s); err != nil {
						return err
					}
				case "del", "moveFrom":
					delDeep++
				case "tab", "ptab":
					x.sep("\t", false)
				case "br", "cr":
					x.sep("\n", false)
				case "noBreakHyphen":
					if err := x.text("-"); err != nil {
						return err
					}
				case "rt":
					if x.ruby == nil {
						x.ruby = &strings.Builder{}
					}
				case "comment":
					if x.p.kind == "comments" {
						if a := attr(t, "author"); a != "" {
							if err := x.text(a + ": "); err != nil {
								return err
							}
						}
					}
				case "altChunk":
					if err := x.altChunk(t); err != nil {
						return err
					}
				case "pPr":
					ref, err := paraProps(d)
					if err != nil {
						return err
					}
					if delDeep == 0 && ref.numID != "" {
						if l := x.num.label(ref.numID, ref.ilvl); l != "" {
							if err := x.text(l + " "); err != nil {
								return err
							}
						}
					}
				case "rPr", "sdtPr", "sectPr", "tblPr", "tblGrid", "trPr", "tcPr",
					"instrText", "delInstrText", "fldData", "rubyPr", "numPr", "tblPrEx", "pPrChange", "rPrChange":
					if err := d.Skip(); err != nil {
						return err
					}
				}
			case (sp == nsM || sp == nsMStrict) && local == "t":
				s, err := charData(d)
				if err != nil {
					return err
				}
				if err := x.text(s); err != nil {
					return err
				}
			}
		case xmlEnd:
			sp, local := t.Name.Space, t.Name.Local
			if sp == nsMC && local == "AlternateContent" && len(acTaken) > 0 {
				acTaken = acTaken[:len(acTaken)-1]
				continue
			}
			if !isW(sp) {
				continue
			}
			switch local {
			case "p":
				x.sep("\n", false)
			case "tc":
				x.sep("\t", true)
			case "tr", "tbl":
				x.sep("\n", true)
			case "del", "moveFrom":
				if delDeep > 0 {
					delDeep--
				}
			case "rt":
				if x.ruby != nil {
					x.reading = strings.TrimSpace(x.ruby.String())
					x.ruby = nil
				}
			case "ruby":
				if r := x.reading; r != "" {
					x.reading = ""
					if err := x.text("(" + r + ")"); err != nil {
						return err
					}
				}
			case "comment", "footnote", "endnote", "txbxContent":
				x.sep("\n", true)
			}
		}
	}
}

type listRef struct {
	numID string
	ilvl  int
}

// paraProps reads a w:pPr (just started) and returns its list reference,
// or the zero listRef.
func paraProps(d *zipsafe.Decoder) (listRef, error) {
	var ref listRef
	start := d.Depth()
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return ref, fmt.Errorf("xml: unexpected end of part: %w", doctext.ErrMalformed)
			}
			return ref, err
		}
		switch t := tok.(type) {
		case xmlStart:
			if !isW(t.Name.Space) {
				continue
			}
			switch t.Name.Local {
			case "ilvl":
				ref.ilvl, _ = strconv.Atoi(attr(t, "val"))
			case "numId":
				ref.numID = attr(t, "val")
			case "rPr", "pPrChange", "tabs", "sectPr":
				if err := d.Skip(); err != nil {
					return ref, err
				}
			}
		case xmlEnd:
			if d.Depth() < start {
				return ref, nil
			}
		}
	}
}

// charData returns the character data of the element just started (its
// children, if any, contribute their text too) and consumes its end tag.
func charData(d *zipsafe.Decoder) (string, error) {
	var sb strings.Builder
	start := d.Depth()
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return "", fmt.Errorf("xml: unexpected end of part: %w", doctext.ErrMalformed)
			}
			return "", err
		}
		switch t := tok.(type) {
		case xmlChar:
			sb.Write(t)
		case xmlEnd:
			if d.Depth() < start {
				return sb.String(), nil
			}
		}
	}
}

func attr(t xmlStart, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// altChunk hands an imported part (HTML, RTF, plain text, another docx) to
// the Recurser, in place.
func (x *extractor) altChunk(t xmlStart) error {
	var id string
	for _, a := range t.Attr {
		if (a.Name.Space == nsR || a.Name.Space == nsRStrict) && a.Name.Local == "id" {
			id = a.Value
		}
	}
	r, ok := x.p.rels[id]
	if !ok || r.external {
		x.b.Warn("docx: altChunk without a readable part")
		return nil
	}
	if x.opt.Recurse == nil {
		x.b.Warn("docx: altChunk part not read (no recursion)")
		return nil
	}
	if err := x.recurse(r.target, x.p.loc+" altChunk", "altChunk"); err != nil {
		return err
	}
	if err := x.b.EnsureSep("\n"); err != nil {
		return err
	}
	x.b.Start(x.p.loc)
	x.pending, x.wrote = "", false
	return nil
}

// embeddings hands embedded files (word/embeddings/*: workbooks, documents,
// OLE objects) to the Recurser: personal data often sits in an embedded
// spreadsheet. What cannot be read is reported with Builder.Warn.
func (x *extractor) embeddings(names []string) error {
	for i, name := range names {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		if x.opt.Recurse == nil {
			x.b.Warn(fmt.Sprintf("docx: %d embedded object(s) not read (no recursion)", len(names)-i))
			return nil
		}
		if err := x.recurse(name, "embedded "+path.Base(name), "embedded object"); err != nil {
			return err
		}
	}
	return nil
}

// recurse extracts the part name with the Recurser under location loc.
// Only a full Builder stops the document; any other failure is a warning.
func (x *extractor) recurse(name, loc, what string) error {
	if x.opt.Depth+1 > x.lim.MaxAttachDepth {
		x.b.Warn("docx: " + what + " not read (nesting too deep)")
		return nil
	}
	data, err := x.zr.ReadAll(name, 0)
	if err != nil {
		x.b.Warn(joinDetail(fmt.Sprintf("docx: %s unreadable", what), err))
		return nil
	}
	if err := x.b.EnsureSep("\n"); err != nil {
		return err
	}
	x.b.Start(loc)
	in := doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), Name: path.Base(name), MIME: mimeByExt(name)}
	if err := x.opt.Recurse(x.ctx, in, x.opt.Depth+1, x.b); err != nil {
		if x.b.Full() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		x.b.Warn(joinDetail("docx: "+what, err))
	}
	return nil
}

func mimeByExt(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".htm", ".html", ".xhtml":
		return "text/html"
	case ".mht", ".mhtml":
		return "message/rfc822"
	case ".txt":
		return "text/plain"
	case ".rtf":
		return "application/rtf"
	case ".docx", ".docm":
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case ".xlsx", ".xlsm":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ".pptx":
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	case ".pdf":
		return "application/pdf"
	case ".csv":
		return "text/csv"
	case ".bin", ".doc", ".xls", ".ppt":
		return "application/x-ole-storage"
	case ".xml":
		return "application/xml"
	}
	return "application/octet-stream"
}

// partLoc makes a segment location from a part name: word/header2.xml ->
// "header2".
func partLoc(name string) string {
	base := strings.ToLower(path.Base(name))
	return strings.TrimSuffix(base, path.Ext(base))
}

// naturalLess orders header2 before header10.
func naturalLess(a, b string) bool {
	ta, na := splitNum(a)
	tb, nb := splitNum(b)
	if ta != tb {
		return ta < tb
	}
	return na < nb
}

func splitNum(s string) (string, int) {
	s = partLoc(s)
	i := len(s)
	for i > 0 && unicode.IsDigit(rune(s[i-1])) {
		i--
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}

type (
	xmlStart = xml.StartElement
	xmlEnd   = xml.EndElement
	xmlChar  = xml.CharData
)

// joinDetail is prefix plus the safe part of err's message: never the
// third-party detail, which can quote the document (doctext.SafeDetail).
func joinDetail(prefix string, err error) string {
	if d := doctext.SafeDetail(err); d != "" {
		return prefix + ": " + d
	}
	return prefix
}
