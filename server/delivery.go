package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/delivery"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// deliveryRetry is how long the delivery runner waits before trying a
// request again after a transient failure (source down, index not open).
const deliveryRetry = 30 * time.Second

// deliveryRunner moves reviewed requests through delivering to delivered.
// It runs apart from the search runner: a long delivery (large files)
// must not hold up the search of new requests.
type deliveryRunner struct {
	s    *Server
	kick chan struct{}
	mu   sync.Mutex // serialises passes (run loop and tests' runOnce)
}

// newDeliverer builds the server's Deliverer over the delivery store.
func newDeliverer(s *Server) (*delivery.Deliverer, error) {
	blobs, err := delivery.NewBlobs(s.cfg.DeliveryDir())
	if err != nil {
		return nil, err
	}
	_, bases := s.cfg.IngestDatasets()
	// A delivered file may be large and its source slow: only the idle
	// timeout bounds a download here, and the size is checked against the
	// reviewed one while it streams.
	f := extractor.NewFetcher(extractor.FetchOptions{UserAgent: "docvet-delivery/" + extractor.Version,
		TotalTimeout: 24 * time.Hour, MaxBytes: 1 << 42})
	return delivery.New(s.st, blobs, f, delivery.Options{
		Workers:      s.cfg.Delivery.Workers,
		AllowedBases: bases,
		Logger:       s.log.With("component", "delivery"),
	}), nil
}

// kickDelivery makes the delivery runner look for reviewed requests now.
func (s *Server) kickDelivery() {
	if s.delivery == nil {
		return
	}
	select {
	case s.delivery.kick <- struct{}{}:
	default:
	}
}

// runDeliveries resumes every request left delivering (crash-safe: rows
// delivered so far are recorded) and starts reviewed ones, then waits for
// kicks until ctx ends.
func (s *Server) runDeliveries(ctx context.Context) {
	dr := s.delivery
	if dr == nil {
		return
	}
	if n, err := s.deliverer.Blobs().Sweep(ctx, time.Hour, s.st.BlobReferenced); err != nil {
		s.log.Warn("delivery: sweep of the delivery store failed", "err", err)
	} else if n > 0 {
		s.log.Info("delivery: removed unreferenced files from the delivery store", "files", n)
	}
	runPasses(ctx, dr.kick, deliveryRetry, dr.runOnce)
}

// runOnce starts every reviewed request and delivers every delivering one.
// It reports whether some are still pending (index not open, transient
// failure).
func (dr *deliveryRunner) runOnce(ctx context.Context) (pending bool) {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	s := dr.s
	reviewed, err := s.st.RequestsInState(ctx, store.RequestReviewed)
	if err != nil {
		s.log.Error("delivery: list", "err", err)
		return true
	}
	for _, rs := range reviewed {
		if err := s.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			cur, err := tx.RequestState(rs.ID)
			if err != nil || cur.State != store.RequestReviewed {
				return err
			}
			if err := tx.PutRequestState(rs.ID, store.RequestDelivering, ""); err != nil {
				return err
			}
			return s.auditTx(tx, actorSystem, "delivery.started", rs.ID, nil)
		}); err != nil {
			s.log.Error("delivery: start", "request", s.hashID(rs.ID), "err", err)
			pending = true
			continue
		}
		s.step("delivering")
	}
	delivering, err := s.st.RequestsInState(ctx, store.RequestDelivering)
	if err != nil {
		s.log.Error("delivery: list", "err", err)
		return true
	}
	for _, rs := range delivering {
		if ctx.Err() != nil {
			return true
		}
		if err := dr.deliver(ctx, rs.ID); err != nil {
			if ctx.Err() == nil {
				s.log.Error("delivery: failed; will retry", "request", s.hashID(rs.ID), "err", err)
			}
			pending = true
		}
	}
	return pending
}

