package search

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
)

// A name given in either written form, with or without its comma, is found
// in documents in either order ("Given ... Surname" and "Surname, Given
// ..."), and nothing else: the review finding was that "Ødegård, Bjørn Are"
// searched "odegard bjorn are" and "are odegard bjorn" and so missed
// "Bjørn Are Ødegård".
func TestNameBothOrders(t *testing.T) {
	type name struct {
		forms   []string // how the request may give it
		natural string   // the document writes it "Given ... Surname"
		surname string   // the document writes it "Surname, Given ..."
		bare    string   // "Surname Given ..." without the comma (a table row)
		decoys  []string // must not match
	}
	names := []name{
		{
			forms:   []string{"Bjørn Ødegård", "Ødegård, Bjørn", "ødegård,bjørn", "BJORN ODEGARD", "Odegard , Bjorn"},
			natural: "Møte med Bjørn Ødegård i dag.",
			surname: "Deltakere: Ødegård, Bjørn (avd. 4)",
			bare:    "Navn\tØdegård Bjørn\tavd. 4",
			decoys:  []string{"Bjørn Hansen og Kari Ødegård", "Ødegård Eiendom AS, Bjørn"},
		},
		{
			forms:   []string{"Bjørn Are Ødegård", "Ødegård, Bjørn Are", "ødegård,  bjørn are", "BJORN ARE ODEGARD", "Odegard, Bjorn Are"},
			natural: "Møte med Bjørn Are Ødegård i dag.",
			surname: "Deltakere: Ødegård, Bjørn Are (avd. 4)",
			bare:    "Navn\tØdegård Bjørn Are\tavd. 4",
			decoys: []string{
				"Are Ødegård, Bjørn",       // the old wrong reversal
				"are odegard bjorn",        // idem, bare
				"Bjørn Ødegård",            // middle name missing
				"Bjørn Are Hansen Ødegård", // a word between
				"Ødegård Are Bjørn",
			},
		},
	}
	// One index per name: the 3-word name's documents rightly match the
	// 2-word name ("Ødegård, Bjørn Are" holds "Ødegård, Bjørn").
	for i, n := range names {
		e := newEnv(t)
		var docs []tdoc
		docKind := map[string]string{} // doc id -> "natural", "surname", "bare", "decoy"
		for k, text := range map[string]string{"natural": n.natural, "surname": n.surname, "bare": n.bare} {
			id := fmt.Sprintf("n%d-%s", i, k)
			docs = append(docs, tdoc{id: id, text: text})
			docKind[id] = k
		}
		for j, text := range n.decoys {
			id := fmt.Sprintf("n%d-decoy%d", i, j)
			docs = append(docs, tdoc{id: id, text: text})
			docKind[id] = "decoy"
		}
		e.add(docs...)
		for _, form := range n.forms {
			for _, pre := range []bool{true, false} {
				id := Identifier{Kind: KindName, Value: form}
				if pre {
					// As CollectIdentifiers gives it: Normalized filled in.
					var ok bool
					if id, ok = NormalizeIdentifier(id, testIDs); !ok {
						t.Fatalf("NormalizeIdentifier(%q) failed", form)
					}
				}
				res := e.run(Query{RequestID: "names", Identifiers: []Identifier{id}})
				got := map[string]Hit{}
				for _, h := range res.Hits {
					got[h.EntityID] = h
				}
				for _, k := range []string{"natural", "surname", "bare"} {
					did := fmt.Sprintf("n%d-%s", i, k)
					h, ok := got[did]
					if !ok {
						t.Errorf("name %q (normalised %v): %s document not found", form, pre, k)
						continue
					}
					if h.Count != 1 || len(h.Matched) != 1 || h.Matched[0].Value != form || h.Matched[0].Count != 1 {
						t.Errorf("name %q: %s document matched %+v (count %d), want one match", form, k, h.Matched, h.Count)
					}
					if len(h.Snippets) == 0 || len(h.Snippets[0].Highlights) == 0 {
						t.Errorf("name %q: %s document has no highlight", form, k)
					}
				}
				for did, h := range got {
					if docKind[did] == "decoy" {
						t.Errorf("name %q: %s (%s) is a hit: %+v", form, did, docKind[did], h.Matched)
					}
				}
			}
		}
	}
}

