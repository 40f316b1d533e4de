package server

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkPushDocuments measures the receiver end to end (decode, validate,
// one transaction) for batches of 1000 new custom-documents.
func BenchmarkPushDocuments(b *testing.B) {
	e := &env{t: b, dir: b.TempDir()}
	e.cfg = testConfig(e.dir)
	e.start()
	defer e.stop()
	e.registerType("hr")
	h := e.srv.Handler()
	n := 0
	var bytes int64
	for b.Loop() {
		parts := make([]string, 1000)
		for i := range parts {
			n++
			parts[i] = document(fmt.Sprintf("doc-%d", n), "hr", fmt.Sprintf("http://files.example:8081/content/doc-%d.pdf", n))
		}
		body := "[" + strings.Join(parts, ",") + "]"
		bytes += int64(len(body))
		req := httptest.NewRequest("POST", "/api/receivers/custom-documents/entities", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.tokens[ScopePush])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entities/s")
	b.SetBytes(bytes / int64(b.N))
}
