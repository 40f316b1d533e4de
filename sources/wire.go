package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Wire helpers for the JSON pull and push protocols (SPEC §2), shared by the
// core service and the sources: a streaming decoder that never holds the
// whole array, a streaming array encoder, and the pull client.

// ErrEntityTooLarge is returned when one entity exceeds the per-entity cap.
var ErrEntityTooLarge = errors.New("entity too large")

// DecodeError says where a JSON body stopped being well-formed. It names the
// 0-based byte offset and the index of the entity being read, never the
// input.
type DecodeError struct {
	Index  int   // index of the entity being decoded (0-based)
	Offset int64 // byte offset in the body where decoding failed
	Err    error // the cause (a syntax problem or ErrEntityTooLarge)
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d (entity index %d): %v", e.Offset, e.Index, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ReadError is a failure of the body's reader (the peer went away, a
// timeout, a size limit such as *http.MaxBytesError): the body is
// incomplete, not malformed, so a receiver must not treat what came before
// as a finished request. Err is reachable with errors.As / errors.Is.
type ReadError struct {
	Index  int   // index of the entity being decoded (0-based)
	Offset int64 // bytes of the body decoded before the failure
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("reading the body failed at byte %d (entity index %d): %v", e.Offset, e.Index, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// OversizedEntity is an entity over the per-entity cap that was skipped
// without holding it in memory; its _id and _updated were read on the way.
type OversizedEntity struct {
	ID      string          // its _id
	Updated json.RawMessage // its _updated, as written
	Size    int64           // its length in bytes
}

// maxCaptured bounds the _id and _updated values read from an oversized
// entity; longer ones count as unreadable.
const maxCaptured = 4 << 10

// errSyntax is the value-free description of a JSON syntax error: the
// encoding/json message quotes the offending character, which may be part of
// personal data.
var errSyntax = errors.New("invalid JSON syntax")

// DecodeEntities reads a JSON array of entities, or a single JSON object, from
// r and calls fn with each entity's raw JSON as it is read, so memory stays
// bounded by the largest entity, not the body. maxEntity (<= 0: no cap)
// limits one entity's size exactly. Elements are passed through whatever
// their JSON type; callers reject non-objects. A malformed body yields a
// *DecodeError after the entities before the problem were passed to fn; an
// error returned by fn stops decoding and is returned as is. A failing
// reader yields a *ReadError instead (the body is incomplete, not
// malformed); its cause (such as *http.MaxBytesError) is reachable with
// errors.As.
//
// The array structure is scanned here, in one linear pass, rather than with
// json.Decoder.Token/More: those rescan buffered whitespace on every refill,
// which makes a body of 16 MiB of blanks cost tens of seconds of CPU.
func DecodeEntities(r io.Reader, maxEntity int64, fn func(index int, raw json.RawMessage) error) error {
	return decodeEntities(r, maxEntity, fn, nil)
}

// decodeEntities is DecodeEntities; when oversized is non-nil, an object
// over maxEntity whose _id (a string) and _updated (a scalar) can be read is
// scanned to its end without being buffered and passed to oversized
// instead of stopping the decode.
func decodeEntities(r io.Reader, maxEntity int64, fn func(index int, raw json.RawMessage) error,
	oversized func(index int, o OversizedEntity) error) error {
	src := &readTracker{r: r}
	d := &scanner{br: bufio.NewReaderSize(src, 32<<10), src: src, max: maxEntity, oversized: oversized}
	c, err := d.skipSpace()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return d.fail(0, errors.New("empty body: expected a JSON array or object"))
		}
		return d.fail(0, err)
	}
	switch c {
	case '{':
		raw, err := d.value(0)
		if err != nil {
			return err
		}
		if raw != nil {
			if err := fn(0, raw); err != nil {
				return err
			}
		}
		return d.end(1)
	case '[':
		d.next()
		c, err := d.skipSpace()
		if err != nil {
			return d.fail(0, eofAsUnexpected(err))
		}
		if c == ']' {
			d.next()
			return d.end(0)
		}
		for i := 0; ; i++ {
			raw, err := d.value(i)
			if err != nil {
				return err
			}
			if raw != nil { // nil: an oversized entity, already passed on
				if err := fn(i, raw); err != nil {
					return err
				}
			}
			c, err := d.skipSpace()
			if err != nil {
				return d.fail(i+1, eofAsUnexpected(err))
			}
			switch c {
			case ']':
				d.next()
				return d.end(i + 1)
			case ',':
				d.next()
			default:
				return d.fail(i+1, errSyntax)
			}
			if _, err := d.skipSpace(); err != nil {
				return d.fail(i+1, eofAsUnexpected(err))
			}
		}
	default:
		return d.fail(0, errors.New("expected a JSON array or object"))
	}
}

func eofAsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("unexpected end of body")
	}
	return err
}

