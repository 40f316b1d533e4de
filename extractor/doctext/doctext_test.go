package doctext

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWarningsCapped(t *testing.T) {
	b := NewBuilder(0)
	for i := range 250 {
		b.Warn(fmt.Sprintf("warning %d", i))
	}
	b.Warn(strings.Repeat("x", 1000))
	w := b.Warnings()
	if len(w) != MaxWarnings+1 || w[0] != "warning 0" || w[MaxWarnings-1] != "warning 99" || w[MaxWarnings] != "and 151 more warnings" {
		t.Fatalf("%d warnings: first %q, last %q", len(w), w[0], w[len(w)-1])
	}
	b = NewBuilder(0)
	b.Warn(strings.Repeat("é", 1000))
	if got := b.Warnings()[0]; len(got) > MaxWarningBytes+len("…") {
		t.Fatalf("warning of %d bytes", len(got))
	}
}

// TestSegmentsMerged checks the merge rule: beyond the cap, neighbours are
// merged pairwise, every stored segment covers the same number of
// original ones, offsets stay in order and cover the text, and a merged
// location names its first and last original location.
func TestSegmentsMerged(t *testing.T) {
	for _, n := range []int{7, 8, 9, 17, 33, 100} {
		b := NewBuilder(0)
		b.maxSegs = 8
		for i := range n {
			b.Start(fmt.Sprintf("L%d", i))
			b.WriteString("ab\n")
		}
		segs := b.Segments()
		if len(segs) > 8 {
			t.Fatalf("n=%d: %d segments", n, len(segs))
		}
		var end int64
		next := 0
		for _, s := range segs {
			if s.Offset != end {
				t.Fatalf("n=%d: gap or overlap at %+v", n, s)
			}
			end = s.Offset + s.Length
			first, last, merged := strings.Cut(s.Location, " to ")
			if !merged {
				last = first
			}
			if first != fmt.Sprintf("L%d", next) {
				t.Fatalf("n=%d: segment %+v, want start L%d", n, s, next)
			}
			fmt.Sscanf(last, "L%d", &next)
			if s.Length != int64(3*(next-mustAtoi(first[1:])+1)) {
				t.Fatalf("n=%d: segment %+v length", n, s)
			}
			next++
		}
		if end != b.Len() || next != n {
			t.Fatalf("n=%d: segments end at %d/L%d, text %d", n, end, next, b.Len())
		}
	}
	b := NewBuilder(0)
	b.Start(strings.Repeat("n", 1000))
	b.WriteString("x")
	if l := b.Segments()[0].Location; len(l) > MaxLocationBytes+len("…") {
		t.Fatalf("location of %d bytes", len(l))
	}
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

func TestSafeDetail(t *testing.T) {
	const secret = "Erika Mustermann"
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("docx document: xml line 3: syntax error: %w", ErrMalformed), "docx document: xml line 3: syntax error"},
		{fmt.Errorf("xlsx: workbook unreadable: %w: %w", ErrMalformed, errors.New("XML syntax error: invalid entity &"+secret)), "xlsx: workbook unreadable"},
		{fmt.Errorf("%w: "+secret, ErrEncrypted), ""},
		{fmt.Errorf("docx: %w", &LimitError{Limit: "zip_entry_bytes", Value: 9}), "docx: limit zip_entry_bytes=9 reached"},
		{fmt.Errorf("pdf: %w", context.Canceled), "pdf"},
		{fmt.Errorf("pdftotext temp file: %w", errors.New("write /tmp/x: no space left on device")), "pdftotext temp file"},
		{errors.New(secret), ""},
		{fmt.Errorf("cell %q: %w", secret, ErrMalformed), "cell …"},
		{fmt.Errorf("line\x1b[31m 2: %w", ErrMalformed), "line [31m 2"},
	}
	for _, tc := range tests {
		if got := SafeDetail(tc.err); got != tc.want {
			t.Errorf("SafeDetail(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
