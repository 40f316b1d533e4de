package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func decodeAll(body string, max int64) ([]string, error) {
	var got []string
	err := DecodeEntities(strings.NewReader(body), max, func(i int, raw json.RawMessage) error {
		if i != len(got) {
			return fmt.Errorf("index %d, want %d", i, len(got))
		}
		got = append(got, string(raw))
		return nil
	})
	return got, err
}

func TestDecodeEntities(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		max     int64
		want    []string
		errIdx  int   // -1: no error
		errOff  int64 // -1: do not check
		errText string
	}{
		{"array", `[{"_id":"a"},{"_id":"b","x":[1,{"y":"]}"}]}]`, 0, []string{`{"_id":"a"}`, `{"_id":"b","x":[1,{"y":"]}"}]}`}, -1, -1, ""},
		{"single object", ` {"_id":"a"} `, 0, []string{`{"_id":"a"}`}, -1, -1, ""},
		{"empty array", " [ ] ", 0, nil, -1, -1, ""},
		{"whitespace and BOM", "\xEF\xBB\xBF\n[ {\"a\":\"b\\\"]\"} ,\n\t{} ]\n", 0, []string{`{"a":"b\"]"}`, `{}`}, -1, -1, ""},
		{"scalars pass through", `[1,"s",true,null,[2]]`, 0, []string{`1`, `"s"`, `true`, `null`, `[2]`}, -1, -1, ""},
		{"syntax error in second entity", `[{"a":1},{"b":,}]`, 0, []string{`{"a":1}`}, 1, 14, "invalid JSON syntax"},
		{"missing comma", `[{"a":1} {"b":2}]`, 0, []string{`{"a":1}`}, 1, 9, "invalid JSON syntax"},
		{"trailing comma", `[{"a":1},]`, 0, []string{`{"a":1}`}, 1, 9, "invalid JSON syntax"},
		{"truncated", `[{"a":1},{"b":`, 0, []string{`{"a":1}`}, 1, -1, "unexpected end"},
		{"unclosed array", `[{"a":1}`, 0, []string{`{"a":1}`}, 1, -1, "unexpected end"},
		{"mismatched brackets", `[{"a":1]]`, 0, nil, 0, -1, "invalid JSON syntax"},
		{"garbage after array", `[{}] x`, 0, []string{`{}`}, 1, 5, "after the JSON value"},
		{"garbage after object", `{} {}`, 0, []string{`{}`}, 1, 3, "after the JSON value"},
		{"empty body", "  ", 0, nil, 0, -1, "empty body"},
		{"not JSON", "hello", 0, nil, 0, 0, "expected a JSON array or object"},
		{"entity too large", `[{"a":"123456789"},{"b":1}]`, 12, nil, 0, 1, "entity too large"},
		{"entity at the cap", `[{"a":"12345"}]`, 13, []string{`{"a":"12345"}`}, -1, -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(tc.body, tc.max)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("entities %q, want %q", got, tc.want)
			}
			if tc.errIdx < 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a DecodeError", err)
			}
			if de.Index != tc.errIdx || (tc.errOff >= 0 && de.Offset != tc.errOff) || !strings.Contains(de.Error(), tc.errText) {
				t.Fatalf("error %q (index %d offset %d), want index %d offset %d containing %q", de, de.Index, de.Offset, tc.errIdx, tc.errOff, tc.errText)
			}
		})
	}
}

func TestDecodeErrorsDoNotEchoInput(t *testing.T) {
	_, err := decodeAll(`[{"name":"Bjørn Secret"x}]`, 0)
	if err == nil || strings.Contains(err.Error(), "x") && strings.Contains(err.Error(), "'x'") {
		t.Fatalf("error echoes input: %v", err)
	}
	if strings.Contains(err.Error(), "Secret") {
		t.Fatalf("error echoes input: %v", err)
	}
}

func TestDecodeStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := DecodeEntities(strings.NewReader(`[1,2,3]`), 0, func(int, json.RawMessage) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d calls", err, n)
	}
}

func TestDecodeWhitespaceIsLinear(t *testing.T) {
	// 16 MiB of blanks inside an array: must be a quick pass, not quadratic.
	body := io.MultiReader(strings.NewReader("["), bytes.NewReader(bytes.Repeat([]byte{' '}, 16<<20)), strings.NewReader("{}]"))
	start := time.Now()
	n := 0
	if err := DecodeEntities(body, 0, func(int, json.RawMessage) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("err %v n %d", err, n)
	}
	// Generous bound: linear takes well under a second; quadratic takes tens.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("16 MiB of whitespace took %v", d)
	}
}

