package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"path"
	"strconv"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/html"
	"github.com/docvet/docvet/extractor/text"
)

// maxMIMEDepth bounds nested multiparts inside one message. Real mail nests
// a handful of levels; thousands are an attack on the stack.
const maxMIMEDepth = 64

// headerFields are written, in this order, before the body. Besides the
// usual display headers, the envelope-ish ones carry addresses of people
// who received the mail (a Bcc recipient may appear only in Delivered-To).
var headerFields = []string{
	"From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date",
	"Resent-From", "Resent-To", "Resent-Cc", "Delivered-To", "X-Original-To", "Return-Path",
}

var _ doctext.ExtractFunc = Extract

// Extract reads an RFC 5322 message (.eml) or an mbox (in.MIME contains
// "mbox", or the input starts with an mbox "From " line and holds several
// messages) and writes headers, text bodies and attachment lines into b.
// Attachments are extracted through opt.Recurse when it is set. Damaged
// MIME is read as far as possible and reported with b.Warn.
func Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	lim := opt.Limits.WithDefaults()
	if in.Size < 0 || in.R == nil {
		return fmt.Errorf("mail: %w: no input", doctext.ErrMalformed)
	}
	w := &walker{ctx: ctx, b: b, opt: opt, lim: lim}
	var head [5]byte
	n, _ := in.R.ReadAt(head[:], 0)
	if strings.Contains(strings.ToLower(in.MIME), "mbox") || string(head[:n]) == "From " {
		return w.mbox(in, strings.Contains(strings.ToLower(in.MIME), "mbox"))
	}
	if in.Size > lim.MaxInputBytes {
		return &doctext.LimitError{Limit: "input_bytes", Value: lim.MaxInputBytes}
	}
	data := make([]byte, in.Size)
	if _, err := in.R.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mail: read: %w", err)
	}
	return w.top(data)
}

type walker struct {
	ctx     context.Context
	b       *doctext.Builder
	opt     doctext.Options
	lim     doctext.Limits
	prefix  string // "message N " inside an mbox
	nAttach int
}

func (w *walker) warn(format string, args ...any) {
	w.b.Warn(w.prefix + fmt.Sprintf(format, args...))
}

// top extracts one whole message.
func (w *walker) top(data []byte) error {
	h, body, defect := parseEntity(data)
	if len(h) == 0 {
		if len(bytes.TrimSpace(body)) == 0 {
			return fmt.Errorf("mail: %w: no header fields", doctext.ErrMalformed)
		}
		w.warn("headers: no header fields; content read as plain text")
	} else if defect {
		w.warn("headers: malformed header line; the rest is read as body")
	}
	return w.message(h, body, "", 0)
}

// message writes a message's headers, then its body entity. num is the part
// number of an embedded message/rfc822 ("" at top level); depth counts
// message nesting.
func (w *walker) message(h header, body []byte, num string, depth int) error {
	loc := w.prefix + "headers"
	if num != "" {
		loc = w.prefix + "part " + num + " headers"
	}
	if err := w.headers(h, loc); err != nil {
		return err
	}
	return w.entity(h, body, num, depth, "", 0)
}

func (w *walker) headers(h header, loc string) error {
	var sb strings.Builder
	for _, name := range headerFields {
		for _, f := range h {
			if !strings.EqualFold(f.name, name) {
				continue
			}
			v := decodeHeader(f.value)
			if name == "Date" {
				if t, err := netmail.ParseDate(v); err == nil {
					v = t.Format("Mon, 02 Jan 2006 15:04:05 -0700")
				}
			}
			if v != "" {
				sb.WriteString(name)
				sb.WriteString(": ")
				sb.WriteString(v)
				sb.WriteByte('\n')
			}
		}
	}
	if sb.Len() == 0 {
		return nil
	}
	w.b.Start(loc)
	if err := w.b.EnsureSep("\n"); err != nil {
		return err
	}
	return w.b.WriteString(sb.String())
}

func partLabel(num string) string {
	if num == "" {
		return "body"
	}
	return "part " + num
}

func childNum(num string, i int) string {
	if num == "" {
		return strconv.Itoa(i)
	}
	return num + "." + strconv.Itoa(i)
}

