package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/index/ingest"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/sources/fileshare"
	"github.com/docvet/docvet/store"
)

// sampleShare is a small file share with invented people in it (see
// tools/gen-sample-share.py). "all:" keeps the hidden file, which the source
// must skip.
//
//go:embed all:sample-share
var sampleShare embed.FS

const (
	demoSource   = "sample-share"
	demoDataType = "hr-documents"
)

// runDemo runs the whole journey on the embedded sample share: a file-share
// source and the core on loopback, data type registration over the push
// API, a pull, extraction in sandboxed workers, change detection (a delete
// and a move), then the core as the full service: an access request with a
// generated key pair, the vetting workbook with scripted reviewer edits,
// encrypted delivery, the subject's mail and portal, decryption on the
// subject's side and the audit log check. It prints every artefact's path.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "working directory for the demo (default: a new temporary directory, kept)")
	inProcess := fl.Bool("in-process", false, "extract in this process instead of sandboxed extract-worker processes")
	verbose := fl.Bool("v", false, "show the services' logs")
	if err := fl.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "docvet-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	d := &demo{dir: *dir, out: stdout, log: logger, inProcess: *inProcess}
	return d.run(ctx)
}

type demo struct {
	dir       string
	out       io.Writer
	log       *slog.Logger
	inProcess bool

	share      *fileshare.Share
	shareDir   string
	sourceURL  string
	coreURL    string
	core       *server.Server
	coreCfg    server.Config
	coreStore  *store.Store
	adminToken string
	ex         ingest.Extractor
	index      *index.Index
	closeIndex func() error
	pipeline   *ingest.Pipeline
	stopHTTP   func() // the first part's HTTP server (Handler only)
	// closers run in reverse order when the demo ends: the service before
	// the extractor it uses, the store after everything writing to it.
	closers []func()

	// The journey (demo_journey.go).
	svcCfg        server.Config
	reviewerToken string
	mailer        *demoMailer
	keyFile       string
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.out, format+"\n", a...) }

func (d *demo) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		for i := len(d.closers) - 1; i >= 0; i-- {
			d.closers[i]()
		}
	}()
	d.shareDir = filepath.Join(d.dir, "share")
	if err := writeSampleShare(d.shareDir); err != nil {
		return err
	}
	d.say("docvet demo — working directory %s", d.dir)
	d.say("")
	d.say("1. Sample share written to %s (invented people; one hidden file; one .pdf that is really a Word file)", d.shareDir)

	if err := d.startSource(ctx, d.shareDir); err != nil {
		return err
	}
	if err := d.startCore(ctx); err != nil {
		return err
	}

	if err := d.registerDataType(ctx); err != nil {
		return err
	}
	if err := d.core.PullNow(ctx, demoSource); err != nil {
		return fmt.Errorf("pull %s: %w", demoSource, err)
	}
	docs, err := d.pulled(ctx)
	if err != nil {
		return err
	}
	d.say("4. The core pulled %d documents from the source into dataset %q.", countLive(docs), "source:"+demoSource)
	mode := "sandboxed extract-worker processes"
	if d.inProcess {
		mode = "this process"
	}
	st, err := d.ingest(ctx)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	d.say("5. Ingestion: each document downloaded from its extract-content URL (only under the source's base),")
	d.say("   extracted in %s and indexed in Bleve; %d extracted, the ledger records:", mode, st.Extracted)
	if err := d.showLedger(ctx); err != nil {
		return err
	}
	d.say("   The index answers identifier and name lookups already:")
	if err := d.lookups(ctx); err != nil {
		return err
	}
	if err := d.changeShare(ctx, d.shareDir); err != nil {
		return err
	}
	if err := d.journey(ctx); err != nil {
		return err
	}
	d.whereNext()
	return nil
}

