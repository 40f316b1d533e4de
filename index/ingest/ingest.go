package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/store"
	"golang.org/x/sync/errgroup"
)

// Extractor extracts the text of one document (extractor.Pool in
// production, extractor.Extractor in tests and benchmarks).
type Extractor interface {
	Extract(ctx context.Context, r io.Reader, hint extractor.Hint) (extractor.Result, error)
}

// GCPercent is the Go GC target docvet serve, index and reindex run the
// pipeline with when GOGC is not set (TuneGC): indexing allocates heavily
// and briefly, and at the default 100 the collector took ~15% of the CPU.
// Measured on 100k documents: 55.7 -> 52.5 s to searchable, peak RSS
// 279 -> 309 MB (BENCHMARKS.md).
const GCPercent = 200

// TuneGC sets GCPercent unless the environment sets GOGC. Extraction
// workers are separate processes with their own setting.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}

// Fetcher downloads a document's bytes if rawURL lies under allowedBase
// (extractor.Fetcher).
type Fetcher interface {
	Fetch(ctx context.Context, rawURL, allowedBase string) (io.ReadCloser, error)
}

var (
	_ Extractor = (*extractor.Pool)(nil)
	_ Extractor = (*extractor.Extractor)(nil)
	_ Fetcher   = (*extractor.Fetcher)(nil)
)

// Ledger statuses the pipeline writes besides the extraction statuses of
// doctext.Status.
const (
	// StatusFetchFailed: the bytes could not be downloaded (or differed in
	// size from the listing); retried with backoff.
	StatusFetchFailed = "fetch-failed"
	// StatusInvalid: the stored entity is not a valid gdpr-document.
	StatusInvalid = "invalid"
)

