package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/store"
)

var testIDs = identifiers.Options{
	DefaultRegion: "NO",
	IDs: []identifiers.IDPattern{
		{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
	},
}

// env is an index and a store holding the entities behind its documents.
type env struct {
	t  testing.TB
	ix *index.Index
	st *store.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	ix, err := index.Open(filepath.Join(dir, "idx"), index.Options{Identifiers: testIDs, BoltTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	st, err := store.Open(context.Background(), filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &env{t: t, ix: ix, st: st}
}

const testSource = "share"

// tdoc describes one test document.
type tdoc struct {
	id, dataType, text string
	segs               []doctext.Segment
	status             string         // default ok
	meta               map[string]any // gdpr-document:metadata
}

// add indexes docs (one Apply) and stores their entities and ledger rows.
func (e *env) add(docs ...tdoc) {
	e.t.Helper()
	ctx := context.Background()
	var up []index.Doc
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		for _, d := range docs {
			dt := cmpOr(d.dataType, "hr")
			status := cmpOr(d.status, "ok")
			body := map[string]any{
				"gdpr-data-type:data-type-id":   dt,
				"gdpr-document:document_id":     d.id,
				"gdpr-document:filename":        d.id + ".txt",
				"gdpr-document:mime-type":       "text/plain",
				"gdpr-document:filesize":        len(d.text),
				"gdpr-document:original-url":    "file://server/share/" + d.id,
				"gdpr-document:extract-content": "http://127.0.0.1:1/content/" + d.id,
				"gdpr-document:metadata":        d.meta,
			}
			if d.meta == nil {
				delete(body, "gdpr-document:metadata")
			}
			raw, _ := json.Marshal(body)
			if _, err := tx.Put(testSource, store.Write{ID: d.id, Body: raw}); err != nil {
				return err
			}
			if err := tx.PutLedger(store.LedgerRow{Source: testSource, EntityID: d.id, DataType: dt, Status: status,
				Reason: map[bool]string{true: "", false: "limit max_chars reached"}[status == "ok"]}); err != nil {
				return err
			}
			segs := d.segs
			if segs == nil {
				segs = []doctext.Segment{{Location: "page 1", Offset: 0, Length: int64(len([]rune(d.text)))}}
			}
			up = append(up, index.Doc{Source: testSource, EntityID: d.id, DataType: dt, DocumentID: d.id,
				MIMEType: "text/plain", Filename: d.id + ".txt", OriginalURL: "file://server/share/" + d.id,
				ExtractContent: "http://127.0.0.1:1/content/" + d.id, FileSize: int64(len(d.text)),
				SHA256: strings.Repeat("0", 64), Status: status, Text: d.text, Segments: segs})
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.ix.Apply(ctx, up, nil); err != nil {
		e.t.Fatal(err)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *env) run(q Query) Result {
	e.t.Helper()
	snap, err := e.ix.Snapshot()
	if err != nil {
		e.t.Fatal(err)
	}
	defer snap.Close()
	if q.IDs.IDs == nil {
		q.IDs = testIDs
	}
	res, err := Run(context.Background(), snap, e.st, q)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// The subject of the recall tests.
var kari = []Identifier{
	{Kind: KindEmail, Value: "Kari.Nordmann@Example.NO"},
	{Kind: KindPhone, Value: "+47 912 34 567"},
	{Kind: KindName, Value: "Bjørn Ødegård"},
	{Kind: KindID, Pattern: "customer", Value: "CUST-001-1234"},
	{Kind: KindID, Value: "EMP 778899"}, // no pattern configured: phrase on the text
}

func TestRecallAndDecoys(t *testing.T) {
	// want: identifier value (as given) -> count; nil = must not be a hit.
	type want map[string]int
	email, phone, name, cust, emp := kari[0].Value, kari[1].Value, kari[2].Value, kari[3].Value, kari[4].Value
	cases := []struct {
		id, text string
		want     want
	}{
		// E-mail: exact, case-insensitive.
		{"email-upper", "Contact KARI.NORDMANN@EXAMPLE.NO today.", want{email: 1}},
		{"email-mailto", "<a href>mailto:kari.nordmann@example.no</a>", want{email: 1}},
		{"email-angle", "From: Kari <Kari.Nordmann@example.no>\nTo: x", want{email: 1}},
		{"email-twice", "kari.nordmann@example.no, cc kari.nordmann@EXAMPLE.no.", want{email: 2}},
		{"email-cell", "Name\tE-mail\nKari\tkari.nordmann@example.no\n", want{email: 1}},
		// Phone: every written form.
		{"phone-intl", "Tlf: +47 912 34 567", want{phone: 1}},
		{"phone-00", "ring 0047 91234567 etter kl 8", want{phone: 1}},
		{"phone-national", "mob 912 34 567.", want{phone: 1}},
		{"phone-pairs", "91 23 45 67", want{phone: 1}},
		{"phone-compact", "+4791234567", want{phone: 1}},
		{"phone-dashes", "912-34-567", want{phone: 1}},
		{"phone-paren", "(+47) 912.34.567", want{phone: 1}},
		{"phone-nbsp", "912\u00a034\u00a0567", want{phone: 1}},
		// Names: phrase, case- and accent-insensitive, also "Surname, Given".
		{"name-plain", "Møte med Bjørn Ødegård i dag.", want{name: 1}},
		{"name-ascii", "bjorn odegard sa nei", want{name: 1}},
		{"name-upper", "BJØRN ØDEGÅRD", want{name: 1}},
		{"name-reversed", "Ødegård, Bjørn (avdeling 4)", want{name: 1}},
		{"name-linebreak", "Bjørn\nØdegård", want{name: 1}},
		{"name-nfd", "Bjørn O\u0308dega\u030ard", want{name: 1}}, // decomposed accents
		{"name-both", "Bjørn Ødegård ... Odegard, Bjorn", want{name: 2}},
		// IDs: separators ignored for the configured pattern.
		{"cust-dashed", "Kundenr CUST-001-1234", want{cust: 1}},
		{"cust-space", "cust 001 1234 / kunde", want{cust: 1}},
		{"cust-plain", "CUST0011234", want{cust: 1}},
		{"emp-phrase", "Ansattnr EMP 778899.", want{emp: 1}},
		// Several at once.
		{"all", "Bjørn Ødegård (kari.nordmann@example.no, 912 34 567) CUST-0011234 EMP 778899", want{email: 1, phone: 1, name: 1, cust: 1, emp: 1}},
		// Decoys.
		{"decoy-email-suffix", "kari.nordmann@example.no.evil.com", nil},
		{"decoy-email-prefix", "xkari.nordmann@example.no", nil},
		{"decoy-email-other-domain", "kari.nordmann@example.com", nil},
		{"decoy-phone-same-tail", "+47 922 34 567", nil},
		{"decoy-phone-other-country", "+46 912 34 567", nil},
		{"decoy-phone-longer", "9123456789", nil},
		{"decoy-name-longer", "Bjørnar Ødegårdsen", nil},
		{"decoy-name-middle", "Bjørn Kari Ødegård", nil},
		{"decoy-name-surname-only", "Ødegård Eiendom AS", nil},
		{"decoy-name-given-only", "Bjørn Hansen", nil},
		{"decoy-cust-digit", "CUST-001-1235", nil},
		{"decoy-emp-digit", "EMP 778898", nil},
	}
	e := newEnv(t)
	var docs []tdoc
	for _, c := range cases {
		docs = append(docs, tdoc{id: c.id, text: c.text})
	}
	e.add(docs...)
	res := e.run(Query{RequestID: "r1", Identifiers: kari})

	got := map[string]Hit{}
	for _, h := range res.Hits {
		got[h.EntityID] = h
	}
	for _, c := range cases {
		h, ok := got[c.id]
		if c.want == nil {
			if ok {
				t.Errorf("%s: decoy %q is a hit: %+v", c.id, c.text, h.Matched)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: needle %q not found", c.id, c.text)
			continue
		}
		gm := map[string]int{}
		total := 0
		for _, m := range h.Matched {
			gm[m.Value] = m.Count
			total += m.Count
		}
		if !reflect.DeepEqual(gm, map[string]int(c.want)) || h.Count != total {
			t.Errorf("%s: matched %v (count %d), want %v", c.id, gm, h.Count, c.want)
		}
		if len(h.Snippets) == 0 || len(h.Snippets[0].Highlights) == 0 {
			t.Errorf("%s: no highlighted snippet: %+v", c.id, h.Snippets)
		}
	}
	if res.IndexedDocs != uint64(len(cases)) {
		t.Errorf("IndexedDocs = %d, want %d", res.IndexedDocs, len(cases))
	}
	// Highlights cover what was matched, in runes of the snippet.
	for _, id := range []string{"name-upper", "email-upper", "phone-intl", "name-reversed", "cust-dashed"} {
		sn := got[id].Snippets[0]
		r := []rune(sn.Text)
		hl := sn.Highlights[0]
		gotText := string(r[hl.Start:hl.End])
		wantText := map[string]string{"name-upper": "BJØRN ØDEGÅRD", "email-upper": "KARI.NORDMANN@EXAMPLE.NO",
			"phone-intl": "+47 912 34 567", "name-reversed": "Ødegård, Bjørn", "cust-dashed": "CUST-001-1234"}[id]
		if gotText != wantText {
			t.Errorf("%s: highlight %q, want %q (snippet %q)", id, gotText, wantText, sn.Text)
		}
	}
}

func TestPointInTime(t *testing.T) {
	e := newEnv(t)
	e.add(tdoc{id: "before", text: "kari.nordmann@example.no"})
	snap, err := e.ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	// Indexed after the snapshot was taken: must not appear in it.
	e.add(tdoc{id: "after", text: "Kari.Nordmann@example.no"})
	res, err := Run(context.Background(), snap, e.st, Query{RequestID: "r", Identifiers: kari[:1], IDs: testIDs})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].EntityID != "before" || res.IndexedDocs != 1 {
		t.Fatalf("snapshot result: %d hits %+v, indexed %d", len(res.Hits), res.Hits, res.IndexedDocs)
	}
	// A new snapshot (a new request) sees both.
	if res2 := e.run(Query{RequestID: "r2", Identifiers: kari[:1]}); len(res2.Hits) != 2 {
		t.Fatalf("fresh snapshot: %d hits", len(res2.Hits))
	}
	// The stored snapshot keeps what the request saw.
	if err := Save(context.Background(), e.st, res, false); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(context.Background(), e.st, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Hits) != 1 || loaded.Hits[0].EntityID != "before" {
		t.Fatalf("loaded %+v", loaded.Hits)
	}
}

func TestEveryMatchNotTopN(t *testing.T) {
	e := newEnv(t)
	var docs []tdoc
	for i := range 1500 {
		text := fmt.Sprintf("Dokument %d om noe annet.", i)
		if i%3 == 0 {
			text = fmt.Sprintf("Dokument %d: Odegard, Bjorn ringte 912 34 567.", i)
		}
		docs = append(docs, tdoc{id: fmt.Sprintf("d%05d", i), dataType: []string{"hr", "crm"}[i%2], text: text})
	}
	e.add(docs...)
	res := e.run(Query{RequestID: "r", Identifiers: kari})
	if len(res.Hits) != 500 {
		t.Fatalf("%d hits, want 500", len(res.Hits))
	}
	// Ordered by data type, source, entity id.
	sorted := slices.IsSortedFunc(res.Hits, func(a, b Hit) int {
		return strings.Compare(a.DataType+"\x00"+a.Source+"\x00"+a.EntityID, b.DataType+"\x00"+b.Source+"\x00"+b.EntityID)
	})
	if !sorted || res.Hits[0].DataType != "crm" {
		t.Fatal("hits not ordered by data type, source, entity id")
	}
	for _, h := range res.Hits {
		if h.Count != 2 || len(h.Matched) != 2 {
			t.Fatalf("%s: count %d matched %+v", h.EntityID, h.Count, h.Matched)
		}
	}
	if !reflect.DeepEqual(res.DataTypes, []string{"crm", "hr"}) {
		t.Fatalf("data types %v", res.DataTypes)
	}
	// Restricted to one data type.
	hr := e.run(Query{RequestID: "r", Identifiers: kari, DataTypes: []string{"hr"}})
	if len(hr.Hits) != 250 || !reflect.DeepEqual(hr.DataTypes, []string{"hr"}) {
		t.Fatalf("hr: %d hits, types %v", len(hr.Hits), hr.DataTypes)
	}
	for _, h := range hr.Hits {
		if h.DataType != "hr" {
			t.Fatalf("hit of data type %q", h.DataType)
		}
	}
	// Deterministic: a second run gives the same result.
	again := e.run(Query{RequestID: "r", Identifiers: kari})
	again.SearchedAt = res.SearchedAt
	if !reflect.DeepEqual(again, res) {
		t.Fatal("two runs on the same index differ")
	}
}

func TestHitFieldsMetadataAndNotSearchable(t *testing.T) {
	e := newEnv(t)
	e.add(
		tdoc{id: "a", dataType: "hr", text: "kari.nordmann@example.no", meta: map[string]any{"author": "HR", "case": 12345678901234567}},
		tdoc{id: "p", dataType: "hr", text: "partial text with Bjørn Ødegård", status: "partial"},
		tdoc{id: "f", dataType: "hr", text: "", status: "failed"},
		tdoc{id: "x", dataType: "crm", text: "", status: "encrypted"},
		tdoc{id: "o", dataType: "hr", text: "nothing here"},
	)
	res := e.run(Query{RequestID: "r", Identifiers: kari, DataTypes: []string{"hr"}})
	if len(res.Hits) != 2 {
		t.Fatalf("hits %+v", res.Hits)
	}
	a := res.Hits[0]
	if a.EntityID != "a" || a.Source != testSource || a.DataType != "hr" || a.DocumentID != "a" || a.Filename != "a.txt" ||
		a.MIMEType != "text/plain" || a.OriginalURL != "file://server/share/a" || a.ExtractContent != "http://127.0.0.1:1/content/a" ||
		a.SHA256 != strings.Repeat("0", 64) || a.Status != "ok" || a.FileSize != int64(len("kari.nordmann@example.no")) ||
		a.IndexID != index.DocID(testSource, "a") {
		t.Errorf("hit fields %+v", a)
	}
	if a.Metadata["author"] != "HR" || fmt.Sprint(a.Metadata["case"]) != "12345678901234567" {
		t.Errorf("metadata %#v", a.Metadata)
	}
	if p := res.Hits[1]; p.EntityID != "p" || p.Status != "partial" {
		t.Errorf("partial hit %+v", p)
	}
	// Not searchable: the hr rows not ok (the partial one too); not crm.
	var ns []string
	for _, n := range res.NotSearchable {
		ns = append(ns, n.EntityID+":"+n.Status)
		if n.Filename != n.EntityID+".txt" || n.OriginalURL != "file://server/share/"+n.EntityID || n.DataType != "hr" || n.Reason == "" {
			t.Errorf("not searchable row %+v", n)
		}
	}
	if strings.Join(ns, ",") != "f:failed,p:partial" {
		t.Errorf("not searchable %v", ns)
	}
	all := e.run(Query{RequestID: "r", Identifiers: kari})
	if len(all.NotSearchable) != 3 || all.NotSearchable[0].EntityID != "x" {
		t.Errorf("all data types: not searchable %+v", all.NotSearchable)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.add(
		tdoc{id: "a", text: "Bjørn Ødegård <kari.nordmann@example.no>", meta: map[string]any{"n": 1.5, "tags": []any{"x"}}},
		tdoc{id: "b", text: "tlf 912 34 567", status: "partial"},
	)
	ctx := context.Background()
	res := e.run(Query{RequestID: "req-1", Identifiers: kari})
	if len(res.Hits) != 2 || len(res.NotSearchable) != 1 {
		t.Fatalf("result %+v", res)
	}
	if err := Save(ctx, e.st, res, false); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, e.st, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, res) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, res)
	}
	st, err := e.st.RequestState(ctx, "req-1")
	if err != nil || st.State != store.RequestSearched || st.Hits != 2 || st.NotSearchable != 1 {
		t.Fatalf("request state %+v %v", st, err)
	}
	// Never re-run by itself: a second save is refused, an explicit
	// replacement is not.
	res2 := e.run(Query{RequestID: "req-1", Identifiers: kari[:1]})
	if err := Save(ctx, e.st, res2, false); !errors.Is(err, store.ErrSnapshotExists) {
		t.Fatalf("second save: %v", err)
	}
	if got, _ := Load(ctx, e.st, "req-1"); len(got.Hits) != 2 {
		t.Fatal("refused save changed the snapshot")
	}
	if err := Save(ctx, e.st, res2, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(ctx, e.st, "req-1"); len(got.Hits) != 1 {
		t.Fatalf("replaced snapshot has %d hits", len(got.Hits))
	}
	if _, err := Load(ctx, e.st, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
}

func TestNoIdentifiers(t *testing.T) {
	e := newEnv(t)
	e.add(tdoc{id: "a", text: "x"})
	snap, err := e.ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for _, ids := range [][]Identifier{nil, {{Kind: KindEmail, Value: "not an address"}}, {{Kind: KindName, Value: " , "}}} {
		if _, err := Run(context.Background(), snap, e.st, Query{Identifiers: ids, IDs: testIDs}); !errors.Is(err, ErrNoIdentifiers) {
			t.Errorf("Run(%v) = %v, want ErrNoIdentifiers", ids, err)
		}
	}
}

func TestDuplicateIdentifiersCountOnce(t *testing.T) {
	e := newEnv(t)
	e.add(tdoc{id: "a", text: "kari.nordmann@example.no"})
	ids := []Identifier{{Kind: KindEmail, Value: "kari.nordmann@example.no"}, {Kind: KindEmail, Value: "KARI.NORDMANN@example.no"}}
	res := e.run(Query{Identifiers: ids})
	if len(res.Hits) != 1 || res.Hits[0].Count != 1 || len(res.Hits[0].Matched) != 1 {
		t.Fatalf("%+v", res.Hits)
	}
}
