package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/docvet/docvet/bench/internal/benchkit"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-index:", err)
		os.Exit(1)
	}
}

// rawDoc mirrors the field names of index's mapping.
type rawDoc struct {
	Text           string   `json:"text"`
	Identifiers    []string `json:"identifiers"`
	Source         string   `json:"source"`
	EntityID       string   `json:"entity_id"`
	DataType       string   `json:"data_type"`
	DocumentID     string   `json:"document_id"`
	MIME           string   `json:"mime"`
	Filename       string   `json:"filename"`
	OriginalURL    string   `json:"original_url"`
	ExtractContent string   `json:"extract_content"`
	FileSize       float64  `json:"filesize"`
	SHA256         string   `json:"sha256"`
	Status         string   `json:"status"`
	Segments       string   `json:"segments"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-index", flag.ContinueOnError)
	mode := fs.String("mode", "apply", "raw (Bleve batches) or apply (index.Apply)")
	n := fs.Int("docs", 20000, "documents to index")
	batch := fs.Int("batch", 500, "documents per batch")
	scorchCfg := fs.String("scorch", "", `extra scorch configuration as JSON for both modes, e.g. {"scorchPersisterOptions":{"NumPersisterWorkers":2}}`)
	dir := fs.String("dir", "", "index directory (default: a new temp dir, removed after)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var extra map[string]any
	if *scorchCfg != "" {
		if err := json.Unmarshal([]byte(*scorchCfg), &extra); err != nil {
			return fmt.Errorf("-scorch: %w", err)
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "bench-index-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	path := filepath.Join(*dir, "idx")
	idOpt := identifiers.Options{DefaultRegion: "NO"}

	// Documents are generated one batch at a time, outside the measured
	// sections, so peak RSS is the indexer's and not the input's.
	var elapsed, cpu time.Duration
	textBytes := 0
	measure := func(f func() error) error {
		t0, c0 := time.Now(), benchkit.CPU(syscall.RUSAGE_SELF)
		err := f()
		elapsed += time.Since(t0)
		cpu += benchkit.CPU(syscall.RUSAGE_SELF) - c0
		return err
	}
	var count uint64
	switch *mode {
	case "raw":
		m, err := index.NewMapping()
		if err != nil {
			return err
		}
		cfg := map[string]interface{}{}
		for k, v := range extra {
			cfg[k] = v
		}
		cfg["bolt_timeout"] = "1s"
		b, err := bleve.NewUsing(path, m, scorch.Name, scorch.Name, cfg)
		if err != nil {
			return err
		}
		for lo := 0; lo < *n; lo += *batch {
			docs := generate(lo, min(lo+*batch, *n))
			// What Apply derives from a Doc, computed unmeasured: the
			// baseline is Bleve alone.
			raws := make([]rawDoc, len(docs))
			ids := make([]string, len(docs))
			for i, d := range docs {
				textBytes += len(d.Text)
				var terms []string
				for _, f := range identifiers.Find(d.Text, idOpt) {
					terms = append(terms, f.Term())
				}
				segs, err := json.Marshal(d.Segments)
				if err != nil {
					return err
				}
				ids[i] = index.DocID(d.Source, d.EntityID)
				raws[i] = rawDoc{Text: d.Text, Identifiers: terms, Source: d.Source, EntityID: d.EntityID,
					DataType: d.DataType, DocumentID: d.DocumentID, MIME: d.MIMEType, Filename: d.Filename,
					OriginalURL: d.OriginalURL, ExtractContent: d.ExtractContent, FileSize: float64(d.FileSize),
					SHA256: d.SHA256, Status: d.Status, Segments: string(segs)}
			}
			err := measure(func() error {
				bt := b.NewBatch()
				for i := range raws {
					if err := bt.Index(ids[i], &raws[i]); err != nil {
						return err
					}
				}
				return b.Batch(bt)
			})
			if err != nil {
				return err
			}
		}
		count, _ = b.DocCount()
		if err := b.Close(); err != nil {
			return err
		}
	case "apply":
		ix, err := index.Open(path, index.Options{Identifiers: idOpt, Scorch: extra})
		if err != nil {
			return err
		}
		for lo := 0; lo < *n; lo += *batch {
			docs := generate(lo, min(lo+*batch, *n))
			for _, d := range docs {
				textBytes += len(d.Text)
			}
			if err := measure(func() error { return ix.Apply(ctx, docs, nil) }); err != nil {
				return err
			}
		}
		count, _ = ix.Count()
		if err := ix.Close(); err != nil {
			return err
		}
	default:
		return errors.New("-mode must be raw or apply")
	}
	if count != uint64(*n) {
		return fmt.Errorf("indexed %d docs, want %d", count, *n)
	}
	size := benchkit.DirSize(path)
	fmt.Printf("mode=%s docs=%d batch=%d text_MB=%.1f seconds=%.2f cpu_seconds=%.2f docs_per_s=%.0f docs_per_cpu_s=%.0f text_MB_per_s=%.2f peak_rss_MB=%.0f index_MB=%.0f GOMAXPROCS=%d\n",
		*mode, *n, *batch, float64(textBytes)/1e6, elapsed.Seconds(), cpu.Seconds(),
		float64(*n)/elapsed.Seconds(), float64(*n)/cpu.Seconds(),
		float64(textBytes)/1e6/elapsed.Seconds(), benchkit.PeakRSSMB(), float64(size)/1e6, runtime.GOMAXPROCS(0))
	return nil
}

// generate makes documents [from, to) of about 2 KB of text: words from a mixed
// Norwegian/English vocabulary (with accents), and now and then an e-mail
// address, a phone number, a date or an amount, so identifier extraction has
// realistic work to do.
func generate(from, to int) []index.Doc {
	docs := make([]index.Doc, 0, to-from)
	var sb strings.Builder
	for i := from; i < to; i++ {
		benchkit.Text(&sb, i, benchkit.TextOptions{Amounts: true, SentenceEnd: ". "})
		text := sb.String()
		entity := fmt.Sprintf("fileshare:dept-%d/doc-%07d.pdf", i%17, i)
		docs = append(docs, index.Doc{
			Source: "fileshare", EntityID: entity, DataType: fmt.Sprintf("type-%d", i%5), DocumentID: entity,
			MIMEType: "application/pdf", Filename: fmt.Sprintf("doc-%07d.pdf", i), FileSize: int64(40000 + i),
			OriginalURL: "http://fileserver.example/" + entity, ExtractContent: "http://127.0.0.1:8081/content/" + entity,
			SHA256: fmt.Sprintf("%064x", i), Status: string(doctext.StatusOK), Text: text,
			Segments: []doctext.Segment{{Location: "page 1", Offset: 0, Length: int64(len([]rune(text)))}},
		})
	}
	return docs
}