// Options tune a Pipeline. Zero values are replaced by defaults.
type Options struct {
	// Datasets are the document datasets to follow, processed in this order.
	Datasets []string
	// AllowedBases returns the content bases a dataset's extract-content
	// URLs may point under (a source's content_base; push.content_bases).
	// nil or an empty result: every download of that dataset is refused
	// and recorded as fetch-failed.
	AllowedBases func(dataset string) []string
	// BatchSize is the largest number of entities per index batch and
	// ledger transaction (default 256).
	BatchSize int
	// BatchBytes bounds a batch by bytes as well (default 4 MiB): a batch
	// ends once the listed sizes (gdpr-document:filesize) of its documents
	// reach it, and its extracted text goes to the index in index.Apply
	// calls of at most about this much text each (text can outgrow the
	// file: compressed formats), so the memory a batch holds (downloads,
	// texts, Bleve's in-memory segment) does not grow with the share's
	// largest files. A single larger document still forms a batch alone.
	BatchBytes int64
	// Concurrency bounds the documents downloaded and extracted at once
	// (default 2*GOMAXPROCS; the extractor pool bounds the extractions).
	Concurrency int
	// PollInterval is how often Run looks for new entities (default 5s).
	PollInterval time.Duration
	// RetryMin and RetryMax bound the backoff of failed downloads: the
	// n-th consecutive failure waits RetryMin*2^(n-1), at most RetryMax
	// (defaults 30s and 1h).
	RetryMin, RetryMax time.Duration
	// ReuseMaxBytes is the largest download buffered to compare its hash
	// with the indexed one before extracting (default 32 MiB); larger
	// documents are always re-extracted when their entity changed.
	ReuseMaxBytes int64
	// ExtractorVersion is recorded in the ledger (default extractor.Version).
	ExtractorVersion string
	// Logger receives counts and dataset names only (default: discard).
	Logger *slog.Logger
	// Progress, if set, is called after every committed batch.
	Progress func(Progress)
	// now is the clock (tests).
	now func() time.Time
	// partBytes bounds the text of one index.Apply call (default
	// BatchBytes; tests make it smaller to split batches into parts).
	partBytes int64
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.partBytes <= 0 {
		o.partBytes = o.BatchBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 30 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(time.Hour, o.RetryMin)
	}
	if o.ReuseMaxBytes <= 0 {
		o.ReuseMaxBytes = 32 << 20
	}
	if o.ExtractorVersion == "" {
		o.ExtractorVersion = extractor.Version
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// DefaultBatchBytes is Options.BatchBytes' default.
const DefaultBatchBytes = 4 << 20

// Stats counts what one pass (Once) did.
type Stats struct {
	Entities    int `json:"entities"`     // entity versions read (stream and retries)
	Extracted   int `json:"extracted"`    // downloaded, extracted and indexed
	Reused      int `json:"reused"`       // same bytes as indexed: text reused, properties updated
	Skipped     int `json:"skipped"`      // this version is already in the ledger
	Deleted     int `json:"deleted"`      // removed from index and ledger
	FetchFailed int `json:"fetch_failed"` // recorded as fetch-failed (will be retried)
	Invalid     int `json:"invalid"`      // not a valid gdpr-document
	Retried     int `json:"retried"`      // retries of earlier failures attempted
	Batches     int `json:"batches"`
	// Time spent, summed over documents (download+extract run
	// concurrently, so ExtractTime can exceed the wall time) and serially
	// (IndexTime: index.Apply; CommitTime: the ledger transaction).
	ExtractTime time.Duration `json:"extract_ns"`
	IndexTime   time.Duration `json:"index_ns"`
	CommitTime  time.Duration `json:"commit_ns"`
}

func (s *Stats) add(o Stats) {
	s.Entities += o.Entities
	s.Extracted += o.Extracted
	s.Reused += o.Reused
	s.Skipped += o.Skipped
	s.Deleted += o.Deleted
	s.FetchFailed += o.FetchFailed
	s.Invalid += o.Invalid
	s.Retried += o.Retried
	s.Batches += o.Batches
	s.ExtractTime += o.ExtractTime
	s.IndexTime += o.IndexTime
	s.CommitTime += o.CommitTime
}

// Progress is reported after each committed batch.
type Progress struct {
	Dataset string
	Done    int64   // entity versions committed in this pass
	Pending int64   // entity versions of the dataset still to process
	Rate    float64 // documents per second over the last minute
}

// Pipeline ingests document datasets into the index. Run or Once may be
// called from one goroutine at a time (a second concurrent pass waits);
// Snapshot is safe to call concurrently.
type Pipeline struct {
	st    *store.Store
	idx   *index.Index
	ex    Extractor
	fetch Fetcher
	opt   Options

	statePrefix string // store state key prefix for positions
	rebuild     bool   // ignore the ledger: process every live entity

	passMu sync.Mutex // one pass at a time
	kick   chan struct{}

	mu      sync.Mutex
	pending map[string]int64 // entity versions after the position, per dataset
	rate    rateWindow
	total   Stats // committed since New
	lastErr string
	lastRun time.Time
	running bool
}

// DefaultStatePrefix prefixes the store state keys that hold the
// pipeline's per-dataset positions ("ingest:pos:<dataset>").
const DefaultStatePrefix = "ingest:pos:"

// New returns a Pipeline. It starts nothing: call Run or Once.
func New(st *store.Store, idx *index.Index, ex Extractor, fetch Fetcher, opt Options) (*Pipeline, error) {
	if st == nil || idx == nil || ex == nil || fetch == nil {
		return nil, errors.New("ingest: nil store, index, extractor or fetcher")
	}
	return &Pipeline{st: st, idx: idx, ex: ex, fetch: fetch, opt: opt.withDefaults(),
		statePrefix: DefaultStatePrefix, kick: make(chan struct{}, 1), pending: map[string]int64{}}, nil
}

// Kick makes a waiting Run start its next pass now (e.g. after a pull
// stored new entities). It never blocks.
func (p *Pipeline) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run runs passes until ctx ends: one at once, then one per PollInterval
// (or Kick). A failing pass is logged and retried at the next interval.
// When ctx ends, batches already extracted are still committed; the
// extractions in flight are abandoned (and redone on the next start).
func (p *Pipeline) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		st, err := p.Once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.opt.Logger.Error("ingest pass failed", "err", err)
		} else if st.Entities > 0 {
			p.opt.Logger.Info("ingest pass", "entities", st.Entities, "extracted", st.Extracted, "reused", st.Reused,
				"skipped", st.Skipped, "deleted", st.Deleted, "fetch_failed", st.FetchFailed, "invalid", st.Invalid,
				"retried", st.Retried)
		}
		t.Reset(p.opt.PollInterval)
	}
}