// entity dispatches one MIME entity on its content type.
func (w *walker) entity(h header, body []byte, num string, depth int, parent string, mimeDepth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	ctRaw := h.get("Content-Type")
	mt, params, _ := mediaType(ctRaw)
	if mt == "" || !strings.Contains(mt, "/") {
		if len(bytes.TrimSpace(ctRaw)) > 0 {
			w.warn("%s: invalid Content-Type; read as text/plain", partLabel(num))
		}
		mt = "text/plain"
		if parent == "multipart/digest" {
			mt = "message/rfc822"
		}
	}
	cte := string(h.get("Content-Transfer-Encoding"))
	disp, dparams, _ := mediaType(h.get("Content-Disposition"))
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		return w.multipart(body, mt, params, num, depth, mimeDepth)
	case mt == "message/rfc822" || mt == "message/global":
		return w.embedded(body, cte, num, depth)
	case disp != "attachment" && isTextual(mt):
		return w.textPart(body, mt, params["charset"], cte, num, depth)
	default:
		return w.attachment(body, mt, params, attachmentName(params, dparams), cte, depth)
	}
}

// isTextual: parts whose content is read inline as text. Delivery reports
// are text too: they name the recipients of a bounced mail.
func isTextual(mt string) bool {
	switch mt {
	case "message/delivery-status", "message/global-delivery-status", "message/disposition-notification":
		return true
	}
	return strings.HasPrefix(mt, "text/")
}

func attachmentName(params, dparams map[string]string) string {
	n := dparams["filename"]
	if n == "" {
		n = params["name"]
	}
	if n == "" {
		return ""
	}
	return decodeHeader([]byte(n))
}

func (w *walker) multipart(body []byte, mt string, params map[string]string, num string, depth, mimeDepth int) error {
	if mimeDepth >= maxMIMEDepth {
		w.warn("%s: multipart nesting deeper than %d; not read", partLabel(num), maxMIMEDepth)
		return nil
	}
	parts, found, closed := splitMultipart(body, params["boundary"])
	if !found {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		w.warn("%s: %s without its boundary; read as plain text", partLabel(num), mt)
		return w.textPart(body, "text/plain", "", "", num, depth)
	}
	if !closed {
		w.warn("%s: missing final MIME boundary", partLabel(num))
	}
	for i, p := range parts {
		ch, cbody, _ := parseEntityNoFrom(p)
		if len(ch) == 0 && len(bytes.TrimSpace(cbody)) == 0 {
			continue // empty part (e.g. after a bad final boundary)
		}
		if err := w.entity(ch, cbody, childNum(num, i+1), depth, mt, mimeDepth+1); err != nil {
			return err
		}
	}
	return nil
}

// parseEntityNoFrom is parseEntity for MIME parts: a part whose first line
// happens to start with "From " is body text, not an mbox envelope.
func parseEntityNoFrom(p []byte) (header, []byte, bool) {
	if bytes.HasPrefix(p, []byte("From ")) {
		return nil, p, true
	}
	return parseEntity(p)
}

