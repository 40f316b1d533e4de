package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/ingest"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// indexOptions are the index options of cfg.
func indexOptions(cfg server.Config) (index.Options, error) {
	o, err := cfg.IndexOptions()
	if err != nil {
		return o, fmt.Errorf("config: %w", err)
	}
	return o, nil
}

func indexDir(cfg server.Config) string { return cfg.IndexDir() }

// poolOptions are the extraction worker pool options of cfg; workers > 0
// overrides index.workers.
func poolOptions(cfg server.Config, workers int) extractor.PoolOptions {
	o := extractor.PoolOptions{
		Size:        cfg.Index.Workers,
		MemoryLimit: int64(cfg.Index.WorkerMemoryLimit),
		Timeout:     cfg.Index.DocumentTimeout,
	}
	if workers > 0 {
		o.Size = workers
	}
	return o
}

// indexFlags are the flags index, reindex and status share.
type indexFlags struct {
	fs                          *flag.FlagSet
	configPath, dataDir, listen *string
	logLevel                    *string
	workers, batch              *int
}

func newIndexFlags(name, usage string, stderr io.Writer, pipeline bool) *indexFlags {
	fs := flag.NewFlagSet("docvet "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: docvet %s [flags]\n\n%s\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	f := &indexFlags{fs: fs}
	f.configPath = fs.String("config", "", "YAML configuration file (see docvet.example.yaml; env DOCVET_CONFIG)")
	f.dataDir = fs.String("data-dir", "", "data directory (default ./docvet-data; env DOCVET_DATA_DIR)")
	f.listen = fs.String("listen", "", "address of a running docvet serve (default from the configuration)")
	f.logLevel = fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if pipeline {
		f.workers = fs.Int("workers", 0, "extraction worker processes (default index.workers of the configuration)")
		f.batch = fs.Int("batch", 0, "documents per index batch (default index.batch_size of the configuration)")
	}
	return f
}

func (f *indexFlags) parse(args []string, stderr io.Writer) (server.Config, *slog.Logger, error) {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return server.Config{}, nil, err
		}
		return server.Config{}, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.fs.NArg() > 0 {
		return server.Config{}, nil, fmt.Errorf("%w: unexpected argument %q", errUsage, f.fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return server.Config{}, nil, fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	cfg, err := serveConfig(f.fs, *f.configPath, *f.dataDir, *f.listen)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("config: %w", err)
	}
	return cfg, slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})), nil
}

// openStoreForIndex opens the store, explaining the lock error: docvet
// serve ingests continuously and holds the store.
func openStoreForIndex(ctx context.Context, cfg server.Config) (*store.Store, error) {
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w (docvet serve runs the pipeline itself; stop it to run this command)", err)
	}
	return st, err
}

// pipelineParts builds the extraction pool, fetcher and options of cfg.
func pipelineParts(cfg server.Config, f *indexFlags, log *slog.Logger) (*extractor.Pool, *extractor.Fetcher, ingest.Options, error) {
	if *f.workers < 0 || *f.batch < 0 {
		return nil, nil, ingest.Options{}, fmt.Errorf("%w: --workers and --batch must not be negative", errUsage)
	}
	pool, err := extractor.NewPool(poolOptions(cfg, *f.workers))
	if err != nil {
		return nil, nil, ingest.Options{}, err
	}
	opt := cfg.PipelineOptions()
	opt.Logger = log
	if *f.batch > 0 {
		opt.BatchSize = *f.batch
	}
	if *f.workers > 0 && cfg.Index.Concurrency == 0 {
		opt.Concurrency = 2 * *f.workers
	}
	return pool, extractor.NewFetcher(extractor.FetchOptions{}), opt, nil
}

// indexRun is what index and reindex both set up: config, store, worker
// pool, fetcher, pipeline and index options, and the progress line.
type indexRun struct {
	cfg   server.Config
	st    *store.Store
	pool  *extractor.Pool
	fetch *extractor.Fetcher
	opt   ingest.Options
	iopt  index.Options
	pr    *progress
}

