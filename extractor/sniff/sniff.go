package sniff

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf16"
)

// HeadSize is how many leading bytes Detect looks at.
const HeadSize = 4096

// MIME types Detect returns (always the bare essence, no parameters).
const (
	PDF   = "application/pdf"
	DOCX  = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	XLSX  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	XLSB  = "application/vnd.ms-excel.sheet.binary.macroenabled.12"
	PPTX  = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	ODT   = "application/vnd.oasis.opendocument.text"
	ODS   = "application/vnd.oasis.opendocument.spreadsheet"
	Zip   = "application/zip"
	OLE   = "application/x-ole-storage"
	DOC   = "application/msword"
	XLS   = "application/vnd.ms-excel"
	PPT   = "application/vnd.ms-powerpoint"
	MSG   = "application/vnd.ms-outlook"
	EML   = "message/rfc822"
	Mbox  = "application/mbox"
	HTML  = "text/html"
	Plain = "text/plain"
	CSV   = "text/csv"
	TSV   = "text/tab-separated-values"
	XML   = "text/xml"
	JSON  = "application/json"
	RTF   = "application/rtf"
	Octet = "application/octet-stream"
)

// Essence returns the lower-cased type/subtype of a MIME string without
// parameters ("Text/Plain; charset=x" -> "text/plain"), or "" if s is empty
// or unparseable.
func Essence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(s); err == nil {
		if !strings.Contains(mt, "/") {
			return ""
		}
		return mt
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "/") {
		return ""
	}
	return s
}

// IsPDF reports whether head carries a PDF header within its first 1024
// bytes (readers, and so we, tolerate junk before "%PDF-").
func IsPDF(head []byte) bool {
	return bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-"))
}

// IsZip reports whether head starts like a zip archive (local file header,
// empty archive, or spanned-archive marker).
func IsZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) ||
		bytes.HasPrefix(head, []byte("PK\x05\x06")) ||
		bytes.HasPrefix(head, []byte("PK\x07\x08"))
}

var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// IsOLE reports whether head starts with the OLE2 compound file signature
// (legacy Office, Outlook .msg, and password-encrypted OOXML).
func IsOLE(head []byte) bool { return bytes.HasPrefix(head, oleMagic) }

// Detect returns the MIME type of a document from its content first and its
// file name's extension second. head is the first HeadSize bytes (or fewer);
// ra and size give random access to the whole file for container formats and
// may be nil/0, in which case only head is used. name may be empty.
func Detect(head []byte, ra io.ReaderAt, size int64, name string) string {
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	if ra == nil || size <= 0 {
		ra, size = bytes.NewReader(head), int64(len(head))
	}
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, "\\", "/")))
	switch {
	case len(head) == 0:
		return byExt(Plain, ext)
	case IsPDF(head):
		return PDF
	case IsZip(head):
		return zipType(head, ra, size, ext)
	case IsOLE(head):
		return oleType(ra, size, ext)
	case bytes.HasPrefix(head, []byte(`{\rtf`)):
		return RTF
	}
	dct := Essence(http.DetectContentType(head))
	switch dct {
	case "text/plain", "text/html", "text/xml", Octet:
	default:
		return dct // images, audio, archives, fonts, postscript ...
	}
	tv, ok := textView(head)
	if !ok {
		return byExt(Octet, ext)
	}
	switch {
	case isMbox(tv):
		return Mbox
	case isMail(tv):
		return EML
	case isHTML(tv):
		return HTML
	}
	if Essence(http.DetectContentType(tv)) == "text/xml" {
		return XML
	}
	return byExt(Plain, ext)
}

// DetectReaderAt reads the head itself and calls Detect.
func DetectReaderAt(ra io.ReaderAt, size int64, name string) (string, error) {
	head := make([]byte, min(size, HeadSize))
	n, err := ra.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return Detect(head[:n], ra, size, name), nil
}

