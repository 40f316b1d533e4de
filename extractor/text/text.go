package text

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/docvet/docvet/extractor/doctext"
)

// chunkSize is how much decoded text is handed to the Builder at a time.
const chunkSize = 64 << 10

var _ doctext.ExtractFunc = Extract

// Extract reads a plain-text or CSV document: it detects the charset (a
// charset parameter in in.MIME is honoured, see Decode) and streams the
// decoded text into b unchanged. CSV is not parsed: its raw text is what a
// search needs.
func Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	r := io.NewSectionReader(in.R, 0, in.Size)
	dr, _, err := Decode(r, CharsetParam(in.MIME))
	if err != nil {
		return fmt.Errorf("text: read: %w", err)
	}
	if err := Copy(ctx, b, dr); err != nil {
		var le *doctext.LimitError
		if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("text: read: %w", err)
	}
	return nil
}

// Copy streams UTF-8 text from r into b in chunks, never splitting a rune
// across two writes. It returns b's *doctext.LimitError when the cap is hit,
// ctx's error when cancelled, and read errors as they come.
func Copy(ctx context.Context, b *doctext.Builder, r io.Reader) error {
	buf := make([]byte, chunkSize)
	carry := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(r, buf[carry:])
		n += carry
		cut := n
		if rerr == nil {
			cut = completeRunes(buf[:n])
		}
		if cut > 0 {
			if err := b.WriteString(string(buf[:cut])); err != nil {
				return err
			}
		}
		carry = copy(buf, buf[cut:n])
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return rerr
		}
	}
}

// completeRunes returns the length of the longest prefix of p that does not
// end inside a multi-byte UTF-8 sequence.
func completeRunes(p []byte) int {
	for k := 1; k <= utf8.UTFMax && k <= len(p); k++ {
		i := len(p) - k
		if utf8.RuneStart(p[i]) {
			if utf8.FullRune(p[i:]) {
				return len(p)
			}
			return i
		}
	}
	return len(p)
}