// readTracker remembers the first failure of the underlying reader, so a
// decode that stops can tell a broken stream from malformed JSON.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// scanner finds the extent of JSON values in a stream, tracking the offset.
type scanner struct {
	br        *bufio.Reader
	src       *readTracker
	off       int64 // offset of the next unread byte
	max       int64
	oversized func(index int, o OversizedEntity) error
}

// fail reports a decode problem at the current offset: a *ReadError when
// err is the reader's failure (the body is incomplete), else a *DecodeError.
func (d *scanner) fail(index int, err error) error {
	if d.src.err != nil && errors.Is(err, d.src.err) {
		return &ReadError{Index: index, Offset: d.off, Err: d.src.err}
	}
	return &DecodeError{Index: index, Offset: d.off, Err: err}
}

// next consumes the byte last returned by skipSpace.
func (d *scanner) next() {
	d.br.Discard(1)
	d.off++
}

// skipSpace skips JSON whitespace (and a leading UTF-8 byte order mark) and
// returns the next byte without consuming it.
func (d *scanner) skipSpace() (byte, error) {
	if d.off == 0 {
		if b, err := d.br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
			d.br.Discard(3)
			d.off += 3
		}
	}
	for {
		b, err := d.br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			d.br.Discard(1)
			d.off++
		default:
			return b[0], nil
		}
	}
}

// end requires that nothing but whitespace follows the top-level value.
func (d *scanner) end(index int) error {
	_, err := d.skipSpace()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return d.fail(index, err)
	}
	return d.fail(index, errors.New("unexpected data after the JSON value"))
}

// value reads one JSON value starting at the next byte, checks that it is
// well-formed and returns its bytes (a fresh slice the caller may keep). An
// object over the cap that d.oversized accepted yields (nil, nil).
func (d *scanner) value(index int) (json.RawMessage, error) {
	start := d.off
	var buf []byte
	var skip *memberScanner // set once an object went over the cap: bytes are scanned, not kept
	depth, inString, escaped := 0, false, false
	for {
		b, err := d.br.ReadByte()
		if err != nil {
			return nil, d.fail(index, eofAsUnexpected(err))
		}
		if !inString && depth == 0 && len(buf) > 0 {
			// A scalar ends at the first delimiter, which is not consumed.
			switch b {
			case ' ', '\t', '\r', '\n', ',', ']', '}':
				d.br.UnreadByte()
				return d.check(index, start, buf)
			}
		}
		d.off++
		if skip != nil {
			skip.feed(b)
		} else {
			buf = append(buf, b)
			if d.max > 0 && int64(len(buf)) > d.max {
				if d.oversized == nil || buf[0] != '{' {
					return nil, &DecodeError{Index: index, Offset: start, Err: ErrEntityTooLarge}
				}
				skip = &memberScanner{}
				for _, c := range buf {
					skip.feed(c)
				}
				buf = nil
			}
		}
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
				if depth == 0 {
					return d.check(index, start, buf)
				}
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			depth--
			if depth <= 0 {
				if depth < 0 {
					return nil, &DecodeError{Index: index, Offset: d.off - 1, Err: errSyntax}
				}
				if skip != nil {
					return nil, d.skipped(index, start, skip)
				}
				return d.check(index, start, buf)
			}
		}
	}
}

// skipped passes on an oversized object scanned by skip, or fails with
// ErrEntityTooLarge when its _id or _updated could not be read.
func (d *scanner) skipped(index int, start int64, skip *memberScanner) error {
	var id string
	if skip.bad || skip.id == nil || json.Unmarshal(skip.id, &id) != nil || id == "" ||
		skip.updated == nil || string(skip.updated) == "null" || !json.Valid(skip.updated) {
		return &DecodeError{Index: index, Offset: start, Err: ErrEntityTooLarge}
	}
	return d.oversized(index, OversizedEntity{ID: id, Updated: skip.updated, Size: d.off - start})
}

// memberScanner follows the structure of one JSON object byte by byte and
// keeps only the raw values of its top-level "_id" and "_updated" members
// (each up to maxCaptured bytes), so an entity of any size can be skipped
// in constant memory. Structural errors are left to the caller's scan; a
// member it cannot follow sets bad.
type memberScanner struct {
	depth             int
	inString, escaped bool
	expectKey         bool   // at depth 1, the next string is a key
	key               []byte // the current top-level key (raw, capped)
	keyLong           bool
	capKey            string // "_id" or "_updated" while in that member's value
	capturing         bool   // collecting the current top-level value
	val               []byte
	id, updated       json.RawMessage
	bad               bool
}

