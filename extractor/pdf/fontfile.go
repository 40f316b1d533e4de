package pdf

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
)

// Font programs, read only for what maps codes to characters when a PDF
// font has no ToUnicode: the built-in encoding of an embedded Type 1 font,
// and the cmap table of an embedded TrueType font.

var reDup = regexp.MustCompile(`dup\s+(\d{1,3})\s*/([^\s/\[\]{}()<>]+)\s+put`)

// type1Encoding returns the built-in encoding (code -> glyph name) of a
// Type 1 font program, nil if it uses StandardEncoding or none is found.
func type1Encoding(prog []byte) map[int]string {
	if i := bytes.Index(prog, []byte("eexec")); i > 0 {
		prog = prog[:i]
	}
	i := bytes.Index(prog, []byte("/Encoding"))
	if i < 0 {
		return nil
	}
	rest := prog[i:]
	if bytes.HasPrefix(bytes.TrimSpace(rest[len("/Encoding"):]), []byte("StandardEncoding")) {
		return nil
	}
	out := map[int]string{}
	for _, m := range reDup.FindAllSubmatch(rest, 256) {
		c, err := strconv.Atoi(string(m[1]))
		if err == nil && c < 256 {
			out[c] = string(m[2])
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// trueTypeCmap returns the glyph id -> Unicode map of a TrueType font
// program from its Unicode cmap subtable (3,1), (3,10) or (0,x).
func trueTypeCmap(prog []byte) map[uint16]rune {
	if len(prog) < 12 {
		return nil
	}
	u16 := func(o int) int {
		if o < 0 || o+2 > len(prog) {
			return 0
		}
		return int(binary.BigEndian.Uint16(prog[o:]))
	}
	u32 := func(o int) int {
		if o < 0 || o+4 > len(prog) {
			return 0
		}
		return int(binary.BigEndian.Uint32(prog[o:]))
	}
	numTables := u16(4)
	cmapOff := -1
	for i := 0; i < numTables && i < 256; i++ {
		rec := 12 + 16*i
		if rec+16 > len(prog) {
			break
		}
		if string(prog[rec:rec+4]) == "cmap" {
			cmapOff = u32(rec + 8)
		}
	}
	if cmapOff <= 0 || cmapOff >= len(prog) {
		return nil
	}
	best, bestScore := -1, 0
	n := u16(cmapOff + 2)
	for i := 0; i < n && i < 64; i++ {
		rec := cmapOff + 4 + 8*i
		pid, eid, off := u16(rec), u16(rec+2), u32(rec+4)
		score := 0
		switch {
		case pid == 3 && eid == 10:
			score = 4
		case pid == 3 && eid == 1:
			score = 3
		case pid == 0:
			score = 2
		}
		if score > bestScore {
			best, bestScore = cmapOff+off, score
		}
	}
	if best < 0 || best >= len(prog) {
		return nil
	}
	out := map[uint16]rune{}
	add := func(c rune, gid int) {
		if gid > 0 && gid < 1<<16 {
			if _, ok := out[uint16(gid)]; !ok {
				out[uint16(gid)] = c
			}
		}
	}
	switch u16(best) {
	case 4:
		segX2 := u16(best + 6)
		ends := best + 14
		starts := ends + segX2 + 2
		deltas := starts + segX2
		ranges := deltas + segX2
		for s := 0; s < segX2/2; s++ {
			end, start := u16(ends+2*s), u16(starts+2*s)
			delta, ro := u16(deltas+2*s), u16(ranges+2*s)
			if start > end || end == 0xffff && start == 0xffff {
				continue
			}
			for c := start; c <= end && c < 0xffff; c++ {
				var gid int
				if ro == 0 {
					gid = (c + delta) & 0xffff
				} else {
					g := u16(ranges + 2*s + ro + 2*(c-start))
					if g != 0 {
						gid = (g + delta) & 0xffff
					}
				}
				add(rune(c), gid)
			}
		}
	case 12:
		groups := u32(best + 12)
		for g := 0; g < groups && g < 1<<16; g++ {
			rec := best + 16 + 12*g
			start, end, gid := u32(rec), u32(rec+4), u32(rec+8)
			for c := start; c <= end && c-start < 1<<16; c++ {
				add(rune(c), gid+c-start)
			}
		}
	default:
		return nil
	}
	return out
}