func TestArrayEncoder(t *testing.T) {
	var b bytes.Buffer
	e := NewArrayEncoder(&b)
	e.Close()
	if b.String() != "[]" {
		t.Fatalf("empty: %q", b.String())
	}
	b.Reset()
	e = NewArrayEncoder(&b)
	e.Add([]byte(`{"a":1}`))
	e.Add([]byte(`{"b":2}`))
	e.Close()
	if b.String() != `[{"a":1},{"b":2}]` || e.Count() != 2 {
		t.Fatalf("got %q", b.String())
	}
}

func TestSinceParam(t *testing.T) {
	for in, want := range map[string]string{``: ``, `null`: ``, `42`: `42`, `"2024-01-01T00:00:00Z"`: `2024-01-01T00:00:00Z`, `1.5e3`: `1.5e3`} {
		got, err := SinceParam(json.RawMessage(in))
		if err != nil || got != want {
			t.Errorf("SinceParam(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`{}`, `[1]`, `true`} {
		if _, err := SinceParam(json.RawMessage(bad)); err == nil {
			t.Errorf("SinceParam(%s) accepted", bad)
		}
	}
}

func TestPullClient(t *testing.T) {
	var gotSince, gotLimit, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSince, gotLimit, gotAuth = r.URL.Query().Get("since"), r.URL.Query().Get("limit"), r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, `[{"_id":"a","_updated":"t1"},{"_id":"b"},{"_id":"c","_updated":"t3"}]`)
		case "/down":
			http.Error(w, "down", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/huge":
			io.WriteString(w, `[{"_id":"a","x":"`+strings.Repeat("y", 2000)+`"}]`)
		}
	}))
	defer srv.Close()
	c := &PullClient{URL: srv.URL + "/ok", Token: "tok", MaxEntityBytes: 1000}
	var ids []string
	page, err := c.Pull(context.Background(), json.RawMessage(`"t0"`), 10, func(e PulledEntity) error {
		ids = append(ids, fmt.Sprintf("%d:%s", e.Index, e.Updated))
		return nil
	})
	if err != nil || page.Count != 3 || string(page.Last) != `"t3"` {
		t.Fatalf("page %+v err %v", page, err)
	}
	if fmt.Sprint(ids) != `[0:"t1" 1: 2:"t3"]` {
		t.Fatalf("entities %v", ids)
	}
	if gotSince != "t0" || gotLimit != "10" || gotAuth != "Bearer tok" {
		t.Fatalf("request since=%q limit=%q auth=%q", gotSince, gotLimit, gotAuth)
	}
	var he *HTTPStatusError
	c.URL = srv.URL + "/down"
	if _, err := c.Pull(context.Background(), nil, 0, func(PulledEntity) error { return nil }); !errors.As(err, &he) || he.Status != 503 {
		t.Fatalf("down: %v", err)
	}
	c.URL = srv.URL + "/moved"
	c.HTTP = NewPullHTTPClient(PullTimeouts{})
	if _, err := c.Pull(context.Background(), nil, 0, func(PulledEntity) error { return nil }); !errors.As(err, &he) || he.Status != 302 {
		t.Fatalf("redirect followed or misreported: %v", err)
	}
	c.URL = srv.URL + "/huge"
	if _, err := c.Pull(context.Background(), nil, 0, func(PulledEntity) error { return nil }); !errors.Is(err, ErrEntityTooLarge) {
		t.Fatalf("huge entity: %v", err)
	}
	if gotSince != "" {
		t.Fatalf("no token should send no since, got %q", gotSince)
	}
}

