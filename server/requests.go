package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/docvet/docvet/delivery"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// datasetSubjects holds the gdpr-subject entities (subject ids and the
// identifiers they are known by), pushed to gdpr-subject-in.
const datasetSubjects = search.DatasetSubject

// requestRetry is how long the runner waits before trying again when the
// index is not open yet or a search failed for a reason worth retrying.
const requestRetry = 5 * time.Second

// checkAccessRequest validates a gdpr-access-request entity with
// search.ParseAccessRequest and its public key with encrypt.CheckPublicKey
// (default policy). An invalid request is rejected and nothing of it is
// stored. The server sets the timestamp: when the request was first
// registered (a re-push keeps it, so an identical re-push changes nothing).
// A stored request gets the lifecycle state "received" in the push's
// transaction, unless it already has a lifecycle row: a re-push with the
// same id never re-runs the search (the snapshot is point in time).
func (s *Server) checkAccessRequest(index int, raw json.RawMessage) checked {
	m, id, deleted, problems := decodeObject(raw)
	if len(problems) > 0 {
		return reject(index, id, problems)
	}
	if v, ok := m[search.PropAccessRequestID].(string); ok && v != "" {
		id = v
	}
	if deleted {
		if id == "" {
			return reject(index, "", []string{"missing " + search.PropAccessRequestID})
		}
		// A delete tombstones the entity; its lifecycle and snapshot stay
		// (they are the record of what was answered).
		return checked{index: index, id: id, write: store.Write{ID: id, Deleted: true}}
	}
	ar, err := search.ParseAccessRequest(raw)
	var ve *search.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			if p.Property != "" {
				problems = append(problems, p.Property+": "+p.Reason)
			} else {
				problems = append(problems, p.Reason)
			}
		}
		return reject(index, id, problems)
	case err != nil:
		return reject(index, id, []string{"malformed entity"})
	}
	id = ar.ID
	now := time.Now()
	if _, err := encrypt.CheckPublicKey(ar.PublicKey, now, encrypt.Policy{}); err != nil {
		// The sentinel's message names the problem, never key material.
		return reject(index, id, []string{search.PropPublicKey + ": " + err.Error()})
	}
	ar.Timestamp = now.UTC().Truncate(time.Second)
	prev, perr := s.st.Get(context.Background(), datasetAccessRequests, id)
	var old search.AccessRequest
	if perr == nil && !prev.Deleted && json.Unmarshal(prev.Body, &old) == nil && !old.Timestamp.IsZero() {
		ar.Timestamp = old.Timestamp
	}
	// Once searched, the request is answered to the key and contact it was
	// filed with: a delivery half to one key and half to another could not
	// be opened. A deleted request cannot come back with other ones either.
	if rs, err := s.st.RequestState(context.Background(), id); err == nil && rs.State != store.RequestReceived {
		switch {
		case perr != nil || prev.Deleted:
			return reject(index, id, []string{fmt.Sprintf("access request is %s and was deleted: file a new request", rs.State)})
		case old.PublicKey != ar.PublicKey || old.ContactInfo != ar.ContactInfo:
			return reject(index, id, []string{fmt.Sprintf("access request is %s: its public key and contact info can no longer change (file a new request)", rs.State)})
		}
	}
	body, err := json.Marshal(ar)
	if err != nil {
		return reject(index, id, []string{"malformed entity"})
	}
	return checked{index: index, id: id, write: store.Write{ID: id, Body: body},
		then: func(tx *store.Tx) error {
			_, err := tx.RequestState(id)
			if errors.Is(err, store.ErrNotFound) {
				if err := tx.PutRequestState(id, store.RequestReceived, ""); err != nil {
					return err
				}
				return s.auditTx(tx, actorReceiver, "request.received", id, map[string]any{
					"delete_request": ar.DeleteRequest, "lang": ar.Lang, "contact_type": string(ar.ContactInfoType)})
			}
			return err
		}}
}

// checkSubject validates a gdpr-subject entity (search.ParseSubject). Its
// _id is the entity id when given, else the subject-id: several systems may
// push identifiers of the same subject under their own _id.
func (s *Server) checkSubject(index int, raw json.RawMessage) checked {
	m, id, deleted, problems := decodeObject(raw)
	if len(problems) > 0 {
		return reject(index, id, problems)
	}
	if id == "" {
		if v, ok := m[search.PropSubjectID].(string); ok {
			id = v
		}
	}
	if deleted {
		if id == "" {
			return reject(index, "", []string{"missing _id or " + search.PropSubjectID})
		}
		return checked{index: index, id: id, write: store.Write{ID: id, Deleted: true}}
	}
	sub, err := search.ParseSubject(raw)
	var ve *search.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			problems = append(problems, p.Property+": "+p.Reason)
		}
		return reject(index, id, problems)
	case err != nil:
		return reject(index, id, []string{"malformed entity"})
	}
	if id == "" {
		id = sub.ID
	}
	body, err := json.Marshal(sub)
	if err != nil {
		return reject(index, id, []string{"malformed entity"})
	}
	return checked{index: index, id: id, write: store.Write{ID: id, Body: body}}
}

