package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/ingest"
	"github.com/docvet/docvet/store"
)

// IngestDatasets returns the document datasets of the configuration, in
// the order the pipeline follows them (each source's "source:<name>", then
// "custom-documents"), and the content bases each may download from: a
// source's content_base, push.content_bases for pushed documents.
func (c Config) IngestDatasets() ([]string, func(dataset string) []string) {
	c.applyDefaults()
	bases := map[string][]string{}
	var ds []string
	for _, s := range c.Sources {
		name := sourceDatasetPrefix + s.Name
		ds = append(ds, name)
		bases[name] = []string{s.ContentBase}
	}
	ds = append(ds, datasetDocuments)
	bases[datasetDocuments] = append([]string(nil), c.Push.ContentBases...)
	return ds, func(d string) []string { return bases[d] }
}

// PipelineOptions returns the ingest.Options of the configuration: the
// document datasets and their content bases (IngestDatasets) and the
// index section's batch size, concurrency and poll interval.
func (c Config) PipelineOptions() ingest.Options {
	c.applyDefaults()
	ds, bases := c.IngestDatasets()
	return ingest.Options{
		Datasets:     ds,
		AllowedBases: bases,
		BatchSize:    c.Index.BatchSize,
		Concurrency:  c.Index.Concurrency,
		PollInterval: c.Index.PollInterval,
	}
}

// IndexOptions returns the index.Options of the configuration (the
// identifier options of the index section).
func (c Config) IndexOptions() (index.Options, error) {
	c.applyDefaults()
	io, err := c.Index.IdentifierOptions()
	if err != nil {
		return index.Options{}, err
	}
	return index.Options{Identifiers: io}, nil
}

// IngestConfig is what Serve needs to run the ingestion pipeline.
type IngestConfig struct {
	IndexDir  string        // the index directory (Config.IndexDir)
	Index     index.Options // identifier options (Config.IndexOptions), bolt timeout
	Extractor ingest.Extractor
	Fetcher   ingest.Fetcher
	// Options tune the pipeline; Datasets and AllowedBases default to the
	// configuration's (IngestDatasets), BatchSize, Concurrency and
	// PollInterval to its index section (PipelineOptions).
	Options ingest.Options
}

// ingestRun is the pipeline's state inside a Server.
type ingestRun struct {
	cfg   IngestConfig
	state atomic.Value // string: "starting", "rebuilding"/"opening", "running", "failed", "stopped"
	mu    sync.Mutex
	p     *ingest.Pipeline
	idx   *index.Index
}

// EnableIngest makes Serve run the ingestion pipeline: it opens the index
// (rebuilding it when it cannot be opened; HTTP is served meanwhile), then
// ingests the document datasets continuously, and drains on shutdown
// (committing what was extracted, abandoning extractions in flight). Call
// it before Serve.
func (s *Server) EnableIngest(c IngestConfig) error {
	if c.IndexDir == "" || c.Extractor == nil || c.Fetcher == nil {
		return errors.New("server: ingest needs an index directory, an extractor and a fetcher")
	}
	def := s.cfg.PipelineOptions()
	if len(c.Options.Datasets) == 0 {
		c.Options.Datasets = def.Datasets
	}
	if c.Options.AllowedBases == nil {
		c.Options.AllowedBases = def.AllowedBases
	}
	if c.Options.BatchSize == 0 {
		c.Options.BatchSize = def.BatchSize
	}
	if c.Options.Concurrency == 0 {
		c.Options.Concurrency = def.Concurrency
	}
	if c.Options.PollInterval == 0 {
		c.Options.PollInterval = def.PollInterval
	}
	if c.Options.Logger == nil {
		c.Options.Logger = s.log.With("component", "ingest")
	}
	r := &ingestRun{cfg: c}
	r.state.Store("starting")
	s.ingest = r
	return nil
}