// writeSampleShare copies the embedded share to dir.
func writeSampleShare(dir string) error {
	return fs.WalkDir(sampleShare, "sample-share", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "sample-share")))
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := sampleShare.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// serveOn serves h on a fresh loopback port and returns its base URL.
func serveOn(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { stopServer(srv) }, nil
}

// stopServer ends one of the demo's HTTP servers. Their clients (the demo
// itself; the core's pullers, ingestion and delivery) have finished when it
// is called, so closing is enough: Shutdown would wait 5 s for a
// connection a client's transport dialled but never used (net/http counts
// new connections as active that long).
func stopServer(srv *http.Server) {
	srv.Close()
}

func (d *demo) startSource(ctx context.Context, shareDir string) error {
	st, err := store.Open(ctx, filepath.Join(d.dir, "source", "state.db"), store.Options{})
	if err != nil {
		return err
	}
	// The public URL must be known before the share builds entities, so
	// listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return err
	}
	d.sourceURL = "http://" + ln.Addr().String()
	share, err := fileshare.New(shareDir, st, fileshare.Options{DataType: demoDataType, PublicURL: d.sourceURL, Logger: d.log})
	if err != nil {
		ln.Close()
		st.Close()
		return err
	}
	d.share = share
	srv := &http.Server{Handler: sources.NewHandler(share, sources.HandlerOptions{Logger: d.log}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	stats, err := share.Rescan(ctx)
	if err != nil {
		srv.Close()
		st.Close()
		return fmt.Errorf("scan sample share: %w", err)
	}
	d.say("2. File-share source listening on %s: scanned %s", d.sourceURL, statsLine(stats))
	d.closers = append(d.closers, func() {
		stopServer(srv)
		st.Close()
	})
	return nil
}

func statsLine(s sources.ScanStats) string {
	return fmt.Sprintf("%d documents (%d read, %d published as new or changed, %d deleted, %d unchanged), %d hidden and %d symlinks skipped",
		s.Documents, s.Read, s.Changed, s.Deleted, s.Unchanged, s.Hidden, s.Symlinks)
}

// shortMIME keeps the table readable: OOXML types are long.
func shortMIME(m string) string {
	return strings.TrimPrefix(m, "application/vnd.openxmlformats-officedocument.")
}

// coreConfig is the core's configuration: the sample share as its one
// source. The full service (startService) adds the portal URL it listens on.
func (d *demo) coreConfig() server.Config {
	return server.Config{
		DataDir: filepath.Join(d.dir, "data"),
		Listen:  "127.0.0.1:0",
		Sources: []server.SourceConfig{{
			Name:     demoSource,
			URL:      d.sourceURL + sources.PublisherPath,
			Interval: time.Hour, // the demo pulls explicitly
		}},
	}
}

// startCore opens the core's store and serves the core's HTTP API; the
// demo drives pulls and ingestion itself until startService hands both to
// the full service.
func (d *demo) startCore(ctx context.Context) error {
	cfg := d.coreConfig()
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, func() { st.Close() })
	d.coreCfg, d.coreStore = cfg, st
	core, err := server.New(st, cfg, d.log)
	if err != nil {
		return err
	}
	d.core = core
	url, stop, err := serveOn(core.Handler())
	if err != nil {
		return err
	}
	d.stopHTTP = sync.OnceFunc(stop)
	d.closers = append(d.closers, d.stopHTTP)
	d.coreURL = url
	d.adminToken, err = server.SignToken(core.Secret(), "docvet-demo", []string{"admin", "push", "read"}, time.Hour, time.Now())
	if err != nil {
		return err
	}
	d.say("3. Core service listening on %s (receivers, publishers and admin API behind bearer tokens)", d.coreURL)
	return nil
}