// byExt refines a generic content type with the file extension. Text
// extensions only apply to text content, binary ones only to unknown binary
// content or a zip without Office markers.
func byExt(generic, ext string) string {
	switch generic {
	case Plain:
		switch ext {
		case ".csv":
			return CSV
		case ".tsv", ".tab":
			return TSV
		case ".htm", ".html", ".xhtml":
			return HTML
		case ".eml":
			return EML
		case ".mbox", ".mbx":
			return Mbox
		case ".json":
			return JSON
		case ".xml":
			return XML
		}
	case Octet:
		switch ext {
		case ".pdf":
			return PDF
		case ".docx", ".docm":
			return DOCX
		case ".xlsx", ".xlsm":
			return XLSX
		case ".pptx":
			return PPTX
		case ".doc":
			return DOC
		case ".xls":
			return XLS
		case ".ppt":
			return PPT
		case ".msg":
			return MSG
		}
	case Zip:
		switch ext {
		case ".docx", ".docm":
			return DOCX
		case ".xlsx", ".xlsm":
			return XLSX
		case ".pptx":
			return PPTX
		case ".odt":
			return ODT
		case ".ods":
			return ODS
		}
	}
	return generic
}

// zipType looks at the entry names of a zip. When the central directory is
// unreadable (truncated file) it falls back to the local headers in head, so
// a truncated DOCX is still reported as DOCX and fails in its parser with a
// precise reason instead of "unsupported zip".
func zipType(head []byte, ra io.ReaderAt, size int64, ext string) string {
	zr, err := zip.NewReader(ra, size)
	if err == nil {
		var prefix string
		for i, f := range zr.File {
			if i == 0 && f.Name == "mimetype" {
				if mt := odfMimetype(f); mt != "" {
					return mt
				}
			}
			if t := zipNameType(f.Name, true); t != "" {
				return t
			}
			if prefix == "" {
				prefix = zipNameType(f.Name, false)
			}
		}
		if prefix != "" {
			return prefix
		}
		return byExt(Zip, ext)
	}
	var prefix string
	for off := 0; off+30 <= len(head) && bytes.HasPrefix(head[off:], []byte("PK\x03\x04")); {
		flags := binary.LittleEndian.Uint16(head[off+6:])
		method := binary.LittleEndian.Uint16(head[off+8:])
		csize := int(binary.LittleEndian.Uint32(head[off+18:]))
		nlen := int(binary.LittleEndian.Uint16(head[off+26:]))
		xlen := int(binary.LittleEndian.Uint16(head[off+28:]))
		if off+30+nlen > len(head) {
			break
		}
		name := string(head[off+30 : off+30+nlen])
		data := off + 30 + nlen + xlen
		if off == 0 && name == "mimetype" && method == zip.Store && data+csize <= len(head) {
			if mt := cleanMime(head[data : data+csize]); mt != "" {
				return mt
			}
		}
		if t := zipNameType(name, true); t != "" {
			return t
		}
		if prefix == "" {
			prefix = zipNameType(name, false)
		}
		if flags&0x8 != 0 {
			// Size unknown until the data descriptor: resync on the next
			// local header signature.
			j := bytes.Index(head[min(data, len(head)):], []byte("PK\x03\x04"))
			if j < 0 {
				break
			}
			off = data + j
			continue
		}
		off = data + csize
	}
	if prefix != "" {
		return prefix
	}
	return byExt(Zip, ext)
}

func zipNameType(name string, exact bool) string {
	if exact {
		switch name {
		case "word/document.xml":
			return DOCX
		case "xl/workbook.xml":
			return XLSX
		case "xl/workbook.bin":
			return XLSB
		case "ppt/presentation.xml":
			return PPTX
		}
		return ""
	}
	switch {
	case strings.HasPrefix(name, "word/"):
		return DOCX
	case strings.HasPrefix(name, "xl/"):
		return XLSX
	case strings.HasPrefix(name, "ppt/"):
		return PPTX
	}
	return ""
}

func odfMimetype(f *zip.File) string {
	if f.UncompressedSize64 > 256 {
		return ""
	}
	rc, err := f.Open()
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 256))
	return cleanMime(b)
}

// cleanMime accepts only a plausible MIME type (ODF "mimetype" entries are
// attacker-controlled text).
func cleanMime(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) == 0 || len(s) > 100 || strings.Count(s, "/") != 1 {
		return ""
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/.+-_", c)) {
			return ""
		}
	}
	return strings.ToLower(s)
}