// Index returns the open index while the pipeline runs (nil before it is
// open and after shutdown).
func (s *Server) Index() *index.Index {
	if s.ingest == nil {
		return nil
	}
	s.ingest.mu.Lock()
	defer s.ingest.mu.Unlock()
	return s.ingest.idx
}

// runIngest opens the index and runs the pipeline until ctx ends.
func (s *Server) runIngest(ctx context.Context) {
	r := s.ingest
	c := r.cfg
	r.state.Store("opening")
	idx, err := ingest.OpenIndex(ctx, s.st, c.IndexDir, c.Index, c.Extractor, c.Fetcher, c.Options)
	if err != nil {
		if ctx.Err() == nil {
			r.state.Store("failed")
			s.log.Error("ingest: open index", "err", err)
		} else {
			r.state.Store("stopped")
		}
		return
	}
	p, err := ingest.New(s.st, idx, c.Extractor, c.Fetcher, c.Options)
	if err != nil {
		idx.Close()
		r.state.Store("failed")
		s.log.Error("ingest: start", "err", err)
		return
	}
	r.mu.Lock()
	r.p, r.idx = p, idx
	r.mu.Unlock()
	r.state.Store("running")
	// Requests waiting for the index start now, not at their next retry.
	s.kickRequests()
	s.kickDelivery()
	_ = p.Run(ctx)
	r.mu.Lock()
	r.idx = nil
	r.mu.Unlock()
	if err := idx.Close(); err != nil {
		s.log.Error("ingest: close index", "err", err)
	}
	r.state.Store("stopped")
}

// kickIngest starts an ingest pass now (after stored documents changed).
func (s *Server) kickIngest() {
	if s.ingest == nil {
		return
	}
	s.ingest.mu.Lock()
	p := s.ingest.p
	s.ingest.mu.Unlock()
	if p != nil {
		p.Kick()
	}
}

// ingestStatus is the "index" section of GET /api/status: the pipeline's
// view while it runs, else the ledger's (with the pipeline's state).
type ingestStatus struct {
	State string `json:"state"` // disabled, starting, opening, running, failed, stopped
	ingest.Status
}

func (s *Server) ingestStatus(ctx context.Context) (ingestStatus, error) {
	state := "disabled"
	var p *ingest.Pipeline
	ds, _ := s.cfg.IngestDatasets()
	if s.ingest != nil {
		state = s.ingest.state.Load().(string)
		s.ingest.mu.Lock()
		p = s.ingest.p
		s.ingest.mu.Unlock()
		ds = s.ingest.cfg.Options.Datasets
	}
	var st ingest.Status
	var err error
	if p != nil {
		st, err = p.Status(ctx)
	} else {
		st, err = ingest.ReadStatus(ctx, s.st, ds)
	}
	return ingestStatus{State: state, Status: st}, err
}