// splitMultipart returns the parts between "--boundary" lines. found is
// false when no delimiter line occurs; closed is false when the closing
// "--boundary--" is missing (the last part then runs to the end).
func splitMultipart(body []byte, boundary string) (parts [][]byte, found, closed bool) {
	if boundary == "" {
		return nil, false, false
	}
	delim := []byte("--" + boundary)
	start := -1
	off := 0
	for off < len(body) {
		i := bytes.Index(body[off:], delim)
		if i < 0 {
			break
		}
		at := off + i
		lineEnd := len(body)
		if j := bytes.IndexByte(body[at:], '\n'); j >= 0 {
			lineEnd = at + j + 1
		}
		if at > 0 && body[at-1] != '\n' { // not at a line start
			off = at + len(delim)
			continue
		}
		rest := bytes.TrimRight(body[at+len(delim):lineEnd], " \t\r\n")
		isClose := string(rest) == "--"
		if len(rest) > 0 && !isClose {
			off = at + len(delim)
			continue
		}
		if start >= 0 {
			parts = append(parts, trimEOL(body[start:at]))
		}
		found = true
		if isClose {
			return parts, true, true
		}
		start = lineEnd
		off = lineEnd
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, found, false
}

// trimEOL drops the line break that belongs to the following delimiter.
func trimEOL(p []byte) []byte {
	p = bytes.TrimSuffix(p, []byte("\n"))
	return bytes.TrimSuffix(p, []byte("\r"))
}

func (w *walker) embedded(body []byte, cte, num string, depth int) error {
	if num == "" {
		num = "1"
	}
	data, bad := decodeTransfer(body, cte)
	if bad {
		w.warn("%s: damaged %s transfer encoding, decoded leniently", partLabel(num), strings.ToLower(cte))
	}
	if w.opt.Depth+depth+1 > w.lim.MaxAttachDepth {
		w.warn("%s: message/rfc822 nested deeper than %d; not read", partLabel(num), w.lim.MaxAttachDepth)
		return nil
	}
	h, nbody, defect := parseEntity(data)
	if defect {
		w.warn("%s: malformed header line in embedded message", partLabel(num))
	}
	return w.message(h, nbody, num, depth+1)
}

func (w *walker) textPart(body []byte, mt, charset, cte, num string, depth int) error {
	data, bad := decodeTransfer(body, cte)
	if bad {
		w.warn("%s: damaged %s transfer encoding, decoded leniently", partLabel(num), strings.ToLower(strings.TrimSpace(cte)))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	w.b.Start(w.prefix + partLabel(num))
	if err := w.b.EnsureSep("\n"); err != nil {
		return err
	}
	if mt == "text/html" || mt == "application/xhtml+xml" {
		return html.FromReader(w.ctx, bytes.NewReader(data), charset, w.b)
	}
	// uuencoded files inside a text body (old mailers): text around them is
	// text, each block is an attachment.
	for {
		at, _, _, ok := findUUBeginAt(data)
		if !ok {
			break
		}
		if err := w.plain(data[:at], charset); err != nil {
			return err
		}
		ud, name, end, complete := decodeUU(data[at:])
		if !complete {
			w.warn("%s: uuencoded block without end line", partLabel(num))
		}
		ut := mime.TypeByExtension(path.Ext(name))
		if ut == "" {
			ut = "application/octet-stream"
		}
		if i := strings.IndexByte(ut, ';'); i >= 0 {
			ut = ut[:i]
		}
		if err := w.attachData(ud, ut, name, "", depth, false); err != nil {
			return err
		}
		data = data[at+end:]
		w.b.Start(w.prefix + partLabel(num))
	}
	return w.plain(data, charset)
}

func (w *walker) plain(data []byte, charset string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := w.b.EnsureSep("\n"); err != nil {
		return err
	}
	r, _, err := text.Decode(bytes.NewReader(data), charset)
	if err != nil {
		return err
	}
	return text.Copy(w.ctx, w.b, r)
}

// safeType returns mt for a warning when it is a common, registered media
// type, else its top-level type and "/other": a warning must not carry free
// text from the message, and "application/x-<anything>" can.
func safeType(mt string) string {
	top, sub, ok := strings.Cut(mt, "/")
	switch top {
	case "application", "text", "image", "audio", "video", "message", "multipart", "font", "model":
	default:
		return "unknown type"
	}
	if !ok {
		return top + "/other"
	}
	for _, p := range knownSubtypes {
		if sub == p || strings.HasSuffix(p, ".") && strings.HasPrefix(sub, p) && len(sub) <= 80 && isTypeToken(sub) {
			return mt
		}
	}
	return top + "/other"
}

// knownSubtypes are shown in warnings as they are; an entry ending in '.'
// is a prefix of a registered family.
var knownSubtypes = []string{
	"pdf", "msword", "rtf", "zip", "octet-stream", "json", "xml", "plain", "html", "csv", "calendar",
	"rfc822", "jpeg", "png", "gif", "tiff", "bmp", "webp", "mpeg", "mp4", "x-zip-compressed",
	"x-7z-compressed", "x-rar-compressed", "vnd.rar", "x-tar", "gzip", "x-gzip", "x-bzip2", "postscript",
	"pgp-encrypted", "pgp-signature", "pkcs7-mime", "pkcs7-signature", "x-pkcs7-signature", "ms-tnef",
	"vnd.ms-excel", "vnd.ms-powerpoint", "vnd.ms-outlook", "vnd.openxmlformats-officedocument.",
	"vnd.oasis.opendocument.", "vnd.ms-excel.", "vnd.ms-word.", "vnd.ms-powerpoint.",
}

func isTypeToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// signature parts are not documents: listed, never extracted or warned about.
func isSignature(mt string) bool {
	switch mt {
	case "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature":
		return true
	}
	return false
}

func (w *walker) attachment(body []byte, mt string, params map[string]string, name, cte string, depth int) error {
	data, bad := decodeTransfer(body, cte)
	ct := mt
	if cs := params["charset"]; cs != "" && strings.HasPrefix(mt, "text/") {
		ct = mt + "; charset=" + cs
	}
	return w.attachData(data, ct, name, strings.ToLower(strings.TrimSpace(cte)), depth, bad)
}

// attachData lists an attachment and, with a Recurser, extracts it. Its
// failures become warnings naming the attachment's index and type only
// (file names can be personal data).
func (w *walker) attachData(data []byte, ct, name, cte string, depth int, bad bool) error {
	w.nAttach++
	n := w.nAttach
	mt := ct
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	display := name
	if display == "" {
		display = "unnamed"
	}
	w.b.Start(w.prefix + "attachment " + strconv.Itoa(n))
	if err := w.b.EnsureSep("\n"); err != nil {
		return err
	}
	if err := w.b.WriteString("[attachment: " + display + " " + mt + "]\n"); err != nil {
		return err
	}
	if w.opt.Recurse == nil || isSignature(mt) {
		return nil
	}
	if bad {
		w.warn("attachment %d (%s): damaged %s transfer encoding, decoded leniently", n, safeType(mt), cte)
	}
	if len(data) == 0 {
		return nil
	}
	child := w.opt.Depth + depth + 1
	if child > w.lim.MaxAttachDepth {
		w.warn("attachment %d (%s): nested deeper than %d; not read", n, safeType(mt), w.lim.MaxAttachDepth)
		return nil
	}
	err := w.opt.Recurse(w.ctx, doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), Name: name, MIME: ct}, child, w.b)
	if e := w.b.EnsureSep("\n"); e != nil && err == nil {
		err = e
	}
	return w.recurseErr(n, mt, err)
}