// oleType classifies an OLE2 compound file by its stream names, falling back
// to the extension when the directory cannot be read.
func oleType(ra io.ReaderAt, size int64, ext string) string {
	names := OLENames(ra, size)
	has := func(n string) bool {
		for _, x := range names {
			if strings.EqualFold(x, n) {
				return true
			}
		}
		return false
	}
	switch {
	case has("EncryptedPackage"):
		// Password-protected OOXML: the extension is the only hint left of
		// what is inside; the dispatcher reports it as encrypted either way.
		switch ext {
		case ".docx", ".docm":
			return DOCX
		case ".xlsx", ".xlsm", ".xlsb":
			return XLSX
		case ".pptx":
			return PPTX
		}
		return OLE
	case has("WordDocument"):
		return DOC
	case has("Workbook") || has("Book"):
		return XLS
	case has("PowerPoint Document"):
		return PPT
	}
	for _, n := range names {
		if strings.HasPrefix(n, "__substg1.0_") || strings.HasPrefix(n, "__properties_version1.0") {
			return MSG
		}
	}
	switch ext {
	case ".doc", ".dot":
		return DOC
	case ".xls", ".xlt":
		return XLS
	case ".ppt", ".pps":
		return PPT
	case ".msg":
		return MSG
	case ".docx", ".docm", ".xlsx", ".xlsm", ".pptx":
		// OOXML extension on an OLE file is almost always encryption whose
		// directory we could not read; let the dispatcher's check decide.
		return byExt(Zip, ext)
	}
	return OLE
}

// IsEncryptedOLE reports whether an OLE2 file holds an "EncryptedPackage"
// stream: a password-protected OOXML document (DOCX/XLSX/PPTX).
func IsEncryptedOLE(ra io.ReaderAt, size int64) bool {
	for _, n := range OLENames(ra, size) {
		if n == "EncryptedPackage" {
			return true
		}
	}
	return false
}

// Bounds for walking an OLE2 directory: enough for every real Office file's
// top-level streams, small enough that a hostile FAT loop costs nothing.
const (
	oleMaxDirSectors = 64
	oleMaxNames      = 512
)

// OLENames returns the names of the entries in an OLE2 compound file's
// directory (storages and streams, in directory order), reading at most
// oleMaxDirSectors sectors. It returns nil if ra is not an OLE2 file.
func OLENames(ra io.ReaderAt, size int64) []string {
	var hdr [512]byte
	if size < 512 {
		return nil
	}
	if _, err := ra.ReadAt(hdr[:], 0); err != nil {
		return nil
	}
	if !IsOLE(hdr[:]) {
		return nil
	}
	shift := binary.LittleEndian.Uint16(hdr[0x1E:])
	if shift != 9 && shift != 12 {
		return nil
	}
	ss := int64(1) << shift
	perFAT := ss / 4
	sec := binary.LittleEndian.Uint32(hdr[0x30:])
	buf := make([]byte, ss)
	var names []string
	seen := map[uint32]bool{}
	for range oleMaxDirSectors {
		if sec >= 0xFFFFFFFA || seen[sec] {
			break
		}
		seen[sec] = true
		off := (int64(sec) + 1) * ss
		if off+ss > size {
			break
		}
		if _, err := ra.ReadAt(buf, off); err != nil {
			break
		}
		for e := int64(0); e+128 <= ss; e += 128 {
			ent := buf[e : e+128]
			nlen := int(binary.LittleEndian.Uint16(ent[64:]))
			typ := ent[66]
			if typ == 0 || nlen < 2 || nlen > 64 || nlen%2 != 0 {
				continue
			}
			u := make([]uint16, 0, nlen/2)
			for i := 0; i < nlen-2; i += 2 {
				c := binary.LittleEndian.Uint16(ent[i:])
				if c == 0 {
					break
				}
				u = append(u, c)
			}
			names = append(names, string(utf16.Decode(u)))
			if len(names) >= oleMaxNames {
				return names
			}
		}
		// Next directory sector from the FAT; only the 109 FAT sectors
		// listed in the header are consulted (files up to ~7 MB with
		// 512-byte sectors, far more with 4 KiB ones).
		fi := int64(sec) / perFAT
		if fi >= 109 {
			break
		}
		fatSec := binary.LittleEndian.Uint32(hdr[0x4C+4*fi:])
		if fatSec >= 0xFFFFFFFA {
			break
		}
		var nb [4]byte
		if _, err := ra.ReadAt(nb[:], (int64(fatSec)+1)*ss+(int64(sec)%perFAT)*4); err != nil {
			break
		}
		sec = binary.LittleEndian.Uint32(nb[:])
	}
	return names
}