// requestRunner moves access requests from "received" to "awaiting-review":
// it builds the subject's identifiers, searches one index snapshot, and
// stores the point-in-time result. It runs one request at a time.
type requestRunner struct {
	s    *Server
	kick chan struct{}
	// index returns the open index, nil while it is not available.
	index func() *index.Index
	mu    sync.Mutex // serialises passes (run loop and tests' runOnce)
	// waiting: the last pass found no open index (logged once).
	waiting bool
}

func newRequestRunner(s *Server) *requestRunner {
	return &requestRunner{s: s, kick: make(chan struct{}, 1), index: s.Index}
}

// kickRequests makes the runner look for received requests now.
func (s *Server) kickRequests() {
	if s.requests == nil {
		return
	}
	select {
	case s.requests.kick <- struct{}{}:
	default:
	}
}

// afterPush runs h and, for the access-request receiver, kicks the runner:
// a request that was stored is searched at once.
func (s *Server) afterPush(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
		if r.PathValue("receiver") == "gdpr-access-request-in" {
			s.step("received")
			s.kickRequests()
		}
	}
}

// runRequests resumes every request not yet searched (crash-safe: the
// states are in the store), then waits for kicks until ctx ends.
func (s *Server) runRequests(ctx context.Context) {
	rr := s.requests
	if rr == nil {
		return
	}
	runPasses(ctx, rr.kick, requestRetry, rr.runOnce)
}