// The phrases themselves: natural order first (it is the dedup key), then
// surname first, for both written forms; one word gives one phrase.
func TestNamePhrases(t *testing.T) {
	analyze, err := foldedAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	an := func(s string) []string { return analyze([]byte(s)) }
	for _, c := range []struct {
		value string
		want  [][]string
	}{
		{"Bjørn Are Ødegård", [][]string{{"bjorn", "are", "odegard"}, {"odegard", "bjorn", "are"}}},
		{"Ødegård, Bjørn Are", [][]string{{"bjorn", "are", "odegard"}, {"odegard", "bjorn", "are"}}},
		{"Ødegård,Bjørn", [][]string{{"bjorn", "odegard"}, {"odegard", "bjorn"}}},
		{"Bjørn Ødegård", [][]string{{"bjorn", "odegard"}, {"odegard", "bjorn"}}},
		{"Van der Berg, Anna Marie", [][]string{{"anna", "marie", "van", "der", "berg"}, {"van", "der", "berg", "anna", "marie"}}},
		{"Ødegård", [][]string{{"odegard"}}},
		{"Ødegård,", [][]string{{"odegard"}}},
		{"Kari Kari", [][]string{{"kari", "kari"}}},
	} {
		norm, ok := normalizeName(c.value)
		if !ok {
			t.Fatalf("normalizeName(%q) failed", c.value)
		}
		for _, n := range []string{norm, ""} {
			if got := namePhrases(n, c.value, an); !reflect.DeepEqual(got, c.want) {
				t.Errorf("namePhrases(%q, %q) = %v, want %v", n, c.value, got, c.want)
			}
		}
	}
}

// Both written forms of one name are one identifier: counted once.
func TestNameFormsCountOnce(t *testing.T) {
	e := newEnv(t)
	e.add(tdoc{id: "a", text: "Bjørn Are Ødegård og Ødegård, Bjørn Are"})
	var ids []Identifier
	for _, v := range []string{"Bjørn Are Ødegård", "Ødegård, Bjørn Are"} {
		id, _ := NormalizeIdentifier(Identifier{Kind: KindName, Value: v}, testIDs)
		ids = append(ids, id)
	}
	res := e.run(Query{Identifiers: ids})
	if len(res.Hits) != 1 || len(res.Hits[0].Matched) != 1 || res.Hits[0].Count != 2 {
		t.Fatalf("%+v", res.Hits)
	}
}

// Run refuses identifier options whose fingerprint is not the index's:
// another phone region or other ID patterns would normalise the subject's
// identifiers by rules the index was not built with.
func TestIdentifierOptionsMismatch(t *testing.T) {
	e := newEnv(t)
	e.add(tdoc{id: "a", text: "kari.nordmann@example.no CUST-001-1234"})
	snap, err := e.ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if got, want := snap.IdentifiersFingerprint(), testIDs.Fingerprint(); got != want {
		t.Fatalf("snapshot fingerprint %q, want the index's options %q", got, want)
	}
	ids := []Identifier{{Kind: KindEmail, Value: "kari.nordmann@example.no"}}
	for name, opt := range map[string]identifiers.Options{
		"zero options":   {},
		"other region":   {DefaultRegion: "SE", IDs: testIDs.IDs},
		"no patterns":    {DefaultRegion: "NO"},
		"other pattern":  {DefaultRegion: "NO", IDs: []identifiers.IDPattern{{Name: "customer", Regexp: regexp.MustCompile(`CUST\d{7}`), StripSeparators: true}}},
		"not stripping":  {DefaultRegion: "NO", IDs: []identifiers.IDPattern{{Name: "customer", Regexp: testIDs.IDs[0].Regexp}}},
		"other pat name": {DefaultRegion: "NO", IDs: []identifiers.IDPattern{{Name: "kunde", Regexp: testIDs.IDs[0].Regexp, StripSeparators: true}}},
	} {
		_, err := Run(context.Background(), snap, e.st, Query{Identifiers: ids, IDs: opt})
		if !errors.Is(err, ErrIdentifierOptions) {
			t.Errorf("%s: Run = %v, want ErrIdentifierOptions", name, err)
		}
	}
	// The same options, written differently (region case), are accepted.
	same := identifiers.Options{DefaultRegion: "no", IDs: testIDs.IDs}
	res, err := Run(context.Background(), snap, e.st, Query{Identifiers: ids, IDs: same})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("matching options: %v, %d hits", err, len(res.Hits))
	}
}

// An index opened with the zero options records their fingerprint too, and
// a search with the zero options runs.
func TestIdentifierOptionsZero(t *testing.T) {
	ix, err := index.Open(filepath.Join(t.TempDir(), "idx"), index.Options{BoltTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Apply(context.Background(), []index.Doc{{Source: "s", EntityID: "a", Text: "kari@example.no"}}, nil); err != nil {
		t.Fatal(err)
	}
	snap, err := ix.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ids := []Identifier{{Kind: KindEmail, Value: "kari@example.no"}}
	res, err := Run(context.Background(), snap, nil, Query{Identifiers: ids})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("zero options: %v, %+v", err, res.Hits)
	}
	if _, err := Run(context.Background(), snap, nil, Query{Identifiers: ids, IDs: testIDs}); !errors.Is(err, ErrIdentifierOptions) {
		t.Fatalf("index without patterns, query with: %v", err)
	}
}
