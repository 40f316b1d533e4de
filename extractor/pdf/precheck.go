package pdf

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"github.com/docvet/docvet/extractor/doctext"
)

// The library sizes its cross-reference table from numbers in the file
// (subsection starts, /Size, /Index) and follows /Prev without a visited
// set: a 600-byte file can make it allocate terabytes (an unrecoverable
// out-of-memory crash, not a panic) or loop forever. precheck walks the
// same chain first and refuses what would do that; the caller then falls
// back to rebuilding the cross-reference table by scanning.

var errXrefHostile = fmt.Errorf("pdf: cross-reference section out of bounds or cyclic: %w", doctext.ErrMalformed)

// maxXrefEntries bounds the table the library may allocate for a file of
// size n.
func maxXrefEntries(n int64) int64 {
	return min(max(n, 1<<20), 1<<23)
}

var reColumns = regexp.MustCompile(`/Columns[ \t\r\n]*(\d{7,})`)

// precheck validates the xref chain of data (the whole file).
func precheck(data []byte) error {
	limit := maxXrefEntries(int64(len(data)))
	// A huge /Columns in DecodeParms makes the library's PNG predictor
	// allocate that many bytes.
	if m := reColumns.FindSubmatch(data); m != nil {
		if v, err := strconv.ParseInt(string(m[1]), 10, 64); err != nil || v > 1<<20 {
			return fmt.Errorf("pdf: predictor /Columns out of bounds: %w", doctext.ErrMalformed)
		}
	}
	tail := data[max(0, len(data)-1024):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return nil // the library reports this itself
	}
	l := &lexer{b: tail[i+len("startxref"):]}
	o, ok := l.next()
	if !ok || o.k != kNum {
		return nil
	}
	off := int64(o.n)
	seen := map[int64]bool{}
	for steps := 0; ; steps++ {
		if off < 0 || off >= int64(len(data)) {
			return nil // the library reports a bad offset as an error
		}
		if seen[off] || steps > 1024 {
			return errXrefHostile
		}
		seen[off] = true
		prev, err := checkSection(data[off:], limit)
		if err != nil {
			return err
		}
		if prev < 0 {
			return nil
		}
		off = prev
	}
}

// checkSection checks one xref table or stream and returns its /Prev (-1
// if none).
func checkSection(b []byte, limit int64) (int64, error) {
	l := &lexer{b: b}
	o, ok := l.next()
	if !ok {
		return -1, nil
	}
	var trailer object
	if o.k == kOp && o.s == "xref" {
		for {
			start, ok1 := l.next()
			if start.k == kOp && start.s == "trailer" {
				trailer, _ = l.next()
				break
			}
			count, ok2 := l.next()
			if !ok1 || !ok2 || start.k != kNum || count.k != kNum {
				return -1, nil // malformed: the library errors out itself
			}
			if start.n < 0 || count.n < 0 || start.n+count.n > float64(limit) {
				return -1, errXrefHostile
			}
			for i := 0; i < int(count.n); i++ {
				a, _ := l.next()
				bb, _ := l.next()
				c, ok := l.next()
				if !ok {
					return -1, nil
				}
				if a.k != kNum || bb.k != kNum || c.k != kOp {
					return -1, nil
				}
			}
		}
	} else if o.k == kNum {
		l.next() // generation
		l.next() // "obj"
		trailer, _ = l.next()
		if trailer.k != kDict {
			return -1, nil
		}
		if sz, ok := trailer.d["Size"]; ok && (sz.n < 0 || sz.n > float64(limit)) {
			return -1, errXrefHostile
		}
		if idx, ok := trailer.d["Index"]; ok {
			for i := 0; i+1 < len(idx.a); i += 2 {
				if idx.a[i].n < 0 || idx.a[i+1].n < 0 || idx.a[i].n+idx.a[i+1].n > float64(limit) {
					return -1, errXrefHostile
				}
			}
		}
	}
	if trailer.k != kDict {
		return -1, nil
	}
	if p, ok := trailer.d["Prev"]; ok && p.k == kNum {
		return int64(p.n), nil
	}
	return -1, nil
}
