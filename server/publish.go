package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/store"
)

// publishedDataset maps a publisher name reachable with the read scope to
// its dataset. The access requests are not among them: they have their own
// routes behind the subjects scope (routes.go, publisher).
func (s *Server) publishedDataset(name string) (string, bool) {
	switch name {
	case datasetDocuments, datasetDataTypes:
		return name, true
	case "gdpr-data-type-out":
		return datasetDataTypes, true
	}
	if src, ok := strings.CutPrefix(name, sourceDatasetPrefix); ok {
		if _, ok := s.byName[src]; ok {
			return name, true
		}
	}
	return "", false
}

// handlePublish serves the dataset named in the path (read scope).
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	dataset, ok := s.publishedDataset(r.PathValue("dataset"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no publisher %q", r.PathValue("dataset")))
		return
	}
	s.publish(w, r, dataset)
}

// publisher returns a handler publishing one fixed dataset.
func (s *Server) publisher(dataset string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.publish(w, r, dataset) }
}

// Publisher paging: a response is read from the store in pages of at most
// publishPageEntities entities or about publishPageBytes bytes, each into
// memory, and the read connection is released before the page is written.
// A slow or stalled client then holds no store connection (the pool is
// small and shared with status, pushes and pullers), and each page must be
// written within Limits.PublishWriteTimeout or the connection is dropped.
const (
	publishPageEntities = 1000
	publishPageBytes    = 4 << 20
)

// errPageFull stops a page read at publishPageBytes.
var errPageFull = errors.New("page full")

// publish writes a dataset with the JSON pull protocol: entities with
// _updated after since, in order, at most limit of them (default and cap:
// Limits.MaxPublishEntities; clients continue with since).
func (s *Server) publish(w http.ResponseWriter, r *http.Request, dataset string) {
	q := r.URL.Query()
	var since int64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "since must be a non-negative integer (an _updated value)")
			return
		}
		since = n
	}
	limit := s.cfg.Limits.MaxPublishEntities
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, limit)
	}
	rc := http.NewResponseController(w)
	sent, remaining := 0, limit
	var page, entity []byte
	for remaining > 0 {
		want := min(remaining, publishPageEntities)
		page = page[:0]
		got, full, last := 0, false, since
		err := s.st.Since(r.Context(), dataset, since, want, func(e store.Entity) error {
			if sent+got == 0 {
				page = append(page, '[')
			} else {
				page = append(page, ',')
			}
			entity = e.AppendJSON(entity[:0])
			page = append(page, entity...)
			got++
			last = e.Seq
			if len(page) >= publishPageBytes {
				return errPageFull
			}
			return nil
		})
		if errors.Is(err, errPageFull) {
			err, full = nil, true
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the client went away
			}
			s.log.Error("publish failed", "dataset", dataset, "sent", sent, "err", err)
			if sent == 0 {
				// Nothing reached the client yet: a clean error is still possible.
				writeError(w, http.StatusInternalServerError, "internal error")
				return
			}
			// Part of the array is out: abort the connection so the client
			// sees a truncated body, never a short but valid array.
			panic(http.ErrAbortHandler)
		}
		remaining -= got
		done := remaining == 0 || (!full && got < want)
		if sent == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			if got == 0 {
				page = append(page, '[')
			}
		}
		if done {
			page = append(page, ']')
		}
		// Writers without deadlines (tests' recorders) are fine unbounded.
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.Limits.PublishWriteTimeout))
		if _, err := w.Write(page); err != nil {
			s.log.Info("publish aborted", "dataset", dataset, "sent", sent, "reason", "client too slow or gone")
			panic(http.ErrAbortHandler)
		}
		sent += got
		since = last
		if done {
			break
		}
	}
	// A kept-alive connection must not carry the deadline to its next request.
	_ = rc.SetWriteDeadline(time.Time{})
}
