package mail

import (
	"bytes"
	"strings"
)

// decodeTransfer undoes a Content-Transfer-Encoding. The decoders are
// lenient: they recover what they can from damaged input and report bad=true
// so the caller can warn.
func decodeTransfer(body []byte, cte string) (data []byte, bad bool) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		return decodeQP(body), false
	case "x-uuencode", "x-uue", "uuencode", "x-uu":
		d, _, _, ok := decodeUU(body)
		return d, !ok && len(bytes.TrimSpace(body)) > 0
	}
	return body, false
}

var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(a); i++ {
		t[a[i]] = int8(i)
	}
	t['-'], t['_'] = 62, 63 // URL-safe alphabet seen in the wild
	return t
}()

// decodeBase64 skips whitespace and drops (but reports) characters outside
// the alphabet. Padding ends a quantum, not the body: some mailers encode
// each line (or each chunk) separately, so decoding resumes after it
// ("SGVsbG8=\nV29ybGQ=" is "Hello" "World"). Data after padding on the same
// line is decoded too but reported, as is a quantum cut after one
// character.
func decodeBase64(in []byte) ([]byte, bool) {
	out := make([]byte, 0, len(in)*3/4)
	var acc uint32
	n := 0
	bad, padded := false, false
	flush := func() {
		switch n {
		case 1:
			bad = true
		case 2:
			out = append(out, byte(acc>>4))
		case 3:
			out = append(out, byte(acc>>10), byte(acc>>2))
		}
		acc, n = 0, 0
	}
	for _, c := range in {
		if c == '=' {
			flush()
			padded = true
			continue
		}
		v := b64[c]
		if v < 0 {
			switch c {
			case '\n':
				padded = false
			case ' ', '\t', '\r':
			default:
				bad = true
			}
			continue
		}
		if padded {
			bad = true // more data on the line after padding
			padded = false
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	flush()
	return out, bad
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeQP decodes quoted-printable; an '=' not followed by two hex digits
// or a line break is kept literally (as mail readers do).
func decodeQP(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for len(in) > 0 {
		line, rest := cutLine(in)
		in = rest
		hasNL := len(line) > 0 && line[len(line)-1] == '\n'
		line = bytes.TrimRight(line, "\r\n")
		line = bytes.TrimRight(line, " \t") // transport padding
		soft := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if i == len(line)-1 {
				soft = true
				break
			}
			if i+2 < len(line) {
				h, ok1 := unhex(line[i+1])
				l, ok2 := unhex(line[i+2])
				if ok1 && ok2 {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
			out = append(out, '=')
		}
		if hasNL && !soft {
			out = append(out, '\n')
		}
	}
	return out
}

// decodeUU decodes the first "begin MODE NAME" ... "end" block in p. It
// returns the data, the file name, the offset just past the block, and
// ok=false when no complete block was found (data then holds what could be
// decoded).
func decodeUU(p []byte) (data []byte, name string, end int, ok bool) {
	start, name, found := findUUBegin(p)
	if !found {
		return nil, "", len(p), false
	}
	rest := p[start:]
	for len(rest) > 0 {
		line, next := cutLine(rest)
		rest = next
		line = bytes.TrimRight(line, "\r\n")
		if bytes.Equal(bytes.TrimRight(line, " \t"), []byte("end")) {
			return data, name, len(p) - len(rest), true
		}
		if len(line) == 0 {
			continue
		}
		n := int((line[0] - ' ') & 63)
		if n == 0 {
			continue
		}
		var buf []byte
		for i := 1; i < len(line) && len(buf) < n; i += 4 {
			var q [4]byte
			for k := 0; k < 4; k++ {
				if i+k < len(line) {
					q[k] = (line[i+k] - ' ') & 63
				}
			}
			buf = append(buf, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
		}
		if len(buf) > n {
			buf = buf[:n]
		}
		data = append(data, buf...)
	}
	return data, name, len(p), false
}

// findUUBegin finds a "begin NNN name" line; start is the offset after it.
func findUUBegin(p []byte) (start int, name string, ok bool) {
	_, start, name, ok = findUUBeginAt(p)
	return start, name, ok
}

// findUUBeginAt also returns the offset where the begin line starts.
func findUUBeginAt(p []byte) (at, start int, name string, ok bool) {
	off := 0
	for off < len(p) {
		line, _ := cutLine(p[off:])
		next := off + len(line)
		if len(line) > 6 && line[0] == 'b' {
			if l, found := parseUUBegin(bytes.TrimRight(line, "\r\n")); found {
				first, _ := cutLine(p[next:])
				if uuLine(bytes.TrimRight(first, "\r\n")) {
					return off, next, l, true
				}
			}
		}
		off = next
	}
	return 0, 0, "", false
}

func parseUUBegin(line []byte) (string, bool) {
	if !bytes.HasPrefix(line, []byte("begin ")) {
		return "", false
	}
	f := strings.Fields(string(line[len("begin "):]))
	if len(f) < 2 || len(f[0]) < 3 || len(f[0]) > 4 {
		return "", false
	}
	for _, c := range f[0] {
		if c < '0' || c > '7' {
			return "", false
		}
	}
	return strings.Join(f[1:], " "), true
}

// uuLine reports whether line is a plausible uuencoded data line: its
// length character matches its length and every character is in the uu
// range. This keeps prose such as "begin 2020 plans" from being eaten.
func uuLine(line []byte) bool {
	if len(line) < 2 {
		return false
	}
	n := int((line[0] - ' ') & 63)
	want := (n + 2) / 3 * 4
	if n == 0 || len(line)-1 < want || len(line)-1 > want+2 {
		return false
	}
	for _, c := range line {
		if c < ' ' || c > '`' {
			return false
		}
	}
	return true
}