func (m *memberScanner) feed(b byte) {
	if m.inString {
		m.collect(b)
		switch {
		case m.escaped:
			m.escaped = false
		case b == '\\':
			m.escaped = true
		case b == '"':
			m.inString = false
			if m.depth == 1 && m.expectKey {
				m.expectKey = false
			}
		}
		return
	}
	switch b {
	case ' ', '\t', '\r', '\n':
		return
	case '"':
		m.inString = true
		if m.depth == 1 && m.expectKey {
			m.key, m.keyLong = m.key[:0], false
		}
		m.collect(b)
	case '{', '[':
		m.collect(b)
		m.depth++
		if m.depth == 1 {
			if b != '{' {
				m.bad = true
			}
			m.expectKey = true
		}
	case '}', ']':
		m.depth--
		if m.depth == 0 {
			m.endMember()
		} else {
			m.collect(b)
		}
	case ':':
		if m.depth == 1 {
			m.startValue()
		} else {
			m.collect(b)
		}
	case ',':
		if m.depth == 1 {
			m.endMember()
			m.expectKey = true
		} else {
			m.collect(b)
		}
	default:
		m.collect(b)
	}
}

// collect records b as part of the current key or captured value.
func (m *memberScanner) collect(b byte) {
	switch {
	case m.depth == 1 && m.expectKey:
		if len(m.key) < 64 {
			m.key = append(m.key, b)
		} else {
			m.keyLong = true
		}
	case m.capturing:
		if len(m.val) < maxCaptured {
			m.val = append(m.val, b)
		} else {
			m.capturing, m.val = false, nil // too long to be an id or a token
		}
	}
}

func (m *memberScanner) startValue() {
	m.capKey, m.capturing, m.val = "", false, nil
	if m.keyLong {
		return
	}
	var k string
	if json.Unmarshal(m.key, &k) == nil && (k == "_id" || k == "_updated") {
		m.capKey, m.capturing = k, true
	}
}

// endMember records a finished _id or _updated member; as in encoding/json,
// the last of duplicate keys wins, and a non-scalar or too long value
// leaves the property unreadable.
func (m *memberScanner) endMember() {
	var v json.RawMessage
	if m.capturing && len(m.val) > 0 && m.val[0] != '{' && m.val[0] != '[' {
		v = bytes.Clone(m.val)
	}
	switch m.capKey {
	case "_id":
		m.id = v
	case "_updated":
		m.updated = v
	}
	m.capKey, m.capturing, m.val = "", false, nil
}

// check validates a value's bytes and locates a syntax error in the body.
func (d *scanner) check(index int, start int64, buf []byte) (json.RawMessage, error) {
	if !json.Valid(buf) {
		off := start + int64(len(buf))
		var raw json.RawMessage
		var se *json.SyntaxError
		if err := json.Unmarshal(buf, &raw); errors.As(err, &se) {
			off = start + max(se.Offset-1, 0) // Offset counts the bad byte
		}
		return nil, &DecodeError{Index: index, Offset: off, Err: errSyntax}
	}
	return buf, nil
}

// ArrayEncoder streams a JSON array: Add writes one already-encoded entity,
// Close writes the closing bracket (or "[]" when nothing was added).
type ArrayEncoder struct {
	w io.Writer
	n int
}

// NewArrayEncoder returns an encoder writing to w.
func NewArrayEncoder(w io.Writer) *ArrayEncoder { return &ArrayEncoder{w: w} }

// Add appends one JSON value to the array.
func (e *ArrayEncoder) Add(raw []byte) error {
	sep := []byte{','}
	if e.n == 0 {
		sep = []byte{'['}
	}
	if _, err := e.w.Write(sep); err != nil {
		return err
	}
	e.n++
	_, err := e.w.Write(raw)
	return err
}

// Count returns how many values were added.
func (e *ArrayEncoder) Count() int { return e.n }

// Close ends the array.
func (e *ArrayEncoder) Close() error {
	end := "]"
	if e.n == 0 {
		end = "[]"
	}
	_, err := io.WriteString(e.w, end)
	return err
}

// SinceParam turns a since token (the raw JSON of an entity's _updated) into
// the value of the since query parameter: a JSON string is unquoted, a number
// is used as written. An empty token means "from the start" ("").
func SinceParam(token json.RawMessage) (string, error) {
	t := bytes.TrimSpace(token)
	if len(t) == 0 || string(t) == "null" {
		return "", nil
	}
	switch t[0] {
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", fmt.Errorf("since token: %w", err)
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(t, &n); err != nil {
			return "", fmt.Errorf("since token: %w", err)
		}
		return n.String(), nil
	default:
		return "", errors.New("since token must be a JSON string or number")
	}
}

