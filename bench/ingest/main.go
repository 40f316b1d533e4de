// Command bench-ingest measures the ingestion pipeline end to end: a
// generated share of text documents (~2 KB each) published by the
// file-share source (sources/fileshare + sources.NewHandler on loopback),
// pulled into the core store, then downloaded, extracted in sandboxed
// workers (a built docvet binary's extract-worker) and indexed by
// index/ingest. It reports docs/s, CPU, peak RSS and the time split between
// extraction and indexing, and runs Recoll's recollindex over the same
// folder when it is installed.
//
//	go build -o /tmp/docvet ./cmd/docvet
//	go run ./bench/ingest -docvet /tmp/docvet -n 20000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/docvet/docvet/bench/internal/benchkit"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/index/ingest"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/sources/fileshare"
	"github.com/docvet/docvet/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

const dataset = "source:bench"

func run(ctx context.Context, args []string) error {
	// As docvet serve and docvet index run the pipeline.
	ingest.TuneGC(os.Getenv)
	fs := flag.NewFlagSet("bench-ingest", flag.ContinueOnError)
	n := fs.Int("n", 20000, "documents in the generated share")
	docvet := fs.String("docvet", "", "path of a built docvet binary (its extract-worker runs the extractions; required)")
	workers := fs.Int("workers", runtime.NumCPU(), "extraction worker processes")
	batch := fs.Int("batch", 256, "documents per index batch")
	batchBytes := fs.Int64("batch-bytes", 0, "bytes per index batch (listed sizes, and text per index.Apply; default ingest.DefaultBatchBytes)")
	dir := fs.String("dir", "", "work directory (default: a new temp dir, removed after)")
	recoll := fs.Bool("recoll", true, "also run recollindex over the share when installed")
	concurrency := fs.Int("concurrency", 0, "documents downloaded+extracted at once (default 2*workers)")
	overlap := fs.Bool("overlap", false, "run the pipeline during the pull, kicked after every pulled page (as docvet serve does)")
	live := fs.Bool("live", false, "scan, pull and ingest at once, as a running source and docvet serve do: the scan commits every 500 files, the puller pulls what is there, the pipeline is kicked after every page (implies -overlap)")
	scorchCfg := fs.String("scorch", "", `extra scorch configuration as JSON, e.g. {"scorchPersisterOptions":{"NumPersisterWorkers":2}}`)
	recollQuery := fs.String("recoll-query", "kontrakt", "word recollq must find to prove the Recoll index searchable")
	shareDir := fs.String("share", "", "index this existing folder (read only) instead of generating -n files")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the pull+ingest phases to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile taken at the largest heap seen (sampled every 100 ms) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *concurrency <= 0 {
		*concurrency = 2 * *workers
	}
	if *docvet == "" {
		return errors.New("-docvet is required (go build -o /tmp/docvet ./cmd/docvet)")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "bench-ingest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	share := filepath.Join(*dir, "share")
	if *shareDir != "" {
		share = *shareDir
		fmt.Printf("share: existing folder, %.1f MB; GOMAXPROCS=%d workers=%d batch=%d\n",
			float64(benchkit.DirSize(share))/1e6, runtime.GOMAXPROCS(0), *workers, *batch)
	} else {
		t0 := time.Now()
		bytes, err := generate(share, *n)
		if err != nil {
			return err
		}
		fmt.Printf("share: %d files, %.1f MB text, generated in %s; GOMAXPROCS=%d workers=%d batch=%d\n",
			*n, float64(bytes)/1e6, time.Since(t0).Round(time.Millisecond), runtime.GOMAXPROCS(0), *workers, *batch)
	}
	fmt.Printf("load average at start: %s\n", benchkit.LoadAvg())

	// The file-share source, on loopback.
	srcStore, err := store.Open(ctx, filepath.Join(*dir, "source.db"), store.Options{})
	if err != nil {
		return err
	}
	defer srcStore.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srcURL := "http://" + ln.Addr().String()
	quiet := slog.New(slog.DiscardHandler)
	sh, err := fileshare.New(share, srcStore, fileshare.Options{DataType: "bench", PublicURL: srcURL, Logger: quiet})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: sources.NewHandler(sh, sources.HandlerOptions{Logger: quiet}), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	if *live {
		*overlap = true
	}
	total := time.Now()
	if !*live {
		ph := phase("scan")
		ss, err := sh.Rescan(ctx)
		if err != nil {
			return err
		}
		ph.done(fmt.Sprintf("%d documents", ss.Documents))
		if *shareDir != "" {
			*n = int(ss.Documents)
		}
	}

	core, err := store.Open(ctx, filepath.Join(*dir, "data", "docvet.db"), store.Options{})
	if err != nil {
		return err
	}
	defer core.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if *memprofile != "" {
		stop := watchHeap(*memprofile)
		defer stop()
	}

	// The pipeline.
	pool, err := extractor.NewPool(extractor.PoolOptions{Size: *workers, Command: []string{*docvet, "extract-worker"}})
	if err != nil {
		return err
	}
	fetch := extractor.NewFetcher(extractor.FetchOptions{})
	opt := ingest.Options{
		Datasets:     []string{dataset},
		AllowedBases: func(string) []string { return []string{srcURL + "/content/"} },
		BatchSize:    *batch,
		BatchBytes:   *batchBytes,
		Concurrency:  *concurrency,
		PollInterval: time.Hour, // passes are started by Kick (overlap) or Once
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	iopt := index.Options{Identifiers: identifiers.Options{DefaultRegion: "NO"}}
	if *scorchCfg != "" {
		if err := json.Unmarshal([]byte(*scorchCfg), &iopt.Scorch); err != nil {
			return fmt.Errorf("-scorch: %w", err)
		}
	}
	idxDir := filepath.Join(*dir, "data", "index")
	idx, err := ingest.OpenIndex(ctx, core, idxDir, iopt, pool, fetch, opt)
	if err != nil {
		return err
	}
	p, err := ingest.New(core, idx, pool, fetch, opt)
	if err != nil {
		return err
	}

	// Pull into the core store, as docvet serve's puller does; with
	// -overlap the pipeline runs meanwhile, kicked after every page.
	var runDone chan error
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	afterPage := func() {}
	if *overlap {
		runDone = make(chan error, 1)
		go func() { runDone <- p.Run(runCtx) }()
		afterPage = p.Kick
	}
	var since json.RawMessage
	var pulled int
	if *live {
		// The scan runs now; the puller takes what it has committed so far
		// (docvet serve polls; here every 50 ms) until one pull after the
		// scan's end has taken the rest.
		total = time.Now()
		ph := phase("scan+pull (live)")
		scanned := make(chan error, 1)
		go func() {
			ss, err := sh.Rescan(ctx)
			if *shareDir != "" {
				*n = int(ss.Documents)
			}
			scanned <- err
		}()
		for finished := false; !finished; {
			select {
			case err := <-scanned:
				if err != nil {
					return err
				}
				finished = true
			default:
			}
			k, err := pull(ctx, core, srcURL+sources.PublisherPath, &since, afterPage)
			if err != nil {
				return err
			}
			pulled += k
			if k == 0 && !finished {
				time.Sleep(50 * time.Millisecond)
			}
		}
		ph.done(fmt.Sprintf("%d documents scanned and pulled", pulled))
	} else {
		ph := phase("pull")
		pulled, err = pull(ctx, core, srcURL+sources.PublisherPath, &since, afterPage)
		if err != nil {
			return err
		}
		ph.done(fmt.Sprintf("%d entities", pulled))
	}

	ph := phase("ingest")
	var st ingest.Stats
	if *overlap {
		// Wait for the running pipeline to catch up.
		for t := p.Totals(); t.Extracted+t.FetchFailed+t.Invalid < *n; t = p.Totals() {
			time.Sleep(10 * time.Millisecond)
		}
		stopRun()
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		st = p.Totals()
	} else {
		st, err = p.Once(ctx)
		if err != nil {
			return err
		}
	}
	cnt, _ := idx.Count()
	if err := idx.Close(); err != nil {
		return err
	}
	pool.Close() // workers exit: their CPU shows in RUSAGE_CHILDREN
	wall := ph.done(fmt.Sprintf("%d indexed (%d extracted, %d fetch-failed)", cnt, st.Extracted, st.FetchFailed))
	if *shareDir != "" {
		fmt.Printf("extraction outcomes: %d extracted (any status), %d fetch-failed, %d invalid\n", st.Extracted, st.FetchFailed, st.Invalid)
		if cnt != uint64(*n) {
			return fmt.Errorf("indexed %d, want %d", cnt, *n)
		}
	} else if cnt != uint64(*n) || st.Extracted != *n {
		return fmt.Errorf("indexed %d, extracted %d, want %d", cnt, st.Extracted, *n)
	}
	fmt.Printf("ingest: %.0f docs/s wall; extract (download+worker, summed over %d concurrent) %.1f s = %.1f s of worker-slot time per worker; index.Apply %.1f s (%.0f%% of wall); ledger commits %.2f s; %d batches\n",
		float64(*n)/wall.Seconds(), opt.Concurrency, st.ExtractTime.Seconds(), st.ExtractTime.Seconds()/float64(opt.Concurrency),
		st.IndexTime.Seconds(), 100*st.IndexTime.Seconds()/wall.Seconds(), st.CommitTime.Seconds(), st.Batches)
	fmt.Printf("ingest: index.Apply alone %.0f docs/s; index %.0f MB\n", float64(*n)/st.IndexTime.Seconds(), float64(benchkit.DirSize(idxDir))/1e6)
	fmt.Printf("total to searchable (scan + pull + ingest): %s\n", time.Since(total).Round(time.Millisecond))
	fmt.Printf("peak RSS: bench process (source + core + pipeline) %.0f MB; CPU: process %.1f s, extract workers %.1f s\n",
		benchkit.PeakRSSMB(), benchkit.CPU(syscall.RUSAGE_SELF).Seconds(), benchkit.CPU(syscall.RUSAGE_CHILDREN).Seconds())

	if *recoll {
		if err := runRecoll(ctx, *dir, share, *recollQuery); err != nil {
			fmt.Printf("recoll: %v\n", err)
		}
	}
	return nil
}

// watchHeap writes a heap profile to path whenever the heap in use is the
// largest seen so far, until stop is called.
func watchHeap(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse <= peak+peak/20 {
				continue
			}
			peak = ms.HeapInuse
			f, err := os.Create(path)
			if err != nil {
				return
			}
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
			fmt.Fprintf(os.Stderr, "heap profile at %.0f MB in use\n", float64(peak)/1e6)
		}
	}()
	return func() { close(done); <-finished }
}

