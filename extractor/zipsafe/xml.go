package zipsafe

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/docvet/docvet/extractor/doctext"
)

// Decoder streams XML tokens with a depth limit and no DTD support.
type Decoder struct {
	d        *xml.Decoder
	depth    int
	maxDepth int
}

// NewDecoder returns a Decoder over r. maxDepth <= 0 means the default
// Limits.MaxXMLDepth.
func NewDecoder(r io.Reader, maxDepth int) *Decoder {
	if maxDepth <= 0 {
		maxDepth = doctext.DefaultLimits().MaxXMLDepth
	}
	d := xml.NewDecoder(r)
	d.Strict = true // undefined entity references are errors, never text
	d.CharsetReader = charsetReader
	return &Decoder{d: d, maxDepth: maxDepth}
}

// charsetReader decodes the non-UTF-8 encodings an XML declaration may name
// (OOXML writers use UTF-8 or UTF-16; others occur in hand-made files).
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(label)
	if err != nil {
		return nil, fmt.Errorf("xml: unsupported encoding declared: %w", doctext.ErrUnsupported)
	}
	return enc.NewDecoder().Reader(in), nil
}

// Depth returns the current element depth (1 inside the root element).
func (d *Decoder) Depth() int { return d.depth }

// Token returns the next token (namespaces resolved, as xml.Decoder.Token).
// It returns io.EOF at the end, a *doctext.LimitError when the depth limit is
// exceeded, and an error wrapping doctext.ErrMalformed for a DOCTYPE or
// ill-formed XML.
func (d *Decoder) Token() (xml.Token, error) {
	t, err := d.d.Token()
	if err != nil {
		if err == io.EOF {
			if d.depth != 0 {
				return nil, fmt.Errorf("xml: unexpected end of part: %w", doctext.ErrMalformed)
			}
			return nil, io.EOF
		}
		var le *doctext.LimitError
		if errors.As(err, &le) || errors.Is(err, doctext.ErrUnsupported) {
			return nil, err
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			// se.Msg quotes the document ("invalid character entity
			// &Name"): only the line number is ours to report.
			return nil, fmt.Errorf("xml line %d: syntax error: %w", se.Line, doctext.ErrMalformed)
		}
		if errors.Is(err, doctext.ErrMalformed) {
			return nil, err
		}
		return nil, fmt.Errorf("xml: unreadable: %w", doctext.ErrMalformed)
	}
	switch tt := t.(type) {
	case xml.StartElement:
		d.depth++
		if d.depth > d.maxDepth {
			return nil, &doctext.LimitError{Limit: "xml_depth", Value: int64(d.maxDepth)}
		}
	case xml.EndElement:
		d.depth--
	case xml.Directive:
		if isDoctype(tt) {
			return nil, fmt.Errorf("xml: DOCTYPE not allowed: %w", doctext.ErrMalformed)
		}
	}
	return t, nil
}

// Skip consumes tokens up to the end of the element whose StartElement was
// just returned, under the same limits.
func (d *Decoder) Skip() error {
	target := d.depth - 1
	for d.depth > target {
		if _, err := d.Token(); err != nil {
			if err == io.EOF {
				return fmt.Errorf("xml: unexpected end of part: %w", doctext.ErrMalformed)
			}
			return err
		}
	}
	return nil
}

func isDoctype(dir xml.Directive) bool {
	s := bytes.TrimLeft(dir, " \t\r\n")
	return len(s) >= 7 && strings.EqualFold(string(s[:7]), "DOCTYPE")
}

// prologMax bounds how much of a part CheckProlog reads: an XML declaration,
// comments and processing instructions before the root are short.
const prologMax = 64 << 10

// CheckProlog reads the start of an XML part up to its root element and
// returns an error wrapping doctext.ErrMalformed if it declares a DOCTYPE
// (the only place one may appear). It does not parse the rest of the part.
func CheckProlog(r io.Reader) error {
	lr := &io.LimitedReader{R: r, N: prologMax}
	d := xml.NewDecoder(bufio.NewReaderSize(lr, 4096))
	d.Strict = true
	d.CharsetReader = charsetReader
	for {
		t, err := d.RawToken()
		if err != nil {
			if err == io.EOF {
				if lr.N <= 0 {
					return fmt.Errorf("xml: prolog longer than %d bytes: %w", prologMax, doctext.ErrMalformed)
				}
				return nil // empty or truncated part: the parser will judge
			}
			var le *doctext.LimitError
			if errors.As(err, &le) {
				return err
			}
			return fmt.Errorf("xml prolog: syntax error: %w", doctext.ErrMalformed)
		}
		switch tt := t.(type) {
		case xml.Directive:
			if isDoctype(tt) {
				return fmt.Errorf("xml: DOCTYPE not allowed: %w", doctext.ErrMalformed)
			}
		case xml.StartElement:
			return nil
		}
	}
}