// HTTPStatusError is a pull response with a non-200 status.
type HTTPStatusError struct{ Status int }

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("publisher answered HTTP %d", e.Status)
}

// PulledEntity is one entity of a pulled page.
type PulledEntity struct {
	Index   int             // position in the page
	Raw     json.RawMessage // the entity as published (nil when Oversized)
	Updated json.RawMessage // its _updated value (nil when absent): the since token after it
	// Oversized is set, and Raw nil, for an entity over MaxEntityBytes that
	// was skipped (PullClient.SkipOversized).
	Oversized *OversizedEntity
}

// PullPage summarises one pull request.
type PullPage struct {
	Count int             // entities received
	Last  json.RawMessage // _updated of the last entity that had one (nil: none)
}

// PullClient reads pages of a JSON pull publisher
// (GET {URL}?since=T&limit=N) and streams their entities.
type PullClient struct {
	URL            string       // the publisher's entities URL
	Token          string       // optional bearer token
	HTTP           *http.Client // nil: NewPullHTTPClient(DefaultPullTimeouts())
	MaxEntityBytes int64        // per-entity cap (default 4 MiB)
	// SkipOversized passes an entity over MaxEntityBytes whose _id and
	// _updated can be read to fn as PulledEntity.Oversized and goes on with
	// the page; without it (or when they cannot be read) the pull stops
	// with an error wrapping ErrEntityTooLarge.
	SkipOversized bool
}

// PullTimeouts bounds each phase of a pull request.
type PullTimeouts struct {
	Dial           time.Duration // TCP connect (default 10s)
	ResponseHeader time.Duration // until the status line (default 60s)
	Total          time.Duration // whole request including the body (default 10m)
}

// DefaultPullTimeouts returns the timeouts of a PullClient without its own
// http.Client.
func DefaultPullTimeouts() PullTimeouts {
	return PullTimeouts{Dial: 10 * time.Second, ResponseHeader: 60 * time.Second, Total: 10 * time.Minute}
}

// NewPullHTTPClient returns an HTTP client with the given timeouts that does
// not follow redirects (a publisher that moved is a configuration error, and
// following redirects could send the bearer token elsewhere).
func NewPullHTTPClient(t PullTimeouts) *http.Client {
	def := DefaultPullTimeouts()
	if t.Dial <= 0 {
		t.Dial = def.Dial
	}
	if t.ResponseHeader <= 0 {
		t.ResponseHeader = def.ResponseHeader
	}
	if t.Total <= 0 {
		t.Total = def.Total
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = t.ResponseHeader
	tr.TLSHandshakeTimeout = t.Dial
	return &http.Client{
		Transport: tr,
		Timeout:   t.Total,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Pull requests the entities after since (at most limit; <= 0: no limit) and
// calls fn for each, in the order received. Entities passed to fn before an
// error were complete; the caller may keep them.
func (c *PullClient) Pull(ctx context.Context, since json.RawMessage, limit int, fn func(PulledEntity) error) (PullPage, error) {
	var page PullPage
	u, err := url.Parse(c.URL)
	if err != nil {
		return page, fmt.Errorf("publisher URL: %w", err)
	}
	q := u.Query()
	sp, err := SinceParam(since)
	if err != nil {
		return page, err
	}
	if sp != "" {
		q.Set("since", sp)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return page, err
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = NewPullHTTPClient(DefaultPullTimeouts())
	}
	resp, err := hc.Do(req)
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return page, &HTTPStatusError{Status: resp.StatusCode}
	}
	max := c.MaxEntityBytes
	if max <= 0 {
		max = 4 << 20
	}
	pass := func(e PulledEntity) error {
		page.Count++
		if e.Updated != nil {
			page.Last = e.Updated
		}
		return fn(e)
	}
	var skip func(int, OversizedEntity) error
	if c.SkipOversized {
		skip = func(i int, o OversizedEntity) error {
			return pass(PulledEntity{Index: i, Updated: o.Updated, Oversized: &o})
		}
	}
	err = decodeEntities(resp.Body, max, func(i int, raw json.RawMessage) error {
		return pass(PulledEntity{Index: i, Raw: raw, Updated: updatedOf(raw)})
	}, skip)
	return page, err
}

// updatedOf extracts the raw _updated value of an entity (nil if absent or
// the entity is not an object).
func updatedOf(raw json.RawMessage) json.RawMessage {
	var probe struct {
		Updated json.RawMessage `json:"_updated"`
	}
	if json.Unmarshal(raw, &probe) != nil || len(probe.Updated) == 0 || string(probe.Updated) == "null" {
		return nil
	}
	return probe.Updated
}
