package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// BenchmarkRun: one request with 5 identifiers over 5000 small generated
// documents, 50 of which match. The 100k-document numbers come from
// bench/search (see /work/coord/bench-search.md).
func BenchmarkRun(b *testing.B) {
	e := newEnv(b)
	words := strings.Fields("møte søknad vedtak avtale kontrakt faktura kunde ansatt lønn ferie the of and to in report budget")
	const n = 5000
	for from := 0; from < n; from += 1000 {
		var docs []tdoc
		for i := from; i < from+1000; i++ {
			var sb strings.Builder
			for j := 0; j < 150; j++ {
				sb.WriteString(words[(i*31+j*7)%len(words)])
				sb.WriteByte(' ')
			}
			if i%100 == 0 {
				sb.WriteString("Kontakt Ødegård, Bjørn på 912 34 567 eller Kari.Nordmann@example.no, kundenr CUST-001-1234, EMP 778899.")
			}
			docs = append(docs, tdoc{id: fmt.Sprintf("d%05d", i), text: sb.String(), status: map[bool]string{true: "partial"}[i%250 == 1]})
		}
		e.add(docs...)
	}
	q := Query{RequestID: "bench", Identifiers: kari, IDs: testIDs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	for b.Loop() {
		snap, err := e.ix.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		res, err := Run(ctx, snap, e.st, q)
		snap.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Hits) != n/100 {
			b.Fatalf("%d hits", len(res.Hits))
		}
	}
}
