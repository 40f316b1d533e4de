package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// puller copies one document source into dataset "source:<name>" with the
// JSON pull protocol. Each batch and the since-token that covers it commit
// in one transaction, so a crash repeats at most one batch (idempotently)
// and never skips one.
type puller struct {
	s       *Server
	cfg     SourceConfig
	dataset string
	base    contentBase
	client  *sources.PullClient
	trigger chan struct{}
	repull  atomic.Bool // set when data types were added: restart from the beginning

	pullMu sync.Mutex // one pull at a time (loop, PullNow)

	mu     sync.Mutex
	status SourceStatus
}

// SourceStatus is what GET /api/admin/sources reports per source.
type SourceStatus struct {
	Name                string     `json:"name"`
	Dataset             string     `json:"dataset"`
	LastAttempt         *time.Time `json:"last_attempt,omitempty"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	LastErrorKind       string     `json:"last_error_kind,omitempty"` // connect, timeout, read, http_status, decode, entity_too_large, store, config
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Backoff             string     `json:"backoff,omitempty"`
	NextAttempt         *time.Time `json:"next_attempt,omitempty"`
	Since               string     `json:"since,omitempty"` // the saved since-token
	Pulled              int64      `json:"pulled"`          // entities received since start
	Changed             int64      `json:"changed"`         // of those, new versions stored
	Rejected            int64      `json:"rejected"`        // of those, rejected
	Pulling             bool       `json:"pulling"`
}

func newPuller(s *Server, sc SourceConfig) (*puller, error) {
	base, err := parseContentBase(sc.ContentBase)
	if err != nil {
		return nil, err
	}
	var token string
	if sc.TokenFile != "" {
		b, err := os.ReadFile(sc.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	hc := sources.NewPullHTTPClient(sources.PullTimeouts{Total: sc.Timeout})
	p := &puller{
		s: s, cfg: sc, dataset: sourceDatasetPrefix + sc.Name, base: base,
		client: &sources.PullClient{URL: sc.URL, Token: token, HTTP: hc, MaxEntityBytes: int64(s.cfg.Limits.MaxEntityBytes),
			SkipOversized: true},
		trigger: make(chan struct{}, 1),
	}
	p.status = SourceStatus{Name: sc.Name, Dataset: p.dataset}
	return p, nil
}

func sinceKey(name string) string { return "pull:since:" + name }

// kick asks the loop for an immediate pull (non-blocking).
func (p *puller) kick() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// run pulls every Interval while the source is healthy and backs off
// exponentially (with jitter) while it fails, until ctx ends.
func (p *puller) run(ctx context.Context) {
	failures := 0
	for {
		err := p.pullAll(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			failures++
			wait = backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, failures)
		} else {
			failures = 0
			wait = p.cfg.Interval
		}
		next := time.Now().Add(wait)
		p.mu.Lock()
		p.status.NextAttempt = &next
		if err != nil {
			p.status.Backoff = wait.Round(time.Millisecond).String()
		} else {
			p.status.Backoff = ""
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.trigger:
			t.Stop()
		}
	}
}

// backoff is min doubled per failure, capped at max, with "equal jitter":
// a random value in [d/2, d], so many failing sources do not retry in step.
func backoff(min, max time.Duration, failures int) time.Duration {
	d := min
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// pullAll pulls pages until the source has nothing newer.
func (p *puller) pullAll(ctx context.Context) error {
	p.pullMu.Lock()
	defer p.pullMu.Unlock()
	now := time.Now()
	p.mu.Lock()
	p.status.LastAttempt = &now
	p.status.Pulling = true
	p.mu.Unlock()
	err := p.pullPages(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.Pulling = false
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		kind, msg := classify(err)
		t := time.Now()
		p.status.LastErrorKind, p.status.LastError, p.status.LastErrorAt = kind, msg, &t
		p.status.ConsecutiveFailures++
		p.s.log.Warn("pull failed", "source", p.cfg.Name, "kind", kind, "detail", msg, "failures", p.status.ConsecutiveFailures)
		return err
	}
	t := time.Now()
	p.status.LastSuccess = &t
	p.status.ConsecutiveFailures = 0
	return nil
}

// pullPages pulls pages until one is empty or the since-token stops
// moving: a publisher may cap its pages below our limit (docvet source
// --max-limit), so a short page does not mean the end.
//
// When ctx ends (shutdown), the request in flight is cancelled but the
// entities already received are committed with their since-token: commits
// do not take ctx's cancellation, so no received batch is rolled back.
func (p *puller) pullPages(ctx context.Context) error {
	if p.repull.Swap(false) {
		err := p.s.st.Update(ctx, func(tx *store.Tx) error { return tx.DeleteState(sinceKey(p.cfg.Name)) })
		if err != nil {
			p.repull.Store(true)
			return &storeError{err}
		}
	}
	tok, err := p.s.st.State(ctx, sinceKey(p.cfg.Name))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return &storeError{err}
	}
	commitCtx := context.WithoutCancel(ctx)
	since := json.RawMessage(tok)
	limit := p.cfg.BatchSize
	maxEntity := p.s.cfg.Limits.MaxEntityBytes
	for {
		var (
			batch    []checked
			batchTok json.RawMessage
			gen      uint64 // data type generation before the batch's first check
		)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if err := p.commit(commitCtx, batch, batchTok, gen); err != nil {
				return err
			}
			if batchTok != nil {
				since = batchTok
			}
			batch = batch[:0]
			return nil
		}
		before := string(since)
		page, perr := p.client.Pull(ctx, since, limit, func(e sources.PulledEntity) error {
			if len(batch) == 0 {
				gen = p.s.types.generation()
			}
			if o := e.Oversized; o != nil {
				batch = append(batch, checked{index: e.Index, id: o.ID,
					reason: fmt.Sprintf("entity larger than %d bytes (limits.max_entity_bytes)", maxEntity)})
			} else {
				batch = append(batch, p.s.checkDocument(e.Index, e.Raw, []contentBase{p.base}, "source "+p.cfg.Name))
			}
			if e.Updated != nil {
				batchTok = e.Updated
			}
			// Commit in batches even if the publisher ignores limit, so memory
			// stays bounded.
			if len(batch) >= limit {
				return flush()
			}
			return nil
		})
		// Entities received before an error are complete: keep them.
		if err := flush(); err != nil {
			return err
		}
		if perr != nil {
			return perr
		}
		if page.Count == 0 || string(since) == before {
			return nil
		}
	}
}

// commit stores one batch and the since-token after it, atomically. gen is
// the data type generation seen before the batch was checked: if types were
// added since and the batch holds rejections, a rejection may be stale (its
// type registered between check and commit, after dataTypesChanged looked
// for rejections), so the source re-pulls from the start.
func (p *puller) commit(ctx context.Context, batch []checked, tok json.RawMessage, gen uint64) error {
	var changed, rejected int64
	err := p.s.st.Update(ctx, func(tx *store.Tx) error {
		changed, rejected = 0, 0
		for _, it := range batch {
			if !it.ok() {
				rejected++
				if err := p.s.recordRejection(tx, p.dataset, p.cfg.Name, it); err != nil {
					return err
				}
				continue
			}
			r, err := tx.Put(p.dataset, it.write)
			if err != nil {
				return err
			}
			if r.Changed {
				changed++
			}
			if err := tx.ClearRejection(p.dataset, it.id); err != nil {
				return err
			}
		}
		if tok != nil {
			return tx.SetState(sinceKey(p.cfg.Name), string(tok))
		}
		return nil
	})
	if err != nil {
		return &storeError{err}
	}
	if changed > 0 {
		// Index the new versions now rather than at the next poll.
		p.s.kickIngest()
	}
	// Read after the commit: either this sees the new generation, or the
	// reload that advanced it sees the committed rejections.
	if rejected > 0 && p.s.types.generation() != gen {
		p.s.log.Info("data types added during a pull: re-pulling source", "source", p.cfg.Name)
		p.repull.Store(true)
		p.kick()
	}
	p.mu.Lock()
	p.status.Pulled += int64(len(batch))
	p.status.Changed += changed
	p.status.Rejected += rejected
	if tok != nil {
		p.status.Since = string(tok)
	}
	p.mu.Unlock()
	return nil
}

// storeError marks a failure of our own store (not the source's).
type storeError struct{ err error }

func (e *storeError) Error() string { return "store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// classify names the kind of a pull error and gives a message fit for the
// status page and logs (no entity content, no token).
func classify(err error) (kind, msg string) {
	var se *storeError
	var he *sources.HTTPStatusError
	var de *sources.DecodeError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "store", "could not write to the store"
	case errors.As(err, &he):
		return "http_status", fmt.Sprintf("publisher answered HTTP %d", he.Status)
	case errors.Is(err, sources.ErrEntityTooLarge):
		return "entity_too_large", "an entity exceeded limits.max_entity_bytes and its _id and _updated could not be read to skip it"
	case errors.As(err, &de):
		return "decode", fmt.Sprintf("malformed JSON at byte %d (entity index %d)", de.Offset, de.Index)
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", "the publisher did not answer in time"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", "the publisher did not answer in time"
	case errors.As(err, new(*sources.ReadError)):
		return "read", "the connection broke while reading the response"
	default:
		var oe *net.OpError
		if errors.As(err, &oe) {
			return "connect", "could not connect to the publisher"
		}
		return "connect", "request failed: " + shortErr(err)
	}
}

// shortErr strips the URL an *url.Error carries (it may hold a query).
func shortErr(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// PullNow pulls the named source once, synchronously (serialised with its
// loop). For embedding callers and tests.
func (s *Server) PullNow(ctx context.Context, name string) error {
	p, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("no source %q", name)
	}
	return p.pullAll(ctx)
}

// SourceStatuses returns the status of every configured source.
func (s *Server) SourceStatuses() []SourceStatus {
	out := make([]SourceStatus, 0, len(s.pullers))
	for _, p := range s.pullers {
		p.mu.Lock()
		out = append(out, p.status)
		p.mu.Unlock()
	}
	return out
}

func (s *Server) handlePullNow(w http.ResponseWriter, r *http.Request) {
	p, ok := s.byName[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, "no such source")
		return
	}
	p.kick()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "pull requested", "source": p.cfg.Name})
}

func (s *Server) handleSources(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sources": s.SourceStatuses()})
}