// Once processes everything pending in every dataset, then the failed
// downloads whose backoff has passed, and returns what it did.
func (p *Pipeline) Once(ctx context.Context) (Stats, error) {
	p.passMu.Lock()
	defer p.passMu.Unlock()
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	var total Stats
	var errs []error
	for _, ds := range p.opt.Datasets {
		st, err := p.stream(ctx, ds)
		total.add(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingest %s: %w", ds, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if p.rebuild {
			continue // a rebuild has no history to retry
		}
		st, err = p.retries(ctx, ds)
		total.add(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingest %s retries: %w", ds, err))
		}
	}
	err := errors.Join(errs...)
	p.mu.Lock()
	p.running = false
	p.lastRun = p.opt.now()
	p.lastErr = ""
	if err != nil {
		p.lastErr = "last pass failed" // details are in the log
	}
	p.mu.Unlock()
	return total, err
}

func (p *Pipeline) posKey(ds string) string { return p.statePrefix + ds }

// Position returns the sequence up to which dataset ds was ingested.
func (p *Pipeline) Position(ctx context.Context, ds string) (int64, error) {
	return readPosition(ctx, p.st, p.posKey(ds))
}

func readPosition(ctx context.Context, st *store.Store, key string) (int64, error) {
	v, err := st.State(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read position: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read position: bad value")
	}
	return n, nil
}