func (f *indexFlags) open(ctx context.Context, args []string, stderr io.Writer) (*indexRun, error) {
	cfg, log, err := f.parse(args, stderr)
	if err != nil {
		return nil, err
	}
	ingest.TuneGC(os.Getenv)
	iopt, err := indexOptions(cfg)
	if err != nil {
		return nil, err
	}
	st, err := openStoreForIndex(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pool, fetch, opt, err := pipelineParts(cfg, f, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	pr := newProgress(stderr)
	opt.Progress = pr.update
	return &indexRun{cfg: cfg, st: st, pool: pool, fetch: fetch, opt: opt, iopt: iopt, pr: pr}, nil
}

func (r *indexRun) close() {
	r.pool.Close()
	r.st.Close()
}

// runIndex ingests everything pending once, with a progress line.
func runIndex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newIndexFlags("index", `Runs the ingestion pipeline once: every document entity stored since the last
run is downloaded from its source, extracted in sandboxed workers and indexed;
failed downloads whose backoff has passed are retried. docvet serve does the
same continuously: stop it first. A progress line goes to stderr, a summary to
stdout. An index that cannot be opened is rebuilt from the sources.
`, stderr, true)
	r, err := f.open(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer r.close()
	cfg, st, pool, fetch, opt, iopt, pr := r.cfg, r.st, r.pool, r.fetch, r.opt, r.iopt, r.pr
	idx, err := ingest.OpenIndex(ctx, st, indexDir(cfg), iopt, pool, fetch, opt)
	if err != nil {
		return indexErr(err)
	}
	defer idx.Close()
	p, err := ingest.New(st, idx, pool, fetch, opt)
	if err != nil {
		return err
	}
	start := time.Now()
	stats, err := p.Once(ctx)
	pr.finish()
	printStats(stdout, stats, time.Since(start))
	return err
}

// runReindex rebuilds the index from the sources into a new directory and
// swaps it in.
func runReindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newIndexFlags("reindex", `Rebuilds the index from the sources: every live document is downloaded and
extracted again into a new index directory, which then replaces the current
one (rename). The ledger is rewritten as it goes. docvet serve must be stopped.
`, stderr, true)
	r, err := f.open(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer r.close()
	cfg, st, pool, fetch, opt, iopt, pr := r.cfg, r.st, r.pool, r.fetch, r.opt, r.iopt, r.pr
	// Refuse while another process holds the index, before any work.
	if idx, err := index.Open(indexDir(cfg), iopt); errors.Is(err, index.ErrInUse) {
		return indexErr(err)
	} else if err == nil {
		idx.Close()
	}
	start := time.Now()
	err = ingest.Rebuild(ctx, st, indexDir(cfg), iopt, pool, fetch, opt)
	pr.finish()
	if err != nil {
		return indexErr(err)
	}
	fmt.Fprintf(stdout, "index rebuilt in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func indexErr(err error) error {
	if errors.Is(err, index.ErrInUse) {
		return fmt.Errorf("%w (is docvet serve running?)", err)
	}
	return err
}

func printStats(w io.Writer, s ingest.Stats, d time.Duration) {
	rate := 0.0
	if d > 0 {
		rate = float64(s.Extracted+s.Reused+s.Deleted+s.FetchFailed+s.Invalid) / d.Seconds()
	}
	fmt.Fprintf(w, "entities %d: extracted %d, unchanged bytes %d, already indexed %d, deleted %d, fetch failed %d, invalid %d, retried %d; %.1f docs/s in %s\n",
		s.Entities, s.Extracted, s.Reused, s.Skipped, s.Deleted, s.FetchFailed, s.Invalid, s.Retried, rate, d.Round(time.Millisecond))
}

// progress draws one status line on stderr: rewritten in place on a
// terminal, a new line every 5 seconds otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty}
}

func (p *progress) update(pr ingest.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := time.Second
	if !p.tty {
		every = 5 * time.Second
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("%s: %d documents done, %d pending, %.1f docs/s", pr.Dataset, pr.Done, pr.Pending, pr.Rate)
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

// runStatus prints the ingestion status as GET /api/status reports it.
// With docvet serve running (it holds the store), it asks the service,
// with a short-lived read token signed by the local secret; otherwise it
// reads the store directly and prints the same "datasets" and "index"
// sections (the live-only sections, sources and rates, are absent).
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newIndexFlags("status", `Prints the ingestion status (documents per source and per extraction status,
queue length, docs/s) as JSON, the same as GET /api/status. With docvet serve
running it asks the service at the configured listen address; otherwise it
reads the data directory.
`, stderr, false)
	cfg, _, err := f.parse(args, stderr)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return statusFromAPI(ctx, cfg, stdout)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	ds, _ := cfg.IngestDatasets()
	is, err := ingest.ReadStatus(ctx, st, ds)
	if err != nil {
		return err
	}
	datasets, err := st.Datasets(ctx)
	if err != nil {
		return err
	}
	out := map[string]any{"datasets": datasets, "index": is, "service": "not running"}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

func statusFromAPI(ctx context.Context, cfg server.Config, stdout io.Writer) error {
	body, err := localAPIGet(ctx, cfg, server.ScopeRead, "/api/status")
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("GET /api/status: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// localAPIGet asks the docvet serve that holds the data directory's store,
// at its configured listen address, with a one-minute token of scope
// signed by the local secret, and returns the 200 body.
func localAPIGet(ctx context.Context, cfg server.Config, scope, path string) ([]byte, error) {
	if _, err := os.Stat(cfg.Auth.SecretFile); err != nil {
		return nil, fmt.Errorf("docvet serve is running; reading its secret to ask it: %w", err)
	}
	secret, err := server.LoadSecret(cfg.Auth.SecretFile)
	if err != nil {
		return nil, err
	}
	tok, err := server.SignToken(secret, "docvet-cli", []string{scope}, time.Minute, time.Now())
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("docvet serve holds the store but does not answer at %s: %w", cfg.Listen, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