func (w *walker) recurseErr(n int, mt string, err error) error {
	var le *doctext.LimitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &le):
		if w.b.Full() {
			return err // the message itself is out of room
		}
		w.warn("attachment %d (%s): limit %s reached", n, safeType(mt), le.Limit)
	case errors.Is(err, doctext.ErrEncrypted):
		w.warn("attachment %d (%s): encrypted", n, safeType(mt))
	case errors.Is(err, doctext.ErrUnsupported):
		// Images (logos, signatures, photos) are listed in the text but not
		// warned about: until OCR exists no image is searchable anywhere, and
		// flagging every mail with a logo as partial would bury the real
		// gaps in the reviewers' "Not searchable" list.
		if !strings.HasPrefix(mt, "image/") {
			w.warn("attachment %d (%s): unsupported format", n, safeType(mt))
		}
	case errors.Is(err, doctext.ErrMalformed):
		w.warn("attachment %d (%s): malformed", n, safeType(mt))
	default:
		w.warn("attachment %d (%s): extraction failed", n, safeType(mt))
	}
	return nil
}

// mbox splits an mbox on "From " lines that start the file or follow an
// empty line, and extracts each message (location "message N ...").
// Messages are read one at a time, so memory is bounded by the largest
// message, not the mailbox. ">From " lines are unescaped (mboxrd/mboxo).
func (w *walker) mbox(in doctext.Input, declared bool) error {
	br := bufio.NewReaderSize(io.NewSectionReader(in.R, 0, in.Size), 64<<10)
	var starts []int64
	var off int64
	prevBlank := true
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if lineStart && prevBlank && bytes.HasPrefix(line, []byte("From ")) {
			starts = append(starts, off)
		}
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			if lineStart {
				prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0 && complete
			} else if complete {
				prevBlank = false
			}
			lineStart = complete
		}
		off += int64(len(line))
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("mail: read mbox: %w", err)
		}
	}
	if len(starts) == 0 || starts[0] != 0 {
		starts = append([]int64{0}, starts...)
	}
	if len(starts) == 1 && !declared {
		if in.Size > w.lim.MaxInputBytes {
			return &doctext.LimitError{Limit: "input_bytes", Value: w.lim.MaxInputBytes}
		}
		data := make([]byte, in.Size)
		if _, err := in.R.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("mail: read: %w", err)
		}
		return w.top(unescapeFrom(data))
	}
	for i, s := range starts {
		end := in.Size
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		w.prefix = "message " + strconv.Itoa(i+1) + " "
		w.nAttach = 0
		if end-s > w.lim.MaxInputBytes {
			w.warn("larger than %d bytes; not read", w.lim.MaxInputBytes)
			continue
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		data := make([]byte, end-s)
		if _, err := in.R.ReadAt(data, s); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("mail: read mbox: %w", err)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		err := w.top(unescapeFrom(data))
		var le *doctext.LimitError
		switch {
		case err == nil:
		case errors.As(err, &le), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return err
		default:
			w.warn("not readable as a message")
		}
	}
	return nil
}

// unescapeFrom removes one '>' from lines matching ^>+From .
func unescapeFrom(p []byte) []byte {
	if !bytes.Contains(p, []byte(">From ")) {
		return p
	}
	out := make([]byte, 0, len(p))
	for len(p) > 0 {
		line, rest := cutLine(p)
		p = rest
		t := bytes.TrimLeft(line, ">")
		if len(t) < len(line) && bytes.HasPrefix(t, []byte("From ")) {
			line = line[1:]
		}
		out = append(out, line...)
	}
	return out
}