// textView returns head as UTF-8-ish bytes for header/markup checks if it
// looks like text: UTF-8 (with or without BOM), UTF-16 with BOM or without
// (ASCII-heavy text has every other byte zero), or a legacy 8-bit/multibyte
// charset with almost no control bytes (Windows-125x, Shift_JIS, CP866,
// even EBCDIC). Bytes of legacy charsets are returned unchanged.
func textView(head []byte) ([]byte, bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		head = head[3:]
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return decodeUTF16(head[2:], binary.LittleEndian)
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return decodeUTF16(head[2:], binary.BigEndian)
	}
	if len(head) >= 8 {
		var zEven, zOdd int
		pairs := len(head) / 2
		for i := 0; i+1 < len(head); i += 2 {
			if head[i] == 0 {
				zEven++
			}
			if head[i+1] == 0 {
				zOdd++
			}
		}
		if zOdd*10 >= pairs*4 && zEven*20 <= pairs {
			return decodeUTF16(head, binary.LittleEndian)
		}
		if zEven*10 >= pairs*4 && zOdd*20 <= pairs {
			return decodeUTF16(head, binary.BigEndian)
		}
	}
	if !mostlyText(head) {
		return nil, false
	}
	return head, true
}

func decodeUTF16(b []byte, bo binary.ByteOrder) ([]byte, bool) {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, bo.Uint16(b[i:]))
	}
	s := []byte(string(utf16.Decode(u)))
	return s, mostlyText(s)
}

// mostlyText: no NUL bytes and at most 5% control bytes other than the
// usual whitespace, ESC (ISO-2022) and SUB (DOS end-of-file).
func mostlyText(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	ctl := 0
	for _, c := range b {
		switch {
		case c == 0:
			return false
		case c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x1B || c == 0x1A:
		case c < 0x20 || c == 0x7F:
			ctl++
		}
	}
	return ctl*20 <= len(b)
}

// lines splits complete lines (the last, possibly cut, line is dropped
// unless b ends with a newline), trimming CR.
func lines(b []byte, max int) [][]byte {
	var out [][]byte
	for len(out) < max {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		out = append(out, bytes.TrimSuffix(b[:i], []byte("\r")))
		b = b[i+1:]
	}
	return out
}

// headerName returns the field name of an RFC 5322 header line, or "".
func headerName(l []byte) string {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return ""
	}
	for _, c := range l[:i] {
		if c < 33 || c > 126 {
			return ""
		}
	}
	return strings.ToLower(string(l[:i]))
}

// isMbox: a "From " separator line followed by a header line.
func isMbox(tv []byte) bool {
	if !bytes.HasPrefix(tv, []byte("From ")) {
		return false
	}
	ls := lines(tv, 2)
	return len(ls) == 2 && headerName(ls[1]) != ""
}

var (
	strongHeaders = map[string]bool{
		"from": true, "received": true, "return-path": true, "mime-version": true,
		"message-id": true, "delivered-to": true, "x-mailer": true, "dkim-signature": true,
		"authentication-results": true, "in-reply-to": true, "references": true,
		"x-original-to": true, "envelope-to": true,
	}
	mediumHeaders = map[string]bool{
		"to": true, "cc": true, "bcc": true, "subject": true, "date": true, "reply-to": true,
		"sender": true, "content-type": true, "content-transfer-encoding": true,
		"content-disposition": true,
	}
)

// isMail: the text starts with an RFC 5322 header block (every line up to
// the first blank line, or the end of head, is a header or a continuation)
// of at least two fields that includes one typical mail header (From,
// Received, Message-ID, ...) or two common ones (Subject, Date, To,
// Content-Type, ...). "Name: x / Address: y" text fails the last test.
func isMail(tv []byte) bool {
	var n, strong int
	medium := map[string]bool{}
	for i, l := range lines(tv, 200) {
		if len(l) == 0 {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if i == 0 {
				return false
			}
			continue
		}
		name := headerName(l)
		if name == "" {
			return false
		}
		n++
		if strongHeaders[name] {
			strong++
		}
		if mediumHeaders[name] {
			medium[name] = true
		}
	}
	return n >= 2 && (strong > 0 || len(medium) >= 2)
}

func isHTML(tv []byte) bool {
	if Essence(http.DetectContentType(tv)) == "text/html" {
		return true
	}
	lead := bytes.ToLower(tv[:min(len(tv), 1024)])
	return bytes.Contains(lead, []byte("<html")) || bytes.Contains(lead, []byte("<!doctype html"))
}
