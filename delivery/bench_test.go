package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// BenchmarkDeliver1000 delivers one request of 1,000 approved documents
// (every file kept, 32 KiB each, served over loopback HTTP): download,
// hash, encrypt, store, record, then the bundle. One op is one request.
//
//	go test ./delivery/ -run '^$' -bench Deliver1000 -benchtime 3x
func BenchmarkDeliver1000(b *testing.B) {
	const n, size = 1000, 32 << 10
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ix, err := index.Open(filepath.Join(dir, "idx"), index.Options{BoltTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	blobs, err := NewBlobs(filepath.Join(dir, "delivery"))
	if err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(files[r.URL.Path])
	}))
	defer srv.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var res search.Result
	var docs []index.Doc
	for i := range n {
		body := make([]byte, size)
		for j := range body {
			body[j] = byte('a' + rng.IntN(26))
		}
		p := fmt.Sprintf("/files/doc-%04d.txt", i)
		files[p] = body
		h := search.Hit{IndexID: index.DocID("s", p), Source: "s", EntityID: p, DataType: []string{"hr", "crm", "mail"}[i%3],
			DocumentID: p, Filename: filepath.Base(p), FileSize: size, ExtractContent: srv.URL + p, SHA256: sha(body),
			Metadata: map[string]any{"owner": "x"}}
		res.Hits = append(res.Hits, h)
		docs = append(docs, index.Doc{Source: "s", EntityID: p, DataType: h.DataType, SHA256: h.SHA256, Text: strings.Repeat("text ", 200)})
	}
	if err := ix.Apply(ctx, docs, nil); err != nil {
		b.Fatal(err)
	}
	snap, err := ix.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Close()
	pub, _ := genKey(b, "x25519", 0)
	d := New(st, blobs, extractor.NewFetcher(extractor.FetchOptions{}), Options{
		AllowedBases: func(string) []string { return []string{srv.URL + "/files/"} },
	})
	round := 0
	b.SetBytes(n * size)
	for b.Loop() {
		b.StopTimer()
		round++
		id := fmt.Sprintf("req-%d", round)
		var decs []store.Decision
		for _, h := range res.Hits {
			bj, _ := json.Marshal(Decision{IndexID: h.IndexID})
			decs = append(decs, store.Decision{RowID: h.IndexID, DataType: h.DataType, Decision: bj, What: json.RawMessage(`[]`)})
		}
		if err := st.Update(ctx, func(tx *store.Tx) error {
			if err := tx.PutRequestState(id, store.RequestAwaitingReview, ""); err != nil {
				return err
			}
			if err := tx.ReplaceDecisions(id, "", "bench", decs); err != nil {
				return err
			}
			return tx.PutRequestState(id, store.RequestDelivering, "")
		}); err != nil {
			b.Fatal(err)
		}
		r := res
		r.RequestID = id
		b.StartTimer()
		sum, err := d.Deliver(ctx, Job{RequestID: id, PublicKey: pub, Language: "en", Result: &r, Texts: snap})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Delivered != n || sum.Items != 2*n {
			b.Fatalf("summary %+v", sum)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(round), "s/request")
}
