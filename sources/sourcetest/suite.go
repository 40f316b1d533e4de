package sourcetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docvet/docvet/sources"
)

// Harness drives one Source implementation for the suite. Names are
// slash-separated relative paths ("a.txt", "dir/sub/b.txt") chosen by the
// suite; an implementation maps them onto its store (files, messages, ...).
// Methods fail the test themselves (the harness captures t).
type Harness interface {
	// Source returns the current Source (replaced by Restart).
	Source() sources.Source
	// Write creates or replaces the document called name with data,
	// creating parent directories as needed. It does not rescan.
	Write(name string, data []byte)
	// Remove deletes the document called name.
	Remove(name string)
	// Move renames or moves (to another directory) a document.
	Move(from, to string)
	// Restart drops the current Source and creates a new one over the same
	// persisted state, as a process restart would. The new Source has not
	// rescanned yet.
	Restart()
	// ID is the _id (and document_id) the Source publishes for name.
	ID(name string) string
	// Key is the content key of name: what Open takes and what follows
	// "/content/" (escaped) in its extract-content URL.
	Key(name string) string
}

// Contents is optionally implemented by a Harness whose store needs
// documents of a particular form (e.g. e-mail messages). Content must return
// different bytes for different versions; for one name, the same length for
// every version when long is false and a different length when long is true.
type Contents interface {
	Content(name string, version int, long bool) []byte
}

