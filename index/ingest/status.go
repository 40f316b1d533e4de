package ingest

import (
	"context"
	"time"

	"github.com/docvet/docvet/store"
)

// Status is the state of ingestion: what GET /api/status reports under
// "index" and `docvet status` prints. Counts only; names are dataset names
// and statuses.
type Status struct {
	// Documents is the number of ledger rows (documents recorded).
	Documents int64 `json:"documents"`
	// Statuses counts the documents per extraction status (ok, partial,
	// empty, encrypted, unsupported, failed) or fetch-failed / invalid.
	Statuses map[string]int64 `json:"statuses"`
	// Pending is the queue length: entity versions not yet ingested.
	Pending int64 `json:"pending"`
	// RetryPending counts documents whose download failed and is retried.
	RetryPending int64 `json:"retry_pending"`
	// DocsPerSec is the ingestion rate over the last minute (0 when the
	// pipeline is not running in this process).
	DocsPerSec float64 `json:"docs_per_sec"`
	// Sources has the same per dataset.
	Sources map[string]SourceStatus `json:"sources"`
	// Running says a pass is in progress; LastPass when the last one ended.
	Running  bool       `json:"running"`
	LastPass *time.Time `json:"last_pass,omitempty"`
	// LastError is set when the last pass failed (details are logged).
	LastError string `json:"last_error,omitempty"`
}

// SourceStatus is the ingestion state of one dataset.
type SourceStatus struct {
	Documents int64            `json:"documents"`
	Statuses  map[string]int64 `json:"statuses"`
	Pending   int64            `json:"pending"`
	Position  int64            `json:"position"` // sequence ingested up to
}

// ReadStatus reads the ingestion state of datasets from the store alone
// (no pipeline needed: `docvet status` with the service stopped).
func ReadStatus(ctx context.Context, st *store.Store, datasets []string) (Status, error) {
	return readStatus(ctx, st, datasets, DefaultStatePrefix, nil)
}

// Status reports the pipeline's state. While a pass runs, the pending
// counts are the ones counted at its start minus what it committed since;
// otherwise they are counted now (cheap: a caught-up dataset has nothing
// after its position).
func (p *Pipeline) Status(ctx context.Context) (Status, error) {
	p.mu.Lock()
	running := p.running
	pending := make(map[string]int64, len(p.pending))
	for k, v := range p.pending {
		pending[k] = v
	}
	last, lastErr := p.lastRun, p.lastErr
	p.mu.Unlock()
	if !running {
		pending = nil
	}
	s, err := readStatus(ctx, p.st, p.opt.Datasets, p.statePrefix, pending)
	if err != nil {
		return s, err
	}
	s.DocsPerSec = p.Rate()
	s.Running = running
	if !last.IsZero() {
		t := last.UTC()
		s.LastPass = &t
	}
	s.LastError = lastErr
	return s, nil
}

func readStatus(ctx context.Context, st *store.Store, datasets []string, prefix string, pending map[string]int64) (Status, error) {
	out := Status{Statuses: map[string]int64{}, Sources: map[string]SourceStatus{}}
	counts, err := st.LedgerCounts(ctx)
	if err != nil {
		return out, err
	}
	for _, ds := range datasets {
		ss := SourceStatus{Statuses: map[string]int64{}}
		for status, n := range counts[ds] {
			ss.Statuses[status] = n
			ss.Documents += n
			out.Statuses[status] += n
			out.Documents += n
		}
		pos, err := readPosition(ctx, st, prefix+ds)
		if err != nil {
			return out, err
		}
		ss.Position = pos
		if n, ok := pending[ds]; ok {
			ss.Pending = n
		} else if ss.Pending, err = countAfter(ctx, st, ds, pos); err != nil {
			return out, err
		}
		out.Pending += ss.Pending
		out.Sources[ds] = ss
	}
	out.RetryPending = out.Statuses[StatusFetchFailed]
	return out, nil
}

// Totals returns what the pipeline did since New (all passes).
func (p *Pipeline) Totals() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}
