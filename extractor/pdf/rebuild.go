package pdf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	lpdf "github.com/ledongthuc/pdf"
)

// Cross-reference reconstruction. Damaged files (wrong offsets, a broken
// /Prev chain, a missing xref keyword) are common and pdftotext reads them by
// scanning for "N G obj". The library cannot do that, but it reads whatever
// cross-reference section startxref points to, so a rebuilt xref stream is
// appended to the bytes and the library opens that instead. Objects inside
// object streams are found in a second pass, through the library itself.

type objLoc struct {
	stm   bool   // in an object stream
	off   uint32 // file offset, or the object stream's number
	index uint16 // generation, or the index in the object stream
}

var (
	reObj     = regexp.MustCompile(`(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj\b`)
	reRoot    = regexp.MustCompile(`/Root[ \t\r\n]*(\d+)[ \t\r\n]+(\d+)[ \t\r\n]+R`)
	reEncrypt = regexp.MustCompile(`/Encrypt[ \t\r\n]*(\d+)[ \t\r\n]+(\d+)[ \t\r\n]+R`)
	reID      = regexp.MustCompile(`/ID[ \t\r\n]*\[[ \t\r\n]*<([0-9A-Fa-f]*)>[ \t\r\n]*<([0-9A-Fa-f]*)>`)
	reCatalog = regexp.MustCompile(`/Type[ \t\r\n]*/Catalog\b`)
	reObjStm  = regexp.MustCompile(`/Type[ \t\r\n]*/ObjStm\b`)
)

const maxRebuildObjects = 1 << 22

// scanObjects finds "N G obj" headers; later definitions win, as in an
// incrementally updated file.
func scanObjects(data []byte) (objs map[uint32]objLoc, stms []uint32, catalog uint32) {
	objs = map[uint32]objLoc{}
	limit := uint64(maxXrefEntries(int64(len(data))))
	for _, m := range reObj.FindAllSubmatchIndex(data, maxRebuildObjects) {
		if m[0] > 0 {
			if c := data[m[0]-1]; !isWhite(c) && !isDelimiter(c) {
				continue
			}
		}
		id, err1 := strconv.ParseUint(string(data[m[2]:m[3]]), 10, 32)
		gen, err2 := strconv.ParseUint(string(data[m[4]:m[5]]), 10, 16)
		if err1 != nil || err2 != nil || id == 0 || id >= limit || m[0] > 1<<32-1 {
			continue
		}
		objs[uint32(id)] = objLoc{off: uint32(m[0]), index: uint16(gen)}
		head := data[m[1]:min(len(data), m[1]+400)]
		if reObjStm.Match(head) {
			stms = append(stms, uint32(id))
		}
		if reCatalog.Match(head) {
			catalog = uint32(id)
		}
	}
	return objs, stms, catalog
}

func lastRef(re *regexp.Regexp, data []byte) string {
	all := re.FindAllSubmatch(data, -1)
	if len(all) == 0 {
		return ""
	}
	m := all[len(all)-1]
	return string(m[1]) + " " + string(m[2]) + " R"
}

// xrefSection renders an xref stream (object number id) for objs plus the
// trailer entries in extra, followed by startxref and %%EOF. base is the
// offset the section will be appended at.
func xrefSection(objs map[uint32]objLoc, base int64, extra string) []byte {
	var maxID uint32
	for id := range objs {
		maxID = max(maxID, id)
	}
	xid := maxID + 1
	size := int(xid) + 1
	bin := make([]byte, 0, size*7)
	for i := 0; i < size; i++ {
		var e [7]byte
		if o, ok := objs[uint32(i)]; ok {
			e[0] = 1
			if o.stm {
				e[0] = 2
			}
			binary.BigEndian.PutUint32(e[1:5], o.off)
			binary.BigEndian.PutUint16(e[5:7], o.index)
		}
		bin = append(bin, e[:]...)
	}
	var b bytes.Buffer
	b.WriteString("\n")
	start := base + int64(b.Len())
	fmt.Fprintf(&b, "%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Length %d%s>>\nstream\n", xid, size, len(bin), extra)
	b.Write(bin)
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", start)
	return b.Bytes()
}

// rebuild returns data with a reconstructed cross-reference section
// appended, or nil if no objects were found. open opens a candidate and is
// used for the object-stream pass.
func rebuild(data []byte, open func([]byte) (*lpdf.Reader, error), readStream func(lpdf.Value) ([]byte, error)) []byte {
	if int64(len(data)) > 1<<32-1 {
		return nil
	}
	objs, stms, catalog := scanObjects(data)
	if len(objs) == 0 {
		return nil
	}
	root := lastRef(reRoot, data)
	if root == "" && catalog != 0 {
		root = fmt.Sprintf("%d %d R", catalog, objs[catalog].index)
	}
	extra := ""
	if enc := lastRef(reEncrypt, data); enc != "" {
		extra += "/Encrypt " + enc
	}
	if ids := reID.FindAllSubmatch(data, -1); len(ids) > 0 {
		m := ids[len(ids)-1]
		extra += fmt.Sprintf("/ID[<%s><%s>]", m[1], m[2])
	}
	trailer := extra
	if root != "" {
		trailer += "/Root " + root
	}
	if len(stms) > 0 {
		// Pass 1: list the object streams in the trailer so the library can
		// resolve them; read their headers to place compressed objects.
		sort.Slice(stms, func(i, j int) bool { return stms[i] < stms[j] })
		var refs bytes.Buffer
		for _, id := range stms {
			fmt.Fprintf(&refs, " %d %d R", id, objs[id].index)
		}
		pass1 := append(append([]byte(nil), data...), xrefSection(objs, int64(len(data)), trailer+"/DocvetStm["+refs.String()+"]")...)
		if r, err := open(pass1); err == nil {
			list := r.Trailer().Key("DocvetStm")
			for i, id := range stms {
				placeCompressed(list.Index(i), id, objs, readStream, &root)
			}
		}
		if root != "" && lastRef(reRoot, data) == "" {
			trailer = extra + "/Root " + root
		}
	}
	if root == "" {
		return nil
	}
	return append(append([]byte(nil), data...), xrefSection(objs, int64(len(data)), trailer)...)
}

// placeCompressed records the objects of object stream v (number id).
func placeCompressed(v lpdf.Value, id uint32, objs map[uint32]objLoc, readStream func(lpdf.Value) ([]byte, error), root *string) {
	defer func() {
		if x := recover(); x != nil {
			if bp, ok := x.(budgetPanic); ok {
				panic(bp)
			}
		}
	}()
	if v.Key("Type").Name() != "ObjStm" {
		return
	}
	n := int(v.Key("N").Int64())
	first := int(v.Key("First").Int64())
	data, err := readStream(v)
	if err != nil || first <= 0 || first > len(data) {
		return
	}
	l := &lexer{b: data[:first]}
	for i := 0; i < n && i < 1<<16; i++ {
		a, ok1 := l.next()
		b, ok2 := l.next()
		if !ok1 || !ok2 || a.k != kNum || b.k != kNum {
			return
		}
		num := uint32(a.n)
		if _, plain := objs[num]; !plain && num != 0 && int64(num) < maxXrefEntries(int64(len(data))) {
			objs[num] = objLoc{stm: true, off: id, index: uint16(i)}
			if *root == "" {
				at := first + int(b.n)
				if at >= 0 && at < len(data) && reCatalog.Match(data[at:min(len(data), at+400)]) {
					*root = fmt.Sprintf("%d 0 R", num)
				}
			}
		}
	}
}