type phaseT struct {
	name string
	t0   time.Time
}

func phase(name string) *phaseT { return &phaseT{name, time.Now()} }

func (p *phaseT) done(what string) time.Duration {
	d := time.Since(p.t0)
	fmt.Printf("phase %-7s %8.2f s  %s\n", p.name, d.Seconds(), what)
	return d
}

// pull copies the source's entities after *since into the core store in
// pages, advancing *since.
func pull(ctx context.Context, st *store.Store, url string, since *json.RawMessage, afterPage func()) (int, error) {
	c := &sources.PullClient{URL: url}
	total := 0
	for {
		var page []sources.PulledEntity
		pp, err := c.Pull(ctx, *since, 10000, func(e sources.PulledEntity) error {
			page = append(page, e)
			return nil
		})
		if err != nil {
			return total, err
		}
		if pp.Count == 0 {
			return total, nil
		}
		err = st.Update(ctx, func(tx *store.Tx) error {
			for _, e := range page {
				var id struct {
					ID      string `json:"_id"`
					Deleted bool   `json:"_deleted"`
				}
				if err := json.Unmarshal(e.Raw, &id); err != nil {
					return err
				}
				if _, err := tx.Put(dataset, store.Write{ID: id.ID, Body: e.Raw, Deleted: id.Deleted}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += pp.Count
		*since = pp.Last
		afterPage()
	}
}

// runRecoll indexes the share with recollindex (text files, default
// configuration otherwise) and checks the result is searchable.
func runRecoll(ctx context.Context, dir, share, query string) error {
	bin, err := exec.LookPath("recollindex")
	if err != nil {
		return errors.New("recollindex not installed (apt-get install recollcmd)")
	}
	conf := filepath.Join(dir, "recoll")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(conf, "recoll.conf"), []byte("topdirs = "+share+"\n"), 0o600); err != nil {
		return err
	}
	c0 := benchkit.CPU(syscall.RUSAGE_CHILDREN)
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("recollindex: %v: %s", err, tail(out))
	}
	wall := time.Since(t0)
	out, err := exec.CommandContext(ctx, "recollq", "-c", conf, "-n", "1", "-b", query).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "file://") {
		return fmt.Errorf("recollq found nothing: %v: %s", err, tail(out))
	}
	fmt.Printf("recoll: recollindex %.2f s wall, %.1f s CPU (children); searchable (recollq found hits); xapiandb %.0f MB\n",
		wall.Seconds(), (benchkit.CPU(syscall.RUSAGE_CHILDREN) - c0).Seconds(), float64(benchkit.DirSize(filepath.Join(conf, "xapiandb")))/1e6)
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[len(s)-300:]
	}
	return s
}

// generate writes n text files of about 2 KB (the vocabulary of
// bench/index: Norwegian/English words with accents, now and then an
// e-mail, a phone number, a date or an amount), 1,000 per directory.
func generate(root string, n int) (int64, error) {
	var total int64
	var sb strings.Builder
	for i := range n {
		benchkit.Text(&sb, i, benchkit.TextOptions{SentenceEnd: ".\n"})
		d := filepath.Join(root, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return 0, err
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%07d.txt", i)), []byte(sb.String()), 0o644); err != nil {
			return 0, err
		}
		total += int64(sb.Len())
	}
	return total, nil
}
