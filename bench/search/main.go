package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-search:", err)
		os.Exit(1)
	}
}

var ids = identifiers.Options{
	DefaultRegion: "NO",
	IDs: []identifiers.IDPattern{
		{Name: "customer", Regexp: regexp.MustCompile(`(?i)\bCUST[- ]?\d{3}[- ]?\d{4}\b`), StripSeparators: true},
	},
}

const source = "bench"

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-search", flag.ContinueOnError)
	n := fs.Int("docs", 100000, "documents in the index")
	dir := fs.String("dir", "", "directory for index and store (reused when it holds -docs documents)")
	requests := fs.Int("requests", 40, "searches to time")
	subjects := fs.Int("subjects", 200, "distinct subjects planted in the documents")
	perSubject := fs.Int("per-subject", 20, "documents each subject appears in")
	batch := fs.Int("batch", 1000, "documents per index batch while building")
	docBytes := fs.Int("bytes", 1000, "approximate text size of each generated document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	ix, err := index.Open(filepath.Join(*dir, "idx"), index.Options{Identifiers: ids})
	if err != nil {
		return err
	}
	defer ix.Close()
	st, err := store.Open(ctx, filepath.Join(*dir, "docvet.db"), store.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	defer st.Close()
	have, err := ix.Count()
	if err != nil {
		return err
	}
	if have < uint64(*n) {
		t0 := time.Now()
		for from := int(have); from < *n; from += *batch {
			to := min(from+*batch, *n)
			docs := generate(from, to, *subjects, *perSubject, *n, *docBytes)
			if err := st.Update(ctx, func(tx *store.Tx) error {
				for _, d := range docs {
					body, _ := json.Marshal(map[string]any{
						"gdpr-data-type:data-type-id": d.DataType, "gdpr-document:filename": d.Filename,
						"gdpr-document:original-url": d.OriginalURL, "gdpr-document:extract-content": d.ExtractContent,
						"gdpr-document:mime-type": d.MIMEType, "gdpr-document:filesize": d.FileSize,
						"gdpr-document:metadata": map[string]any{"department": "dept-" + d.EntityID[len(d.EntityID)-1:]},
					})
					if _, err := tx.Put(source, store.Write{ID: d.EntityID, Body: body}); err != nil {
						return err
					}
					if err := tx.PutLedger(store.LedgerRow{Source: source, EntityID: d.EntityID, DataType: d.DataType,
						Status: d.Status, SHA256: d.SHA256}); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if err := ix.Apply(ctx, docs, nil); err != nil {
				return err
			}
			if to%50000 == 0 || to == *n {
				fmt.Fprintf(os.Stderr, "built %d/%d docs in %s\n", to, *n, time.Since(t0).Round(time.Second))
			}
		}
		fmt.Printf("build: %d docs in %s\n", *n, time.Since(t0).Round(time.Second))
	}
	count, _ := ix.Count()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var lat []time.Duration
	hits := 0
	for r := range *requests {
		subj := (r * 7919) % *subjects
		snap, err := ix.Snapshot()
		if err != nil {
			return err
		}
		t0 := time.Now()
		res, err := search.Run(ctx, snap, st, search.Query{RequestID: fmt.Sprint(r), Identifiers: subject(subj), IDs: ids, Logger: logger})
		d := time.Since(t0)
		snap.Close()
		if err != nil {
			return err
		}
		if len(res.Hits) < *perSubject {
			return fmt.Errorf("subject %d: %d hits, want >= %d", subj, len(res.Hits), *perSubject)
		}
		hits += len(res.Hits)
		lat = append(lat, d)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("search: docs=%d requests=%d identifiers=5 hits/request=%.1f p50=%s p95=%s max=%s\n",
		count, len(lat), float64(hits)/float64(len(lat)), pct(0.50).Round(time.Microsecond), pct(0.95).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	return nil
}

// subject returns the 5 identifiers of subject s (already normalised, as
// search/request.go delivers them).
func subject(s int) []search.Identifier {
	email := fmt.Sprintf("person%d@example.no", s)
	phone := fmt.Sprintf("+479%07d", 1000000+s)
	cust := fmt.Sprintf("CUST%03d%04d", s%1000, s)
	return []search.Identifier{
		{Kind: search.KindEmail, Value: email, Normalized: email},
		{Kind: search.KindPhone, Value: phone, Normalized: phone},
		{Kind: search.KindName, Value: given[s%len(given)] + " " + surnames[s/len(given)%len(surnames)] + fmt.Sprintf("sen%d", s)},
		{Kind: search.KindID, Pattern: "customer", Value: cust, Normalized: cust},
		{Kind: search.KindID, Value: fmt.Sprintf("EMP %06d", s)},
	}
}

// written returns the identifiers of subject s as a document writes them.
func written(s int, rng *rand.Rand) []string {
	id := subject(s)
	p := id[1].Value // +479XXXXXXX
	phones := []string{p, "0047 " + p[3:], p[3:6] + " " + p[6:8] + " " + p[8:], "(+47) " + p[3:]}
	name := id[2].Value
	if rng.IntN(2) == 0 {
		f := strings.Fields(name)
		name = f[1] + ", " + f[0]
	}
	return []string{strings.ToUpper(id[0].Value[:1]) + id[0].Value[1:], phones[rng.IntN(len(phones))], name,
		id[3].Value[:4] + "-" + id[3].Value[4:7] + "-" + id[3].Value[7:], id[4].Value}
}

var (
	given    = strings.Fields("Kari Ola Bjørn Åse Øyvind Ingrid Lars Marte Håkon Siri Jørgen Ellen")
	surnames = strings.Fields("Nordmann Ødegård Hansen Bråten Løvås Johansen Østby Dahl")
	vocab    = strings.Fields(`the of and to in is for on that by this with from as be are was at or an it not
		og i det som en på er av til med for ikke har de å jeg vi men skal kan om så være
		møte søknad vedtak fullmakt avtale kontrakt faktura kunde ansatt lønn ferie søknaden
		meeting invoice contract employee customer payment review report budget project
		kr 2023 2024 januar februar mars april mai juni juli august Oslo Bergen Trondheim
		strategi økonomi årsrapport høring tjenesten behandling personopplysninger`)
)

// generate makes documents [from, to): ~docBytes of text each; subject s appears
// (all 5 identifiers, in one of their written forms) in perSubject documents
// spread over the index, others hold noise e-mails and numbers.
func generate(from, to, subjects, perSubject, total, docBytes int) []index.Doc {
	out := make([]index.Doc, 0, to-from)
	stride := max(total/(subjects*perSubject), 1)
	for i := from; i < to; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		var b strings.Builder
		for b.Len() < docBytes {
			b.WriteString(vocab[rng.IntN(len(vocab))])
			b.WriteByte(' ')
			if rng.IntN(60) == 0 {
				fmt.Fprintf(&b, "noise%d@example.com ", rng.IntN(1e6))
			}
			if rng.IntN(80) == 0 {
				fmt.Fprintf(&b, "+47 4%02d %02d %03d ", rng.IntN(100), rng.IntN(100), rng.IntN(1000))
			}
		}
		if i%stride == 0 && i/stride < subjects*perSubject {
			for _, w := range written((i/stride)%subjects, rng) {
				b.WriteString(w)
				b.WriteString(" ")
				b.WriteString(vocab[rng.IntN(len(vocab))])
				b.WriteString(" ")
			}
		}
		text := b.String()
		eid := fmt.Sprintf("doc-%08d", i)
		status := string(doctext.StatusOK)
		if i%200 == 7 {
			status = string(doctext.StatusPartial)
		}
		out = append(out, index.Doc{Source: source, EntityID: eid, DataType: []string{"hr", "crm", "support"}[i%3],
			DocumentID: eid, MIMEType: "text/plain", Filename: eid + ".txt", OriginalURL: "file://server/share/" + eid,
			ExtractContent: "http://127.0.0.1:1/content/" + eid, FileSize: int64(len(text)), SHA256: fmt.Sprintf("%064x", i),
			Status: status, Text: text,
			Segments: []doctext.Segment{{Location: "page 1", Offset: 0, Length: int64(len([]rune(text)))}}})
	}
	return out
}