// stream processes the entities of ds after the saved position: a
// producer reads and prepares batches (download + extraction) while the
// committer applies the previous one, so extraction and indexing overlap.
func (p *Pipeline) stream(ctx context.Context, ds string) (Stats, error) {
	pos, err := p.Position(ctx, ds)
	if err != nil {
		return Stats{}, err
	}
	pending, err := countAfter(ctx, p.st, ds, pos)
	if err != nil {
		return Stats{}, err
	}
	p.setPending(ds, pending)

	var total Stats
	batches := make(chan *batch, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		next := pos
		for {
			items, err := p.read(gctx, ds, next)
			if err != nil || len(items) == 0 {
				return err
			}
			b, err := p.prepare(gctx, ds, items, nil)
			if err != nil {
				return err
			}
			b.position = items[len(items)-1].e.Seq
			next = b.position
			select {
			case batches <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})
	g.Go(func() error {
		var done int64
		for b := range batches {
			if err := p.commit(ctx, ds, b); err != nil {
				return err
			}
			total.add(b.stats)
			done += int64(len(b.slots))
			p.addPending(ds, -int64(len(b.slots)))
			if p.opt.Progress != nil {
				p.opt.Progress(Progress{Dataset: ds, Done: done, Pending: p.pendingOf(ds), Rate: p.Rate()})
			}
		}
		return nil
	})
	err = g.Wait()
	if err == nil {
		p.setPending(ds, 0)
	}
	return total, err
}

// errBatchFull stops read's scan once the batch is full.
var errBatchFull = errors.New("batch full")

// read returns the next batch of entities after seq, parsed: at most
// BatchSize of them, and no more once their listed sizes reach BatchBytes.
func (p *Pipeline) read(ctx context.Context, ds string, after int64) ([]item, error) {
	items := make([]item, 0, min(p.opt.BatchSize, 1024))
	var size int64
	err := p.st.Since(ctx, ds, after, p.opt.BatchSize, func(e store.Entity) error {
		it := parseItem(e)
		items = append(items, it)
		if it.perr == nil {
			size += max(it.d.FileSize, 0)
		}
		if size >= p.opt.BatchBytes {
			return errBatchFull
		}
		return nil
	})
	if errors.Is(err, errBatchFull) {
		err = nil
	}
	return items, err
}

// countAfter counts the entity versions of ds after seq (what is pending).
// It reads the rows, so it costs about what reading the backlog costs; it
// runs once per pass, and a caught-up dataset has nothing to read.
func countAfter(ctx context.Context, st *store.Store, ds string, after int64) (int64, error) {
	var n int64
	err := st.Since(ctx, ds, after, 0, func(store.Entity) error { n++; return nil })
	return n, err
}

// retries re-processes the failed downloads of ds whose backoff is over.
func (p *Pipeline) retries(ctx context.Context, ds string) (Stats, error) {
	now := p.opt.now()
	var due []store.LedgerRow
	limit := 10 * p.opt.BatchSize
	// Failures are never "ok", so the scan leaves ok rows out, except while
	// an abandoned rebuild's rows (flagged Retry whatever their status) are
	// waiting to be re-checked.
	notStatus := "ok"
	recheck, err := hasState(ctx, p.st, recheckStatePrefix+ds)
	if err != nil {
		return Stats{}, err
	}
	if recheck {
		notStatus = ""
	}
	okRetry := 0
	err = p.st.LedgerRows(ctx, ds, notStatus, func(r store.LedgerRow) error {
		if r.Retry && r.Status == "ok" {
			okRetry++
		}
		if r.Retry && !now.Before(r.IndexedAt.Add(p.backoff(r.Attempts))) && len(due) < limit {
			due = append(due, r)
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	if recheck && okRetry == 0 {
		if err := p.st.Update(ctx, func(tx *store.Tx) error { return tx.DeleteState(recheckStatePrefix + ds) }); err != nil {
			return Stats{}, err
		}
	}
	var total Stats
	for len(due) > 0 {
		// At most BatchSize rows, and no more once their sizes reach
		// BatchBytes, as for the stream.
		n, size := 0, int64(0)
		for n < len(due) && n < p.opt.BatchSize && size < p.opt.BatchBytes {
			size += max(due[n].Size, 0)
			n++
		}
		rows := due[:n]
		due = due[n:]
		items := make([]item, 0, n)
		prev := make(map[string]store.LedgerRow, n)
		for _, r := range rows {
			e, err := p.st.Get(ctx, ds, r.EntityID)
			if errors.Is(err, store.ErrNotFound) {
				// The entity is gone without a tombstone: forget it.
				e = store.Entity{Dataset: ds, ID: r.EntityID, Deleted: true}
			} else if err != nil {
				return total, err
			}
			items = append(items, parseItem(e))
			prev[r.EntityID] = r
		}
		b, err := p.prepare(ctx, ds, items, prev)
		if err != nil {
			return total, err
		}
		b.stats.Retried = len(items)
		if err := p.commit(ctx, ds, b); err != nil {
			return total, err
		}
		total.add(b.stats)
	}
	return total, nil
}

// hasState reports whether the store state key exists.
func hasState(ctx context.Context, st *store.Store, key string) (bool, error) {
	_, err := st.State(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// backoff is the wait after the n-th consecutive failure.
func (p *Pipeline) backoff(attempts int) time.Duration {
	d := p.opt.RetryMin
	for i := 1; i < attempts && d < p.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, p.opt.RetryMax)
}

// commit applies a prepared batch: one persisted index batch, then one
// store transaction with its ledger rows and (for the stream) the new
// position. Neither takes ctx's cancellation: a prepared batch is cheap to
// finish and expensive to redo.
func (p *Pipeline) commit(ctx context.Context, ds string, b *batch) error {
	upserts := make([]index.Doc, 0, len(b.slots))
	var deletes []string
	for i := range b.slots {
		s := &b.slots[i]
		switch {
		case s.skip:
		case s.delete:
			deletes = append(deletes, index.DocID(ds, s.entityID))
		default:
			upserts = append(upserts, s.doc)
			s.doc = index.Doc{} // upserts holds it now (and lets go of it once applied)
		}
	}
	applied := len(upserts) + len(deletes)
	t0 := time.Now()
	// A prepared batch is committed even when ctx ends meanwhile: the
	// extraction work is done, and a shutdown should not waste it. Its
	// text goes to the index in parts of at most about BatchBytes; the
	// ledger rows follow once all are persisted (a crash in between
	// replays the whole batch, as for a single part).
	for len(upserts) > 0 || len(deletes) > 0 {
		n := partLen(upserts, p.opt.partBytes)
		if err := p.idx.Apply(context.WithoutCancel(ctx), upserts[:n], deletes); err != nil {
			return err
		}
		// Drop the references so the applied texts can be collected.
		clear(upserts[:n])
		upserts, deletes = upserts[n:], nil
	}
	t1 := time.Now()
	err := p.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for i := range b.slots {
			s := &b.slots[i]
			switch {
			case s.skip:
			case s.delete:
				if err := tx.DeleteLedger(ds, s.entityID); err != nil {
					return err
				}
			default:
				if err := tx.PutLedger(s.row); err != nil {
					return err
				}
			}
		}
		if b.position > 0 {
			return tx.SetState(p.posKey(ds), strconv.FormatInt(b.position, 10))
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.stats.IndexTime = t1.Sub(t0)
	b.stats.CommitTime = time.Since(t1)
	b.stats.Batches = 1
	p.rate.add(p.opt.now(), applied)
	p.mu.Lock()
	p.total.add(b.stats)
	p.mu.Unlock()
	return nil
}

// partLen returns how many of docs (at least one, if any) go into one
// index.Apply call: as many as fit in maxText bytes of text.
func partLen(docs []index.Doc, maxText int64) int {
	n, text := 0, int64(0)
	for n < len(docs) && (n == 0 || text+int64(len(docs[n].Text)) <= maxText) {
		text += int64(len(docs[n].Text))
		n++
	}
	return n
}

func (p *Pipeline) setPending(ds string, n int64) {
	p.mu.Lock()
	p.pending[ds] = n
	p.mu.Unlock()
}

func (p *Pipeline) addPending(ds string, n int64) {
	p.mu.Lock()
	p.pending[ds] = max(0, p.pending[ds]+n)
	p.mu.Unlock()
}

func (p *Pipeline) pendingOf(ds string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[ds]
}

// Rate returns the documents indexed or deleted per second over the last
// minute.
func (p *Pipeline) Rate() float64 { return p.rate.perSecond(p.opt.now()) }

// rateWindow is a one-minute sliding window of committed documents.
type rateWindow struct {
	mu     sync.Mutex
	events []rateEvent
}

type rateEvent struct {
	at time.Time
	n  int
}

const rateSpan = time.Minute

func (w *rateWindow) add(now time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trim(now)
	w.events = append(w.events, rateEvent{now, n})
}

func (w *rateWindow) trim(now time.Time) {
	i := 0
	for i < len(w.events) && now.Sub(w.events[i].at) > rateSpan {
		i++
	}
	w.events = w.events[i:]
}

func (w *rateWindow) perSecond(now time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trim(now)
	if len(w.events) == 0 {
		return 0
	}
	n := 0
	for _, e := range w.events {
		n += e.n
	}
	span := now.Sub(w.events[0].at)
	if span < time.Second {
		span = time.Second
	}
	return float64(n) / span.Seconds()
}