// Run runs the whole suite; newHarness makes a fresh, empty harness per
// subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"InitialListing", testInitialListing},
		{"UnchangedRescanPublishesNothing", testUnchanged},
		{"ModifyContentAndSize", testModify},
		{"Delete", testDelete},
		{"RenameAndMove", testMove},
		{"PagingNeverSkipsOrRepeats", testPaging},
		{"Restart", testRestart},
		{"Open", testOpen},
		{"HTTP", testHTTP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func content(h Harness, name string, version int, long bool) []byte {
	if c, ok := h.(Contents); ok {
		return c.Content(name, version, long)
	}
	b := fmt.Appendf(nil, "Document %s, version %06d.\nAlice Example <alice@example.com> signed it.\n", name, version)
	if long {
		b = append(b, "An appendix that changes the size.\n"...)
	}
	return b
}

func rescan(t *testing.T, h Harness) sources.ScanStats {
	t.Helper()
	st, err := h.Source().Rescan(context.Background())
	if err != nil {
		t.Fatalf("Rescan: %v", err)
	}
	if !st.Complete {
		t.Fatalf("Rescan without error reports an incomplete scan: %+v", st)
	}
	return st
}

func changes(t *testing.T, src sources.Source, since int64, limit int) []sources.Document {
	t.Helper()
	var out []sources.Document
	err := src.Changes(context.Background(), since, limit, func(d sources.Document) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		t.Fatalf("Changes(%d, %d): %v", since, limit, err)
	}
	return out
}

func lastSeq(docs []sources.Document) int64 {
	if len(docs) == 0 {
		return 0
	}
	return docs[len(docs)-1].Seq
}

// latest folds a change list into the latest version per _id.
func latest(docs []sources.Document) map[string]sources.Document {
	m := map[string]sources.Document{}
	for _, d := range docs {
		m[d.ID] = d
	}
	return m
}

func live(docs []sources.Document) []string {
	var ids []string
	for id, d := range latest(docs) {
		if !d.Deleted {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func ids(h Harness, names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, h.ID(n))
	}
	slices.Sort(out)
	return out
}

// checkDoc checks one live entity against the document it stands for, and
// its JSON round trip through the validating parser the core uses.
func checkDoc(t *testing.T, h Harness, d sources.Document, name string, data []byte) {
	t.Helper()
	if d.Deleted {
		t.Fatalf("%s: deleted, want live", d.ID)
	}
	if d.ID != h.ID(name) || d.DocumentID != d.ID {
		t.Fatalf("_id %q, document_id %q, want both %q", d.ID, d.DocumentID, h.ID(name))
	}
	if d.FileSize != int64(len(data)) {
		t.Fatalf("%s: filesize %d, want %d", d.ID, d.FileSize, len(data))
	}
	if d.MIMEType == "" || d.DataTypeID == "" || d.OriginalURL == "" {
		t.Fatalf("%s: missing required properties: %+v", d.ID, d)
	}
	wantSuffix := "/content/" + sources.EscapeKey(h.Key(name))
	if !strings.HasSuffix(d.ExtractContent.String(), wantSuffix) {
		t.Fatalf("%s: extract-content %q does not end in %q", d.ID, d.ExtractContent, wantSuffix)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"~rhttp`)) {
		t.Fatalf("%s: URIs not in ~r transit encoding: %s", d.ID, raw)
	}
	back, err := sources.ParseDocument(raw, func(dt string) bool { return dt == d.DataTypeID })
	if err != nil {
		t.Fatalf("%s: published entity does not validate: %v", d.ID, err)
	}
	if back.ID != d.ID || back.Seq != d.Seq || back.FileSize != d.FileSize || back.MIMEType != d.MIMEType ||
		back.ExtractContent != d.ExtractContent || back.OriginalURL != d.OriginalURL {
		t.Fatalf("%s: round trip changed the entity:\n%+v\n%+v", d.ID, d, back)
	}
}

func checkOrdered(t *testing.T, docs []sources.Document, since int64) {
	t.Helper()
	prev := since
	for _, d := range docs {
		if d.Seq <= prev {
			t.Fatalf("_updated %d of %s not after %d", d.Seq, d.ID, prev)
		}
		prev = d.Seq
	}
}

func readAll(t *testing.T, src sources.Source, key string) ([]byte, *sources.Content) {
	t.Helper()
	c, err := src.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read content: %v", err)
	}
	return b, c
}

func testInitialListing(t *testing.T, h Harness) {
	files := map[string][]byte{}
	for _, n := range []string{"a.txt", "dir/b.txt", "dir/sub/c.txt", "other/Report 2019 (final) ü.txt"} {
		files[n] = content(h, n, 1, false)
		h.Write(n, files[n])
	}
	st := rescan(t, h)
	if st.Documents != 4 || st.Changed != 4 || st.Deleted != 0 {
		t.Fatalf("first scan stats: %+v", st)
	}
	docs := changes(t, h.Source(), 0, 0)
	checkOrdered(t, docs, 0)
	if len(docs) != 4 {
		t.Fatalf("listed %d entities, want 4", len(docs))
	}
	byID := latest(docs)
	for n, data := range files {
		d, ok := byID[h.ID(n)]
		if !ok {
			t.Fatalf("%s not listed; have %v", h.ID(n), live(docs))
		}
		checkDoc(t, h, d, n, data)
	}
	// A RawSource's raw entities say the same as its Changes.
	if raw, ok := h.Source().(sources.RawSource); ok {
		i := 0
		err := raw.RawChanges(context.Background(), 0, 0, func(seq int64, e []byte) error {
			d, err := sources.ParseDocument(e, nil)
			if err != nil {
				return err
			}
			if i >= len(docs) || d.ID != docs[i].ID || d.Seq != seq || seq != docs[i].Seq || d.FileSize != docs[i].FileSize {
				return fmt.Errorf("raw entity %d (%s, %d) differs from Changes", i, d.ID, seq)
			}
			i++
			return nil
		})
		if err != nil || i != len(docs) {
			t.Fatalf("RawChanges: %v (%d of %d)", err, i, len(docs))
		}
	}
	// Changes stops with fn's error.
	stop := errors.New("stop")
	n := 0
	if err := h.Source().Changes(context.Background(), 0, 0, func(sources.Document) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Changes did not stop on fn error: %v after %d", err, n)
	}
}

func testUnchanged(t *testing.T, h Harness) {
	h.Write("a.txt", content(h, "a.txt", 1, false))
	h.Write("d/b.txt", content(h, "d/b.txt", 1, false))
	rescan(t, h)
	last := lastSeq(changes(t, h.Source(), 0, 0))
	for range 2 {
		st := rescan(t, h)
		if st.Changed != 0 || st.Deleted != 0 || st.Documents != 2 {
			t.Fatalf("no-change rescan: %+v", st)
		}
		if got := changes(t, h.Source(), last, 0); len(got) != 0 {
			t.Fatalf("no-change rescan published %d entities", len(got))
		}
	}
	// Rewriting identical bytes may republish that one document (its
	// modification time is metadata, and a rewrite may cross a clock tick)
	// but nothing else, and never as a content change.
	h.Write("a.txt", content(h, "a.txt", 1, false))
	rescan(t, h)
	for _, d := range changes(t, h.Source(), last, 0) {
		if d.ID != h.ID("a.txt") || d.Deleted || d.FileSize != int64(len(content(h, "a.txt", 1, false))) {
			t.Fatalf("rewriting identical bytes of a.txt published %+v", d)
		}
	}
}

func testModify(t *testing.T, h Harness) {
	h.Write("a.txt", content(h, "a.txt", 1, false))
	h.Write("b.txt", content(h, "b.txt", 1, false))
	rescan(t, h)
	last := lastSeq(changes(t, h.Source(), 0, 0))

	// Same size, different bytes.
	v2 := content(h, "a.txt", 2, false)
	h.Write("a.txt", v2)
	if st := rescan(t, h); st.Changed != 1 {
		t.Fatalf("same-size modification: %+v", st)
	}
	got := changes(t, h.Source(), last, 0)
	if len(got) != 1 {
		t.Fatalf("same-size modification published %d entities, want 1", len(got))
	}
	checkDoc(t, h, got[0], "a.txt", v2)
	if b, _ := readAll(t, h.Source(), h.Key("a.txt")); !bytes.Equal(b, v2) {
		t.Fatal("Open after modification returned old bytes")
	}
	last = got[0].Seq

	// Different size.
	v3 := content(h, "a.txt", 3, true)
	h.Write("a.txt", v3)
	rescan(t, h)
	got = changes(t, h.Source(), last, 0)
	if len(got) != 1 {
		t.Fatalf("size change published %d entities, want 1", len(got))
	}
	checkDoc(t, h, got[0], "a.txt", v3)
	if got[0].FileSize == int64(len(v2)) {
		t.Fatal("filesize not updated")
	}
}

func testDelete(t *testing.T, h Harness) {
	h.Write("a.txt", content(h, "a.txt", 1, false))
	h.Write("d/b.txt", content(h, "d/b.txt", 1, false))
	rescan(t, h)
	last := lastSeq(changes(t, h.Source(), 0, 0))
	h.Remove("d/b.txt")
	st := rescan(t, h)
	if st.Deleted != 1 || st.Changed != 0 || st.Documents != 1 {
		t.Fatalf("delete stats: %+v", st)
	}
	got := changes(t, h.Source(), last, 0)
	if len(got) != 1 || got[0].ID != h.ID("d/b.txt") || !got[0].Deleted || got[0].Seq <= last {
		t.Fatalf("delete published %+v", got)
	}
	if _, err := sources.ParseDocument(mustJSON(t, got[0]), nil); err != nil {
		t.Fatalf("tombstone does not validate: %v", err)
	}
	if _, err := h.Source().Open(context.Background(), h.Key("d/b.txt")); !errors.Is(err, sources.ErrNotFound) {
		t.Fatalf("Open of a deleted document: %v, want ErrNotFound", err)
	}
	// A tombstone is published once.
	rescan(t, h)
	if got := changes(t, h.Source(), got[0].Seq, 0); len(got) != 0 {
		t.Fatalf("tombstone re-published: %+v", got)
	}
	// Re-creating it is a new version.
	h.Write("d/b.txt", content(h, "d/b.txt", 1, false))
	rescan(t, h)
	if got := changes(t, h.Source(), got[0].Seq, 0); len(got) != 1 || got[0].Deleted {
		t.Fatalf("re-created document: %+v", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testMove(t *testing.T, h Harness) {
	a, b := content(h, "a.txt", 1, false), content(h, "x/b.txt", 1, false)
	h.Write("a.txt", a)
	h.Write("x/b.txt", b)
	h.Write("keep.txt", content(h, "keep.txt", 1, false))
	rescan(t, h)
	last := lastSeq(changes(t, h.Source(), 0, 0))
	h.Move("a.txt", "renamed.txt") // rename in place
	h.Move("x/b.txt", "y/z/b.txt") // move to another directory
	st := rescan(t, h)
	if st.Deleted != 2 || st.Changed != 2 || st.Documents != 3 {
		t.Fatalf("move stats: %+v", st)
	}
	got := changes(t, h.Source(), last, 0)
	checkOrdered(t, got, last)
	m := latest(got)
	if len(got) != 4 || len(m) != 4 {
		t.Fatalf("move published %d entities, want 2 tombstones + 2 new", len(got))
	}
	for _, old := range []string{"a.txt", "x/b.txt"} {
		if d, ok := m[h.ID(old)]; !ok || !d.Deleted {
			t.Fatalf("moved-away %s not published as deleted", h.ID(old))
		}
	}
	for name, data := range map[string][]byte{"renamed.txt": a, "y/z/b.txt": b} {
		d, ok := m[h.ID(name)]
		if !ok {
			t.Fatalf("moved-to %s not published", h.ID(name))
		}
		checkDoc(t, h, d, name, data)
		if got, _ := readAll(t, h.Source(), h.Key(name)); !bytes.Equal(got, data) {
			t.Fatalf("moved document %s serves other bytes", name)
		}
	}
	if _, ok := m[h.ID("keep.txt")]; ok {
		t.Fatal("untouched document re-published by a move elsewhere")
	}
}

func testPaging(t *testing.T, h Harness) {
	const n = 12
	for i := range n {
		name := fmt.Sprintf("d%d/f%02d.txt", i%3, i)
		h.Write(name, content(h, name, 1, false))
	}
	rescan(t, h)
	// Some history: changes, a delete, a move.
	h.Write("d0/f00.txt", content(h, "d0/f00.txt", 2, false))
	h.Remove("d1/f01.txt")
	h.Move("d2/f02.txt", "d9/f02.txt")
	rescan(t, h)
	full := changes(t, h.Source(), 0, 0)
	checkOrdered(t, full, 0)
	if len(live(full)) != n-1 {
		t.Fatalf("live after history: %d, want %d", len(live(full)), n-1)
	}
	for limit := 1; limit <= len(full)+1; limit++ {
		var pages []sources.Document
		var since int64
		for calls := 0; ; calls++ {
			if calls > len(full)+2 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			page := changes(t, h.Source(), since, limit)
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			checkOrdered(t, page, since)
			pages = append(pages, page...)
			since = lastSeq(page)
		}
		if len(pages) != len(full) {
			t.Fatalf("limit %d: paged %d entities, full listing has %d", limit, len(pages), len(full))
		}
		for i := range full {
			if pages[i].ID != full[i].ID || pages[i].Seq != full[i].Seq || pages[i].Deleted != full[i].Deleted {
				t.Fatalf("limit %d: entity %d differs: %s@%d vs %s@%d", limit, i, pages[i].ID, pages[i].Seq, full[i].ID, full[i].Seq)
			}
		}
	}
}

func testRestart(t *testing.T, h Harness) {
	for _, n := range []string{"a.txt", "b.txt", "d/c.txt", "d/e.txt"} {
		h.Write(n, content(h, n, 1, false))
	}
	rescan(t, h)
	before := changes(t, h.Source(), 0, 0)
	last := lastSeq(before)

	h.Restart()
	after := changes(t, h.Source(), 0, 0)
	if len(after) != len(before) {
		t.Fatalf("after restart %d entities, before %d", len(after), len(before))
	}
	for i := range before {
		if after[i].ID != before[i].ID || after[i].Seq != before[i].Seq {
			t.Fatalf("restart changed entity %d: %s@%d vs %s@%d", i, after[i].ID, after[i].Seq, before[i].ID, before[i].Seq)
		}
	}
	if st := rescan(t, h); st.Changed != 0 || st.Deleted != 0 {
		t.Fatalf("rescan after restart re-published: %+v", st)
	}
	if got := changes(t, h.Source(), last, 0); len(got) != 0 {
		t.Fatalf("rescan after restart published %d entities", len(got))
	}

	// Changes made while "stopped" are found by the first rescan after.
	h.Restart()
	h.Remove("a.txt")
	h.Move("d/c.txt", "moved/c.txt")
	h.Write("b.txt", content(h, "b.txt", 2, true))
	h.Write("new.txt", content(h, "new.txt", 1, false))
	h.Restart()
	st := rescan(t, h)
	if st.Deleted != 2 || st.Changed != 3 {
		t.Fatalf("changes while stopped: %+v (want 2 deleted, 3 changed)", st)
	}
	got := changes(t, h.Source(), last, 0)
	checkOrdered(t, got, last)
	m := latest(got)
	if len(got) != 5 || !m[h.ID("a.txt")].Deleted || !m[h.ID("d/c.txt")].Deleted ||
		m[h.ID("b.txt")].Deleted || m[h.ID("new.txt")].Deleted || m[h.ID("moved/c.txt")].Deleted {
		t.Fatalf("changes while stopped published %v", got)
	}
	if want := ids(h, "b.txt", "d/e.txt", "moved/c.txt", "new.txt"); !slices.Equal(live(changes(t, h.Source(), 0, 0)), want) {
		t.Fatalf("live after restart %v, want %v", live(changes(t, h.Source(), 0, 0)), want)
	}
}

func testOpen(t *testing.T, h Harness) {
	data := bytes.Repeat(content(h, "dir/big.txt", 1, false), 200)
	h.Write("dir/big.txt", data)
	h.Write("empty.txt", nil)
	rescan(t, h)
	got, c := readAll(t, h.Source(), h.Key("dir/big.txt"))
	if !bytes.Equal(got, data) || c.Size != int64(len(data)) {
		t.Fatalf("Open: %d bytes (size %d), want %d", len(got), c.Size, len(data))
	}
	if c.MIMEType == "" {
		t.Fatal("Open: no MIME type")
	}
	// Seeking works (http.ServeContent needs it for ranges).
	c2, err := h.Source().Open(context.Background(), h.Key("dir/big.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 50)
	if _, err := io.ReadFull(c2, part); err != nil || !bytes.Equal(part, data[100:150]) {
		t.Fatalf("seek+read: %v", err)
	}
	c2.Close()
	if got, c := readAll(t, h.Source(), h.Key("empty.txt")); len(got) != 0 || c.Size != 0 {
		t.Fatalf("empty document: %d bytes", len(got))
	}
	for _, key := range []string{"", "nope.txt", "dir/nope.txt", "../" + h.Key("empty.txt"), "/" + h.Key("empty.txt"),
		"dir/../" + h.Key("empty.txt"), "./" + h.Key("empty.txt"), "dir", "dir\\big.txt", "a\x00b"} {
		if _, err := h.Source().Open(context.Background(), key); !errors.Is(err, sources.ErrNotFound) {
			t.Fatalf("Open(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func get(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

func pull(t *testing.T, base, query string) []sources.Document {
	t.Helper()
	resp, body := get(t, "GET", base+sources.PublisherPath+query)
	if resp.StatusCode != 200 {
		t.Fatalf("pull %s: %d %s", query, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("pull content type %q", ct)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		t.Fatalf("pull %s: not a JSON array: %v", query, err)
	}
	out := make([]sources.Document, 0, len(raws))
	for _, r := range raws {
		d, err := sources.ParseDocument(r, nil)
		if err != nil {
			t.Fatalf("pulled entity does not validate: %v", err)
		}
		var sys struct {
			Deleted *bool `json:"_deleted"`
		}
		json.Unmarshal(r, &sys)
		if sys.Deleted == nil {
			t.Fatalf("pulled entity without _deleted: %s", r)
		}
		out = append(out, d)
	}
	return out
}

func testHTTP(t *testing.T, h Harness) {
	data := content(h, "dir/doc one.txt", 1, false)
	h.Write("dir/doc one.txt", data)
	h.Write("b.txt", content(h, "b.txt", 1, false))
	h.Write("c.txt", content(h, "c.txt", 1, false))
	rescan(t, h)
	h.Remove("c.txt")
	rescan(t, h)
	srv := httptest.NewServer(sources.NewHandler(h.Source(), sources.HandlerOptions{}))
	defer srv.Close()
	want := changes(t, h.Source(), 0, 0)

	all := pull(t, srv.URL, "")
	if len(all) != len(want) {
		t.Fatalf("pull: %d entities, want %d", len(all), len(want))
	}
	for i := range want {
		if all[i].ID != want[i].ID || all[i].Seq != want[i].Seq || all[i].Deleted != want[i].Deleted {
			t.Fatalf("pull entity %d: %s@%d, Changes has %s@%d", i, all[i].ID, all[i].Seq, want[i].ID, want[i].Seq)
		}
	}
	if !all[len(all)-1].Deleted {
		t.Fatal("pull: the deleted document is not last with _deleted true")
	}
	if got := pull(t, srv.URL, "?since="+strconv.FormatInt(want[0].Seq, 10)+"&limit=1"); len(got) != 1 || got[0].Seq != want[1].Seq {
		t.Fatalf("since/limit: %+v", got)
	}
	if got := pull(t, srv.URL, "?since="+strconv.FormatInt(lastSeq(want), 10)); len(got) != 0 {
		t.Fatalf("since=last: %d entities", len(got))
	}
	for _, q := range []string{"?since=abc", "?since=1.5", "?limit=x", "?limit=0", "?limit=-3"} {
		resp, body := get(t, "GET", srv.URL+sources.PublisherPath+q)
		param := strings.TrimPrefix(strings.SplitN(q, "=", 2)[0], "?")
		if resp.StatusCode != 400 || !strings.Contains(string(body), param) {
			t.Fatalf("%s: %d %s, want 400 naming %q", q, resp.StatusCode, body, param)
		}
	}
	capped := httptest.NewServer(sources.NewHandler(h.Source(), sources.HandlerOptions{MaxLimit: 2}))
	defer capped.Close()
	if got := pull(t, capped.URL, "?limit=50"); len(got) != 2 {
		t.Fatalf("MaxLimit 2: %d entities", len(got))
	}

	// Content: the path of the published extract-content URL, on our server.
	d := latest(want)[h.ID("dir/doc one.txt")]
	u := d.ExtractContent.String()
	contentPath := u[strings.LastIndex(u, "/content/"+sources.EscapeKey(h.Key("dir/doc one.txt"))):]
	resp, body := get(t, "GET", srv.URL+contentPath)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET content: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), d.MIMEType) {
		t.Fatalf("content headers: %v", resp.Header)
	}
	resp, body = get(t, "HEAD", srv.URL+contentPath)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD: %d, length %d, body %d", resp.StatusCode, resp.ContentLength, len(body))
	}
	resp, body = get(t, "GET", srv.URL+contentPath, "Range", "bytes=2-9")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[2:10]) {
		t.Fatalf("Range: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(t, "GET", srv.URL+"/content/"+sources.EscapeKey(h.Key("c.txt")))
	if resp.StatusCode != 404 {
		t.Fatalf("content of a deleted document: %d", resp.StatusCode)
	}
	resp, body = get(t, "POST", srv.URL+"/rescan")
	var st sources.ScanStats
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || !st.Complete || st.Documents != 2 {
		t.Fatalf("POST /rescan: %d %s", resp.StatusCode, body)
	}
	if resp, _ = get(t, "GET", srv.URL+"/rescan"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /rescan: %d", resp.StatusCode)
	}
	if resp, _ = get(t, "GET", srv.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}