// deliver delivers one request. Permanent problems fail the request; an
// error leaves it delivering for a retry.
func (dr *deliveryRunner) deliver(ctx context.Context, id string) error {
	s := dr.s
	ix := s.Index()
	if ix == nil {
		return errors.New("index not open yet")
	}
	e, err := s.st.Get(ctx, datasetAccessRequests, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var ar search.AccessRequest
	if err != nil || e.Deleted || json.Unmarshal(e.Body, &ar) != nil || ar.PublicKey == "" {
		return s.failRequest(ctx, id, "access request entity (and its public key) not found or unreadable at delivery")
	}
	res, err := search.Load(ctx, s.st, id)
	if err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	snap, err := ix.Snapshot()
	if err != nil {
		return fmt.Errorf("index snapshot: %w", err)
	}
	defer snap.Close()
	lang := ar.Language(s.cfg.Notifications.DefaultLanguage)
	job := delivery.Job{
		RequestID: id, PublicKey: ar.PublicKey, Language: lang, Result: &res, Texts: snap,
		Titles: s.dataTypeTitles(ctx, res.DataTypes, lang),
		Finish: func(tx *store.Tx, sum delivery.Summary) error {
			if _, err := s.issuePortalToken(tx, id, time.Now(), s.cfg.Delivery.TokenTTL); err != nil {
				return err
			}
			if err := tx.Enqueue(store.NotifySubject, id, "", time.Now().Add(*s.cfg.Notifications.SubjectDelay)); err != nil {
				return err
			}
			return s.auditTx(tx, actorSystem, "delivery.delivered", id, map[string]any{
				"rows": sum.Rows, "delivered": sum.Delivered, "file_withheld": sum.FileWithheld, "withheld": sum.Withheld,
				"changed": sum.Changed, "unavailable": sum.Unavailable, "items": sum.Items, "bytes": sum.Bytes,
			})
		},
	}
	sum, err := s.deliverer.Deliver(ctx, job)
	switch {
	case errors.Is(err, delivery.ErrKey):
		// The policy's errors name the problem, never key material.
		return s.failRequest(ctx, id, err.Error())
	case errors.Is(err, delivery.ErrNotDelivering):
		return nil
	case errors.Is(err, delivery.ErrRowsPending):
		s.log.Warn("delivery: some documents could not be downloaded again; will retry", "request", s.hashID(id), "err", err)
		return err
	case err != nil:
		return err
	}
	s.log.Info("requests: delivered", "request", s.hashID(id), "rows", sum.Rows, "items", sum.Items, "changed", sum.Changed)
	s.step("delivered")
	s.kickNotifier()
	return nil
}

// failRequest moves a request to failed with a safe reason, audited.
func (s *Server) failRequest(ctx context.Context, id, reason string) error {
	s.log.Warn("requests: failed", "request", s.hashID(id), "reason", reason)
	return s.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if err := tx.PutRequestState(id, store.RequestFailed, reason); err != nil {
			return err
		}
		return s.auditTx(tx, actorSystem, "request.failed", id, map[string]string{"reason": reason})
	})
}

// dataTypeTitles names data types for the subject (bundle pages, portal):
// the description in lang when there is one, else the id.
func (s *Server) dataTypeTitles(ctx context.Context, ids []string, lang string) map[string]string {
	out := make(map[string]string, len(ids))
	info := s.dataTypeInfo(ctx, ids, lang)
	for _, id := range ids {
		out[id] = id
		if d := strings.TrimSpace(info[id].Description); d != "" {
			out[id] = d
		}
	}
	return out
}

// DeliveryItemInfo is one encrypted item of a request, as listed by
// GET /api/access-requests/{id}/delivery (no names: the file name is
// inside the encryption).
type DeliveryItemInfo struct {
	ID       string    `json:"id"`
	DataType string    `json:"data_type"`
	Kind     string    `json:"kind"` // record (metadata and text) or file
	Size     int64     `json:"size"`
	At       time.Time `json:"created_at"`
}

// DeliveryListing is the body of GET /api/access-requests/{id}/delivery.
type DeliveryListing struct {
	RequestID   string             `json:"request_id"`
	State       string             `json:"state"`
	Items       []DeliveryItemInfo `json:"items"`
	BundleBytes int64              `json:"bundle_bytes,omitempty"`
}

// handleDeliveryListing serves GET /api/access-requests/{id}/delivery:
// the request's encrypted items with data type, kind and size.
func (s *Server) handleDeliveryListing(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rs, err := s.st.RequestState(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such access request")
		return
	}
	if err != nil {
		s.log.Error("delivery listing", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	out := DeliveryListing{RequestID: rs.ID, State: rs.State, Items: []DeliveryItemInfo{}}
	if err := s.st.DeliveryItems(r.Context(), id, func(it store.DeliveryItem) error {
		out.Items = append(out.Items, DeliveryItemInfo{ID: it.ItemID, DataType: it.DataType, Kind: it.Kind, Size: it.Size, At: it.At.UTC()})
		return nil
	}); err != nil {
		s.log.Error("delivery listing", "request", s.hashID(id), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if b, err := s.st.Bundle(r.Context(), id); err == nil {
		out.BundleBytes = b.Size
	}
	writeJSON(w, http.StatusOK, out)
}