// call sends a request with the operator's token to the core and decodes
// a JSON answer.
func (d *demo) call(ctx context.Context, method, p string, body any, out any) error {
	var r io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r, ctype = bytes.NewReader(b), "application/json"
	}
	b, err := d.raw(ctx, method, p, d.adminToken, ctype, r)
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// raw sends a request to the core with token (none if empty) and returns
// the body of a 2xx answer.
func (d *demo) raw(ctx context.Context, method, p, token, ctype string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.coreURL+p, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, p, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

func (d *demo) registerDataType(ctx context.Context) error {
	dt := map[string]any{
		"_id":                            demoDataType,
		"gdpr-data-type:data-type-id":    demoDataType,
		"gdpr-data-type:level":           "personal",
		"gdpr-data-type:description":     "HR documents on the sample share",
		"gdpr-data-type:contact":         "privacy@fjordvik.example.com",
		"gdpr-data-type:purpose-id":      []string{"employment"},
		"gdpr-data-type:system-id":       "fileshare",
		"gdpr-data-type:description-en":  "HR documents",
		"gdpr-data-type:description-no":  "HR-dokumenter",
		"gdpr-data-type:unrelated-extra": "kept as is",
	}
	if err := d.call(ctx, http.MethodPost, "/api/receivers/gdpr-data-type-in/entities", []any{dt}, nil); err != nil {
		return fmt.Errorf("register data type: %w", err)
	}
	d.say("   Registered data type %q with a JSON push to /api/receivers/gdpr-data-type-in/entities", demoDataType)
	return nil
}

// pulled reads the source's dataset back from the core's publisher.
func (d *demo) pulled(ctx context.Context) ([]sources.Document, error) {
	var docs []sources.Document
	if err := d.call(ctx, http.MethodGet, "/api/publishers/source:"+demoSource+"/entities", nil, &docs); err != nil {
		return nil, err
	}
	return docs, nil
}

func countLive(docs []sources.Document) int {
	n := 0
	for _, doc := range docs {
		if !doc.Deleted {
			n++
		}
	}
	return n
}

// ingest runs the real ingestion pipeline once over the core's document
// datasets: download under the source's base, extraction (sandboxed
// workers unless inProcess), one Bleve batch, ledger rows.
// The extractor stays for the full service (startService).
func (d *demo) ingest(ctx context.Context) (ingest.Stats, error) {
	if d.pipeline == nil {
		if d.inProcess {
			d.ex = extractor.New(extractor.Options{})
		} else {
			pool, err := extractor.NewPool(extractor.PoolOptions{Size: 2})
			if err != nil {
				return ingest.Stats{}, fmt.Errorf("start extraction workers: %w", err)
			}
			d.closers = append(d.closers, func() { pool.Close() })
			d.ex = pool
		}
		fetch := extractor.NewFetcher(extractor.FetchOptions{})
		datasets, bases := d.coreCfg.IngestDatasets()
		opt := ingest.Options{Datasets: datasets, AllowedBases: bases, Logger: d.log}
		iopt, err := d.coreCfg.IndexOptions() // the same as the full service's: no rebuild there
		if err != nil {
			return ingest.Stats{}, err
		}
		ix, err := ingest.OpenIndex(ctx, d.coreStore, d.indexDir(), iopt, d.ex, fetch, opt)
		if err != nil {
			return ingest.Stats{}, err
		}
		d.closeIndex = sync.OnceValue(ix.Close)
		d.closers = append(d.closers, func() { d.closeIndex() })
		p, err := ingest.New(d.coreStore, ix, d.ex, fetch, opt)
		if err != nil {
			return ingest.Stats{}, err
		}
		d.index, d.pipeline = ix, p
	}
	return d.pipeline.Once(ctx)
}

func (d *demo) indexDir() string { return filepath.Join(d.dir, "data", "index") }

// showLedger prints what was indexed per document, from the ledger.
func (d *demo) showLedger(ctx context.Context) error {
	tw := tabwriter.NewWriter(d.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   document\tstatus\tchars\tsha256\treason")
	err := d.coreStore.LedgerRows(ctx, "", "", func(l store.LedgerRow) error {
		reason := l.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%d\t%.12s…\t%s\n", strings.TrimPrefix(l.EntityID, "fileshare:"), l.Status, l.Chars, l.SHA256, reason)
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// lookups shows what the index already answers: the normalised identifier
// terms and the accent-folded text. (Access requests and the point-in-time
// search built on this are the next step of the pipeline.)
func (d *demo) lookups(ctx context.Context) error {
	snap, err := d.index.Snapshot()
	if err != nil {
		return err
	}
	defer snap.Close()
	phone, _ := identifiers.Normalize(identifiers.KindPhone, "912 34 567", identifiers.Options{})
	emailQ := query.NewTermQuery(identifiers.Term(identifiers.KindEmail, "kari.nordmann@example.no"))
	emailQ.SetField(index.FieldIdentifiers)
	splitQ := query.NewTermQuery(identifiers.Term(identifiers.KindEmail, "bjorn.odegard@example.com"))
	splitQ.SetField(index.FieldIdentifiers)
	phoneQ := query.NewTermQuery(identifiers.Term(identifiers.KindPhone, phone))
	phoneQ.SetField(index.FieldIdentifiers)
	nameQ := query.NewMatchPhraseQuery("bjorn odegard")
	nameQ.SetField(index.FieldTextFolded)
	nameQ.Analyzer = index.AnalyzerFolded
	for _, l := range []struct {
		what string
		q    query.Query
	}{
		{"e-mail kari.nordmann@example.no (in any letter case)", emailQ},
		{"e-mail bjorn.odegard@example.com (split across runs in the .docx)", splitQ},
		{"phone 912 34 567 (= " + phone + ", any written form)", phoneQ},
		{`name "bjorn odegard" (accents folded: Bjørn Ødegård)`, nameQ},
	} {
		var files []string
		err := snap.Each(ctx, l.q, func(m index.Match) error {
			doc, err := snap.Get(m.ID)
			if err != nil {
				return err
			}
			files = append(files, path.Base(doc.Filename))
			return nil
		})
		if err != nil {
			return err
		}
		slices.Sort(files)
		d.say("   %-72s -> %s", l.what, strings.Join(files, ", "))
	}
	return nil
}

// changeShare deletes one file and moves another, rescans and pulls again,
// showing that deletions and moves reach the core as tombstones.
func (d *demo) changeShare(ctx context.Context, shareDir string) error {
	before, err := d.pulled(ctx)
	if err != nil {
		return err
	}
	var since int64
	for _, doc := range before {
		since = max(since, doc.Seq)
	}
	if err := os.Remove(filepath.Join(shareDir, "support", "notes.txt")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(shareDir, "marketing", "archive"), 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(shareDir, "marketing", "newsletter.html"), filepath.Join(shareDir, "marketing", "archive", "newsletter.html")); err != nil {
		return err
	}
	stats, err := d.share.Rescan(ctx)
	if err != nil {
		return err
	}
	if err := d.core.PullNow(ctx, demoSource); err != nil {
		return err
	}
	var changes []sources.Document
	if err := d.call(ctx, http.MethodGet, fmt.Sprintf("/api/publishers/source:%s/entities?since=%d", demoSource, since), nil, &changes); err != nil {
		return err
	}
	d.say("6. Deleted support/notes.txt and moved marketing/newsletter.html into marketing/archive/; rescan: %s", statsLine(stats))
	d.say("   The core received %d changes since _updated=%d:", len(changes), since)
	for _, c := range changes {
		what := "new"
		if c.Deleted {
			what = "deleted"
		}
		d.say("     %-8s %s", what, c.ID)
	}
	if len(changes) != 3 {
		return errors.New("demo: expected one delete and one move (delete + new) to be published")
	}
	st, err := d.ingest(ctx)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	n, err := d.index.Count()
	if err != nil {
		return err
	}
	d.say("7. Ingestion again: %d removed from index and ledger, %d extracted, %d unchanged skipped; the index now holds %d documents.",
		st.Deleted, st.Extracted, st.Skipped, n)
	return nil
}
