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
	Err    error // the cause (a syntax problem, ErrEntityTooLarge, a read error)
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d (entity index %d): %v", e.Offset, e.Index, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

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
// error returned by fn stops decoding and is returned as is. Read errors
// (such as *http.MaxBytesError) are wrapped in the DecodeError and reachable
// with errors.As.
//
// The array structure is scanned here, in one linear pass, rather than with
// json.Decoder.Token/More: those rescan buffered whitespace on every refill,
// which makes a body of 16 MiB of blanks cost tens of seconds of CPU.
func DecodeEntities(r io.Reader, maxEntity int64, fn func(index int, raw json.RawMessage) error) error {
	d := &scanner{br: bufio.NewReaderSize(r, 32<<10), max: maxEntity}
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
		if err := fn(0, raw); err != nil {
			return err
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
			if err := fn(i, raw); err != nil {
				return err
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

// scanner finds the extent of JSON values in a stream, tracking the offset.
type scanner struct {
	br  *bufio.Reader
	off int64 // offset of the next unread byte
	max int64
}

func (d *scanner) fail(index int, err error) error {
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
// well-formed and returns its bytes (a fresh slice the caller may keep).
func (d *scanner) value(index int) (json.RawMessage, error) {
	start := d.off
	var buf []byte
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
		buf = append(buf, b)
		if d.max > 0 && int64(len(buf)) > d.max {
			return nil, &DecodeError{Index: index, Offset: start, Err: ErrEntityTooLarge}
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
				return d.check(index, start, buf)
			}
		}
	}
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
	Raw     json.RawMessage // the entity as published
	Updated json.RawMessage // its _updated value (nil when absent): the since token after it
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
	HTTP           *http.Client // nil: NewPullHTTPClient(DefaultPullTimeouts)
	MaxEntityBytes int64        // per-entity cap (default 4 MiB)
}

// PullTimeouts bounds each phase of a pull request.
type PullTimeouts struct {
	Dial           time.Duration // TCP connect (default 10s)
	ResponseHeader time.Duration // until the status line (default 60s)
	Total          time.Duration // whole request including the body (default 10m)
}

// DefaultPullTimeouts are the timeouts of a PullClient without its own
// http.Client.
var DefaultPullTimeouts = PullTimeouts{Dial: 10 * time.Second, ResponseHeader: 60 * time.Second, Total: 10 * time.Minute}

// NewPullHTTPClient returns an HTTP client with the given timeouts that does
// not follow redirects (a publisher that moved is a configuration error, and
// following redirects could send the bearer token elsewhere).
func NewPullHTTPClient(t PullTimeouts) *http.Client {
	if t.Dial <= 0 {
		t.Dial = DefaultPullTimeouts.Dial
	}
	if t.ResponseHeader <= 0 {
		t.ResponseHeader = DefaultPullTimeouts.ResponseHeader
	}
	if t.Total <= 0 {
		t.Total = DefaultPullTimeouts.Total
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
		hc = NewPullHTTPClient(DefaultPullTimeouts)
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
	err = DecodeEntities(resp.Body, max, func(i int, raw json.RawMessage) error {
		e := PulledEntity{Index: i, Raw: raw, Updated: updatedOf(raw)}
		page.Count++
		if e.Updated != nil {
			page.Last = e.Updated
		}
		return fn(e)
	})
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