// runPasses runs pass until ctx ends: again after a kick, or after retry
// when the last pass left work pending.
func runPasses(ctx context.Context, kick <-chan struct{}, retry time.Duration, pass func(context.Context) bool) {
	for {
		pending := pass(ctx)
		var after <-chan time.Time
		var t *time.Timer
		if pending {
			t = time.NewTimer(retry)
			after = t.C
		}
		select {
		case <-ctx.Done():
		case <-kick:
		case <-after:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// runOnce processes every request in "received" (and finishes those left
// in "searched" by a crash between the two transitions). It reports
// whether some are still pending (index not open, transient failure).
func (rr *requestRunner) runOnce(ctx context.Context) (pending bool) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	log := rr.s.log
	searched, err := rr.s.st.RequestsInState(ctx, store.RequestSearched)
	if err != nil {
		log.Error("requests: list", "err", err)
		return true
	}
	for _, rs := range searched {
		if err := rr.awaitReview(ctx, rs.ID); err != nil {
			log.Error("requests: set awaiting-review", "request", rr.s.hashID(rs.ID), "err", err)
			pending = true
		}
	}
	received, err := rr.s.st.RequestsInState(ctx, store.RequestReceived)
	if err != nil {
		log.Error("requests: list", "err", err)
		return true
	}
	for _, rs := range received {
		if ctx.Err() != nil {
			return true
		}
		ix := rr.index()
		if ix == nil {
			if !rr.waiting {
				log.Info("requests: index not open yet; waiting", "received", len(received))
			}
			rr.waiting = true
			return true
		}
		rr.waiting = false
		if err := rr.process(ctx, ix, rs.ID); err != nil {
			if ctx.Err() == nil {
				log.Error("requests: search failed; will retry", "request", rr.s.hashID(rs.ID), "err", err)
			}
			pending = true
		}
	}
	return pending
}

// failRequest moves a request to failed with a safe reason.
func (rr *requestRunner) failRequest(ctx context.Context, id, reason string) error {
	return rr.s.failRequest(ctx, id, reason)
}

// process searches one received request. An error leaves it "received"
// for a retry; permanent problems move it to failed.
func (rr *requestRunner) process(ctx context.Context, ix *index.Index, id string) error {
	s := rr.s
	e, err := s.st.Get(ctx, datasetAccessRequests, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.Deleted) {
		return rr.failRequest(ctx, id, "access request entity not found or deleted")
	}
	if err != nil {
		return err
	}
	var ar search.AccessRequest
	if err := json.Unmarshal(e.Body, &ar); err != nil {
		return rr.failRequest(ctx, id, "stored access request cannot be read")
	}
	opts, err := s.cfg.Index.IdentifierOptions()
	if err != nil {
		return err
	}
	subjects, err := rr.subjects(ctx, ar.UserID)
	if err != nil {
		return err
	}
	ids, skipped := ar.CollectIdentifiers(subjects, opts)
	if len(ids) == 0 {
		return rr.failRequest(ctx, id, fmt.Sprintf("no searchable identifier (%d given identifiers could not be used)", len(skipped)))
	}
	// One snapshot: every query of the request sees the same index.
	snap, err := ix.Snapshot()
	if err != nil {
		return fmt.Errorf("index snapshot: %w", err)
	}
	defer snap.Close()
	res, err := search.Run(ctx, snap, s.st, search.Query{
		RequestID:   id,
		Identifiers: ids,
		DataTypes:   s.types.list(),
		IDs:         opts,
		Logger:      s.log.With("component", "search", "request", s.hashID(id)),
	})
	if errors.Is(err, search.ErrNoIdentifiers) {
		return rr.failRequest(ctx, id, "no searchable identifier")
	}
	if err != nil {
		return err
	}
	// The result is committed even if shutdown began meanwhile.
	wctx := context.WithoutCancel(ctx)
	// The snapshot and its audit entry commit together.
	err = s.st.Update(wctx, func(tx *store.Tx) error {
		if err := search.SaveTx(tx, res, false); err != nil {
			return err
		}
		return s.auditTx(tx, actorSystem, "request.searched", id, map[string]any{"identifiers": len(ids),
			"skipped_identifiers": len(skipped), "subjects": len(subjects), "hits": len(res.Hits), "not_searchable": len(res.NotSearchable)})
	})
	if err != nil && !errors.Is(err, store.ErrSnapshotExists) {
		return err
	}
	s.log.Info("requests: searched", "request", s.hashID(id), "identifiers", len(ids), "skipped", len(skipped),
		"subjects", len(subjects), "hits", len(res.Hits), "not_searchable", len(res.NotSearchable), "delete_request", ar.DeleteRequest)
	s.step("searched")
	if err := rr.awaitReview(wctx, id); err != nil {
		return err
	}
	s.step("awaiting-review")
	rr.s.kickNotifier()
	return nil
}

// awaitReview moves a searched request on to awaiting-review and asks the
// reviewers.
func (rr *requestRunner) awaitReview(ctx context.Context, id string) error {
	return rr.s.st.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.RequestState(id)
		if err != nil {
			return err
		}
		if cur.State != store.RequestSearched {
			return nil
		}
		if err := tx.PutRequestState(id, store.RequestAwaitingReview, ""); err != nil {
			return err
		}
		// The contacts of each data type with hits (or with documents that
		// could not be searched) are told a workbook is ready; the outbox
		// entries commit with the state.
		hits, ns, err := tx.SnapshotDataTypes(id)
		if err != nil {
			return err
		}
		types := map[string]bool{}
		for dt := range hits {
			types[dt] = true
		}
		for dt := range ns {
			types[dt] = true
		}
		if len(types) == 0 {
			// Nothing found: still a person confirms the empty answer (the
			// index may not hold every document yet), so every data type
			// searched is asked; an upload of the empty workbook answers it.
			for _, dt := range rr.s.types.list() {
				types[dt] = true
			}
		}
		for dt := range types {
			for _, rcpt := range rr.s.reviewerRecipients(ctx, dt) {
				if err := tx.Enqueue(store.NotifyReviewers, id, rcpt, time.Now()); err != nil {
					return err
				}
			}
		}
		return rr.s.auditTx(tx, actorSystem, "request.awaiting-review", id, map[string]any{"data_types_asked": len(types)})
	})
}

// subjects returns the gdpr-subject entities whose subject-id is userID.
// It reads the whole dataset (it is small next to the documents; an
// index by subject-id is a later optimisation).
func (rr *requestRunner) subjects(ctx context.Context, userID string) ([]search.Subject, error) {
	var out []search.Subject
	err := rr.s.st.Since(ctx, datasetSubjects, 0, 0, func(e store.Entity) error {
		if e.Deleted {
			return nil
		}
		sub, err := search.ParseSubject(e.Body)
		if err != nil {
			// Stored subjects were validated; one that no longer parses
			// (a stricter parser) is skipped, not fatal.
			rr.s.log.Warn("requests: stored subject cannot be read", "subject", rr.s.hashID(e.ID))
			return nil
		}
		if sub.ID == userID {
			out = append(out, sub)
		}
		return nil
	})
	return out, err
}

// list returns the registered data-type ids, sorted.
func (d *dataTypes) list() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.ids))
	for id := range d.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// RequestStatus is the body of GET /api/access-requests/{id}.
