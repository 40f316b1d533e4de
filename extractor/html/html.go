package html

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/text"
)

// MaxTokenBytes bounds the tokenizer's buffer: one tag or text run larger
// than this stops extraction with a limit error instead of growing memory.
const MaxTokenBytes = 32 << 20

// flushSize is how much visible text is buffered before it goes to the Builder.
const flushSize = 32 << 10

var _ doctext.ExtractFunc = Extract

// Extract reads an HTML document and writes its visible text into b. The
// charset comes from a BOM, in.MIME's charset parameter, a <meta> tag, or
// detection (see package text), in that order.
func Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	return FromReader(ctx, io.NewSectionReader(in.R, 0, in.Size), text.CharsetParam(in.MIME), b)
}

// FromReader writes the visible text of the HTML read from r into b.
// declared is a transport charset (e.g. a MIME part's charset parameter) and
// takes precedence over <meta>; "" means none. It streams: memory is bounded
// by MaxTokenBytes plus the Builder's own cap, and element nesting is never
// recursed into, so arbitrarily deep markup is fine.
func FromReader(ctx context.Context, r io.Reader, declared string, b *doctext.Builder) error {
	br := bufio.NewReaderSize(r, text.SampleSize)
	sample, err := br.Peek(text.SampleSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("html: read: %w", err)
	}
	if declared == "" {
		declared = MetaCharset(sample)
	}
	dr, _, err := text.Decode(br, declared)
	if err != nil {
		return fmt.Errorf("html: read: %w", err)
	}
	return visibleText(ctx, dr, b)
}

// MetaCharset returns the charset declared by <meta charset> or
// <meta http-equiv="Content-Type" content="...; charset=..."> in head, or "".
// A declared UTF-16 is ignored (as browsers do): bytes that could carry an
// ASCII <meta> are not UTF-16, and a real UTF-16 file has a BOM or NULs that
// detection sees.
func MetaCharset(head []byte) string {
	if bytes.IndexByte(head, 0) >= 0 {
		return "" // UTF-16/32: the ASCII tokenizer would misread it
	}
	z := html.NewTokenizer(bytes.NewReader(head))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if atom.Lookup(name) == atom.Body {
				return ""
			}
			if atom.Lookup(name) != atom.Meta || !hasAttr {
				continue
			}
			var cs, content string
			equiv := false
			for {
				k, v, more := z.TagAttr()
				switch string(bytes.ToLower(k)) {
				case "charset":
					cs = string(v)
				case "http-equiv":
					equiv = strings.EqualFold(string(v), "content-type")
				case "content":
					content = string(v)
				}
				if !more {
					break
				}
			}
			if cs == "" && equiv {
				cs = text.CharsetParam(content)
			}
			cs = strings.TrimSpace(cs)
			if cs != "" {
				if l := strings.ToLower(cs); strings.HasPrefix(l, "utf-16") || strings.HasPrefix(l, "utf-32") {
					return ""
				}
				return cs
			}
		}
	}
}

// skipped elements hide their content; block elements separate lines.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
}

var block = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Br: true,
	atom.Caption: true, atom.Dd: true, atom.Details: true, atom.Dialog: true, atom.Div: true, atom.Dl: true,
	atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true, atom.Figure: true, atom.Footer: true,
	atom.Form: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Header: true, atom.Hr: true, atom.Li: true, atom.Main: true, atom.Nav: true, atom.Ol: true,
	atom.Option: true, atom.P: true, atom.Pre: true, atom.Section: true, atom.Summary: true,
	atom.Table: true, atom.Tbody: true, atom.Thead: true, atom.Tfoot: true, atom.Tr: true, atom.Title: true,
	atom.Ul: true, atom.Body: true, atom.Head: true, atom.Html: true, atom.Legend: true, atom.Center: true,
}

// cell elements are separated by a tab so adjacent cells never glue.
var cell = map[atom.Atom]bool{atom.Td: true, atom.Th: true}

// out collapses whitespace and buffers text for the Builder.
type out struct {
	b        *doctext.Builder
	buf      []byte
	space    bool // whitespace seen since the last word
	newline  bool // a block boundary seen since the last word
	tab      bool
	any      bool // a word was written
	preDepth int
}

func (o *out) text(s string) error {
	if o.preDepth > 0 {
		o.flushPending()
		o.buf = append(o.buf, s...)
		o.any = true
		return o.maybeFlush()
	}
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) {
			o.space = true
		} else {
			o.flushPending()
			o.buf = append(o.buf, s[:n]...)
			o.any = true
		}
		s = s[n:]
	}
	return o.maybeFlush()
}

func (o *out) flushPending() {
	if o.any {
		switch {
		case o.newline:
			o.buf = append(o.buf, '\n')
		case o.tab:
			o.buf = append(o.buf, '\t')
		case o.space:
			o.buf = append(o.buf, ' ')
		}
	}
	o.space, o.newline, o.tab = false, false, false
}

func (o *out) maybeFlush() error {
	if len(o.buf) < flushSize {
		return nil
	}
	return o.flush()
}

func (o *out) flush() error {
	if len(o.buf) == 0 {
		return nil
	}
	err := o.b.WriteString(string(o.buf))
	o.buf = o.buf[:0]
	return err
}

func visibleText(ctx context.Context, r io.Reader, b *doctext.Builder) error {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(MaxTokenBytes)
	o := &out{b: b}
	skip := 0 // depth inside script/style/noscript/template
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			err := z.Err()
			if errors.Is(err, io.EOF) {
				return o.flush()
			}
			if ferr := o.flush(); ferr != nil {
				return ferr
			}
			if errors.Is(err, html.ErrBufferExceeded) {
				return &doctext.LimitError{Limit: "html_token_bytes", Value: MaxTokenBytes}
			}
			return fmt.Errorf("html: read: %w", err)
		case html.TextToken:
			if skip == 0 {
				if err := o.text(string(z.Text())); err != nil {
					return err
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case skipped[a]:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case block[a]:
				o.newline = true
				if a == atom.Pre {
					if tt == html.StartTagToken {
						o.preDepth++
					} else if tt == html.EndTagToken && o.preDepth > 0 {
						o.preDepth--
					}
				}
			case cell[a]:
				o.tab = true
			}
		}
	}
}