// handleMetrics writes Prometheus text format (version 0.0.4) by hand.
// Labels carry dataset names, statuses and outcomes only: never entity ids,
// file names or identifiers. It needs the read scope, like /api/status:
// Prometheus sends the token with "authorization: {credentials_file: ...}".
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	is, err := s.ingestStatus(r.Context())
	if err != nil {
		s.log.Error("metrics", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	ds, err := s.st.Datasets(r.Context())
	if err != nil {
		s.log.Error("metrics", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	var totals *ingest.Stats
	if s.ingest != nil {
		s.ingest.mu.Lock()
		if s.ingest.p != nil {
			t := s.ingest.p.Totals()
			totals = &t
		}
		s.ingest.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeMetrics(w, is, ds, totals, s.SourceStatuses())
}

// metricWriter accumulates metric families.
type metricWriter struct {
	b strings.Builder
}

func (m *metricWriter) family(name, typ, help string) {
	fmt.Fprintf(&m.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (m *metricWriter) sample(name string, v float64, labels ...string) {
	m.b.WriteString(name)
	if len(labels) > 0 {
		m.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.b.WriteByte(',')
			}
			m.b.WriteString(labels[i])
			m.b.WriteString(`="`)
			m.b.WriteString(escapeLabel(labels[i+1]))
			m.b.WriteByte('"')
		}
		m.b.WriteByte('}')
	}
	m.b.WriteByte(' ')
	m.b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	m.b.WriteByte('\n')
}

// escapeLabel escapes a label value for the text format.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func writeMetrics(w io.Writer, is ingestStatus, ds map[string]store.Counts, totals *ingest.Stats, sources []SourceStatus) {
	var m metricWriter
	m.family("docvet_index_documents", "gauge", "Documents recorded in the ledger, per source dataset and extraction status.")
	for _, src := range sortedKeys(is.Sources) {
		ss := is.Sources[src]
		for _, status := range sortedKeys(ss.Statuses) {
			m.sample("docvet_index_documents", float64(ss.Statuses[status]), "source", src, "status", status)
		}
	}
	m.family("docvet_index_pending", "gauge", "Entity versions stored but not yet ingested (queue length), per source dataset.")
	for _, src := range sortedKeys(is.Sources) {
		m.sample("docvet_index_pending", float64(is.Sources[src].Pending), "source", src)
	}
	m.family("docvet_index_retry_pending", "gauge", "Documents whose download failed and is retried with backoff.")
	m.sample("docvet_index_retry_pending", float64(is.RetryPending))
	m.family("docvet_index_docs_per_second", "gauge", "Documents ingested per second over the last minute.")
	m.sample("docvet_index_docs_per_second", is.DocsPerSec)
	m.family("docvet_ingest_up", "gauge", "1 while the ingestion pipeline runs.")
	up := 0.0
	if is.State == "running" {
		up = 1
	}
	m.sample("docvet_ingest_up", up)
	if is.LastPass != nil {
		m.family("docvet_ingest_last_pass_timestamp_seconds", "gauge", "End of the last ingestion pass (Unix time).")
		m.sample("docvet_ingest_last_pass_timestamp_seconds", float64(is.LastPass.UnixMilli())/1000)
	}
	if totals != nil {
		m.family("docvet_ingest_documents_total", "counter", "Entity versions processed since start, by outcome.")
		for _, o := range []struct {
			name string
			n    int
		}{
			{"extracted", totals.Extracted}, {"reused", totals.Reused}, {"skipped", totals.Skipped},
			{"deleted", totals.Deleted}, {"fetch_failed", totals.FetchFailed}, {"invalid", totals.Invalid},
			{"retried", totals.Retried},
		} {
			m.sample("docvet_ingest_documents_total", float64(o.n), "outcome", o.name)
		}
		m.family("docvet_ingest_seconds_total", "counter", "Time spent since start, by stage (extract is summed over concurrent documents).")
		m.sample("docvet_ingest_seconds_total", totals.ExtractTime.Seconds(), "stage", "extract")
		m.sample("docvet_ingest_seconds_total", totals.IndexTime.Seconds(), "stage", "index")
		m.sample("docvet_ingest_seconds_total", totals.CommitTime.Seconds(), "stage", "commit")
		m.family("docvet_ingest_batches_total", "counter", "Index batches committed since start.")
		m.sample("docvet_ingest_batches_total", float64(totals.Batches))
	}
	m.family("docvet_dataset_entities", "gauge", "Stored entities per dataset, live or deleted (tombstones).")
	for _, name := range sortedKeys(ds) {
		m.sample("docvet_dataset_entities", float64(ds[name].Live), "dataset", name, "state", "live")
		m.sample("docvet_dataset_entities", float64(ds[name].Deleted), "dataset", name, "state", "deleted")
	}
	m.family("docvet_source_consecutive_failures", "gauge", "Consecutive failed pulls per document source.")
	for _, src := range sources {
		m.sample("docvet_source_consecutive_failures", float64(src.ConsecutiveFailures), "source", src.Name)
	}
	io.WriteString(w, m.b.String())
}