func FuzzDecodeEntities(f *testing.F) {
	for _, s := range []string{`[{"a":1},{"b":[1,2,{"c":"]"}]}]`, `{"x":"\"}"}`, `[]`, `[1,]`, `[{"a":1} {}]`, "\xEF\xBB\xBF[{}]", `[{"a":"\u00e9"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []json.RawMessage
		err := DecodeEntities(bytes.NewReader(body), 1<<20, func(_ int, raw json.RawMessage) error {
			if !json.Valid(raw) {
				t.Fatalf("invalid entity passed on: %q", raw)
			}
			got = append(got, raw)
			return nil
		})
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if err == nil {
			// A body we accept whole must be valid JSON, with the same entities.
			trimmed := bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
			if !json.Valid(trimmed) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			var arr []json.RawMessage
			if json.Unmarshal(trimmed, &arr) == nil && len(arr) != len(got) {
				t.Fatalf("%d entities, json says %d", len(got), len(arr))
			}
		} else if de.Offset < 0 || de.Offset > int64(len(body)) {
			t.Fatalf("offset %d outside body of %d", de.Offset, len(body))
		}
	})
}

func BenchmarkDecodeEntities(b *testing.B) {
	var parts []string
	for i := range 1000 {
		parts = append(parts, fmt.Sprintf(`{"_id":"doc-%d","gdpr-document:filename":"contract-%d.pdf","gdpr-document:metadata":{"owner":"hr","tags":["a","b"]},"gdpr-document:filesize":%d}`, i, i, i*100))
	}
	body := []byte("[" + strings.Join(parts, ",\n  ") + "]")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := DecodeEntities(bytes.NewReader(body), 0, func(int, json.RawMessage) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// brokenReader yields its data, then fails as a dropped connection does.
type brokenReader struct {
	r   io.Reader
	err error
}

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, b.err
	}
	return n, err
}

// A reader failure is a *ReadError (the body is incomplete), never a
// *DecodeError (the body is malformed), so receivers can tell them apart.
func TestDecodeReadErrorIsNotSyntaxError(t *testing.T) {
	reset := errors.New("connection reset by peer")
	var got []string
	err := DecodeEntities(&brokenReader{strings.NewReader(`[{"_id":"a"},{"_id":"b","x":`), reset}, 0, func(_ int, raw json.RawMessage) error {
		got = append(got, string(raw))
		return nil
	})
	var re *ReadError
	var de *DecodeError
	if !errors.As(err, &re) || errors.As(err, &de) || !errors.Is(err, reset) {
		t.Fatalf("err %T %v, want a ReadError wrapping the reset", err, err)
	}
	if re.Index != 1 || len(got) != 1 {
		t.Fatalf("index %d, entities %v", re.Index, got)
	}
	// A size limit is a read error too, reachable with errors.As.
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(`[{"_id":"a"},{"_id":"b"}]`)), 15)
	err = DecodeEntities(body, 0, func(int, json.RawMessage) error { return nil })
	var mbe *http.MaxBytesError
	if !errors.As(err, &re) || !errors.As(err, &mbe) {
		t.Fatalf("over the limit: %T %v", err, err)
	}
	// A truncated body that ends cleanly is malformed, not a read error.
	err = DecodeEntities(strings.NewReader(`[{"_id":"a"},{"_id":`), 0, func(int, json.RawMessage) error { return nil })
	if !errors.As(err, &de) || errors.As(err, &re) {
		t.Fatalf("truncated: %T %v", err, err)
	}
}

func TestPullClientSkipsOversized(t *testing.T) {
	big := strings.Repeat("y", 3000)
	bodies := map[string]string{
		// _id and _updated after the bulk, a nested _updated that must not count.
		"/late": `[{"_id":"a","_updated":1},{"x":"` + big + `","n":{"_updated":99,"_id":"inner"},"_id":"b\u00e9","_updated":2.5},{"_id":"c","_updated":3}]`,
		// No _updated: cannot advance past it.
		"/noupdated": `[{"_id":"a","_updated":1},{"_id":"b","x":"` + big + `"},{"_id":"c","_updated":3}]`,
		// An oversized array is not an entity.
		"/array": `[{"_id":"a","_updated":1},["` + big + `"]]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, bodies[r.URL.Path])
	}))
	defer srv.Close()
	pull := func(path string, skip bool) ([]string, error) {
		c := &PullClient{URL: srv.URL + path, MaxEntityBytes: 1024, SkipOversized: skip}
		var got []string
		_, err := c.Pull(context.Background(), nil, 0, func(e PulledEntity) error {
			if e.Oversized != nil {
				if e.Raw != nil || e.Oversized.Size < 3000 {
					t.Errorf("oversized entity %+v with raw %d bytes", e.Oversized, len(e.Raw))
				}
				got = append(got, fmt.Sprintf("%d:big:%s:%s", e.Index, e.Oversized.ID, e.Updated))
				return nil
			}
			got = append(got, fmt.Sprintf("%d:%s", e.Index, e.Updated))
			return nil
		})
		return got, err
	}
	got, err := pull("/late", true)
	if err != nil || fmt.Sprint(got) != "[0:1 1:big:bé:2.5 2:3]" {
		t.Fatalf("skip: %v %v", got, err)
	}
	if got, err := pull("/late", false); !errors.Is(err, ErrEntityTooLarge) || fmt.Sprint(got) != "[0:1]" {
		t.Fatalf("without SkipOversized: %v %v", got, err)
	}
	for _, path := range []string{"/noupdated", "/array"} {
		if got, err := pull(path, true); !errors.Is(err, ErrEntityTooLarge) || fmt.Sprint(got) != "[0:1]" {
			t.Fatalf("%s: %v %v", path, got, err)
		}
	}
}

// The oversized scan agrees with encoding/json on which top-level _id and
// _updated an object has, and never loses the entities after it.
func FuzzDecodeOversized(f *testing.F) {
	for _, s := range []string{
		`[{"_id":"a","_updated":1,"x":"0123456789abcdef"},{"_id":"b"}]`,
		`[{"x":{"_id":"no","_updated":5},"_updated":"t\"1","_id":"a\u0041"}]`,
		`{"_updated":[1],"_id":"a","pad":"0123456789012345"}`,
		`[{"_id":"a","_id":"b","_updated":null,"p":"012345678901234567"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var ids []string
		reports := map[int]OversizedEntity{}
		err := decodeEntities(bytes.NewReader(body), 16, func(i int, raw json.RawMessage) error {
			ids = append(ids, fmt.Sprint(i))
			return nil
		}, func(i int, o OversizedEntity) error {
			ids = append(ids, fmt.Sprint(i))
			if o.ID == "" || !json.Valid(o.Updated) || o.Size <= 16 {
				t.Fatalf("bad oversized report %+v", o)
			}
			reports[i] = o
			return nil
		})
		if err != nil || !json.Valid(body) {
			return
		}
		// A whole valid body: every element was passed on, in order, and an
		// oversized object's _id and _updated are those encoding/json reads.
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil {
			arr = []json.RawMessage{body}
		}
		if len(arr) != len(ids) {
			t.Fatalf("%d elements, %d passed on", len(arr), len(ids))
		}
		for i, el := range arr {
			o, ok := reports[i]
			if !ok {
				continue
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(el, &m) != nil {
				t.Fatalf("accepted an oversized non-object %s", el)
			}
			var id string
			if json.Unmarshal(m["_id"], &id) != nil || id != o.ID || !bytes.Equal(bytes.TrimSpace(m["_updated"]), o.Updated) {
				t.Fatalf("element %d: reported %+v, json says _id %s _updated %s", i, o, m["_id"], m["_updated"])
			}
		}
	})
}

// busySource wraps a memSource and counts the Changes calls in progress:
// for a store-backed source each holds a read connection.
type busySource struct {
	*memSource
	active atomic.Int32
	calls  atomic.Int32
}

func (b *busySource) Changes(ctx context.Context, since int64, limit int, fn func(Document) error) error {
	b.active.Add(1)
	b.calls.Add(1)
	defer b.active.Add(-1)
	return b.memSource.Changes(ctx, since, limit, fn)
}

// The publisher handler reads a page, lets go of the source, then writes:
// a client that stops reading does not keep a Changes scan (a store read
// connection) open. The response is still one complete array.
func TestHandlerReleasesSourceWhileWriting(t *testing.T) {
	m := newMem(0)
	pad := strings.Repeat("x", 1500)
	for i := 1; i <= 5000; i++ {
		key := fmt.Sprintf("d/f%d.txt", i)
		m.docs = append(m.docs, Document{ID: "mem:" + key, Seq: int64(i), DataTypeID: "t", DocumentID: "mem:" + key,
			ExtractContent: URI(ContentURL("http://x", key)), OriginalURL: URI(ContentURL("http://x", key)), MIMEType: "text/plain",
			FileSize: 6, Filename: pad})
	}
	src := &busySource{memSource: m}
	srv := httptest.NewServer(NewHandler(src, HandlerOptions{Logger: quiet()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + PublisherPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The client reads nothing: the handler blocks writing (MBs pending).
	time.Sleep(300 * time.Millisecond)
	if n := src.active.Load(); n != 0 {
		t.Fatalf("%d source scans held open while the client is not reading", n)
	}
	var arr []Document
	if err := json.NewDecoder(resp.Body).Decode(&arr); err != nil || len(arr) != 5000 {
		t.Fatalf("%v: %d entities", err, len(arr))
	}
	for i, d := range arr {
		if d.Seq != int64(i+1) {
			t.Fatalf("entity %d has seq %d", i, d.Seq)
		}
	}
	if c := src.calls.Load(); c < 5 {
		t.Fatalf("read in %d pages, want one per 1000 entities or less", c)
	}
	// A limit spanning pages is honoured exactly.
	resp2, err := http.Get(srv.URL + PublisherPath + "?since=10&limit=2500")
	if err != nil {
		t.Fatal(err)
	}
	arr = nil
	err = json.NewDecoder(resp2.Body).Decode(&arr)
	resp2.Body.Close()
	if err != nil || len(arr) != 2500 || arr[0].Seq != 11 || arr[2499].Seq != 2510 {
		t.Fatalf("limit across pages: %v, %d entities", err, len(arr))
	}
}