type RequestStatus struct {
	ID            string           `json:"id"`
	State         string           `json:"state"`
	Reason        string           `json:"reason,omitempty"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
	SearchedAt    *time.Time       `json:"searched_at,omitempty"`
	DataTypes     []string         `json:"data_types,omitempty"` // data types covered by the search
	Hits          int64            `json:"hits"`
	HitsPerType   map[string]int64 `json:"hits_per_data_type"`
	NotSearchable int64            `json:"not_searchable"`
	Decisions     map[string]int64 `json:"decisions_per_data_type,omitempty"`
	Delivery      *DeliveryStatus  `json:"delivery,omitempty"`
	// DeliveryWaiting counts rows whose documents could not be downloaded
	// again yet (retried; given up after a day).
	DeliveryWaiting int                  `json:"delivery_waiting_for_source,omitempty"`
	Notifications   []NotificationStatus `json:"notifications,omitempty"`
}

// DeliveryStatus counts a request's delivery so far (rows are recorded as
// they are delivered, so a delivering request shows its progress).
type DeliveryStatus struct {
	Rows          int        `json:"rows"`
	Delivered     int        `json:"delivered"`
	FileWithheld  int        `json:"file_withheld"`
	Withheld      int        `json:"withheld"`
	Changed       int        `json:"changed_since_review"`
	Unavailable   int        `json:"unavailable"`
	Items         int        `json:"items"`
	Bytes         int64      `json:"bytes"`
	BundleBytes   int64      `json:"bundle_bytes,omitempty"`
	PortalExpires *time.Time `json:"portal_expires_at,omitempty"`
}

// NotificationStatus is one notification of the request (no addresses).
type NotificationStatus struct {
	Kind      string     `json:"kind"`
	DataType  string     `json:"data_type,omitempty"`
	Due       time.Time  `json:"due_at"`
	Sent      *time.Time `json:"sent_at,omitempty"`
	Attempts  int        `json:"attempts"`
	Failed    bool       `json:"failed,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// deliveryStatusOf reads the delivery part of a request's status.
func (s *Server) deliveryStatusOf(ctx context.Context, id string) (*DeliveryStatus, []NotificationStatus, error) {
	_, sum, err := delivery.Contents(ctx, s.st, id, nil)
	if err != nil {
		return nil, nil, err
	}
	var ds *DeliveryStatus
	if sum.Rows > 0 {
		ds = &DeliveryStatus{Rows: sum.Rows, Delivered: sum.Delivered, FileWithheld: sum.FileWithheld, Withheld: sum.Withheld,
			Changed: sum.Changed, Unavailable: sum.Unavailable, Items: sum.Items, Bytes: sum.Bytes}
		if b, err := s.st.Bundle(ctx, id); err == nil {
			ds.BundleBytes = b.Size
		}
		if p, err := s.st.PortalTokenOf(ctx, id); err == nil {
			t := p.ExpiresAt.UTC()
			ds.PortalExpires = &t
		}
	}
	var ns []NotificationStatus
	err = s.st.Notifications(ctx, id, func(e store.OutboxEntry) error {
		dt, _, _ := strings.Cut(e.Recipient, "#")
		if e.Kind == store.NotifySubject {
			dt = ""
		}
		n := NotificationStatus{Kind: e.Kind, DataType: dt, Due: e.DueAt.UTC(), Attempts: e.Attempts, Failed: e.Failed, LastError: e.LastError}
		if !e.SentAt.IsZero() {
			t := e.SentAt.UTC()
			n.Sent = &t
		}
		ns = append(ns, n)
		return nil
	})
	return ds, ns, err
}

// handleRequestStatus serves GET /api/access-requests/{id}: the lifecycle
// state and counts, never identifiers or document data.
func (s *Server) handleRequestStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rs, err := s.st.RequestState(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such access request")
		return
	}
	if err != nil {
		s.log.Error("request status", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	out := RequestStatus{ID: rs.ID, State: rs.State, Reason: rs.Reason, CreatedAt: rs.CreatedAt.UTC(),
		UpdatedAt: rs.UpdatedAt.UTC(), Hits: rs.Hits, NotSearchable: rs.NotSearchable, HitsPerType: map[string]int64{}}
	if rs.HasSnapshot {
		t := rs.SearchedAt.UTC()
		out.SearchedAt = &t
		err := search.Stream(r.Context(), s.st, id,
			func(res search.Result) error { out.DataTypes = res.DataTypes; return nil },
			func(h search.Hit) error { out.HitsPerType[h.DataType]++; return nil }, nil)
		if err != nil {
			s.log.Error("request status", "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		out.Decisions = map[string]int64{}
		if err := s.st.Decisions(r.Context(), id, func(d store.Decision) error {
			out.Decisions[d.DataType]++
			return nil
		}); err != nil {
			s.log.Error("request status", "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	ds, ns, err := s.deliveryStatusOf(r.Context(), id)
	if err != nil {
		s.log.Error("request status", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	out.Delivery, out.Notifications = ds, ns
	if n := s.deliverer.Failing(id); n > 0 {
		out.DeliveryWaiting = n
	}
	writeJSON(w, http.StatusOK, out)
}
