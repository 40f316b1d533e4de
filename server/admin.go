package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/docvet/docvet/store"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleStatus reports dataset counts, source health and ingestion
// ("index": documents per source and status, queue length, docs/s).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ds, err := s.st.Datasets(r.Context())
	if err != nil {
		s.log.Error("status", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	type srcSummary struct {
		Name          string     `json:"name"`
		LastSuccess   *time.Time `json:"last_success,omitempty"`
		LastErrorKind string     `json:"last_error_kind,omitempty"`
		Failing       bool       `json:"failing"`
	}
	var srcs []srcSummary
	for _, st := range s.SourceStatuses() {
		srcs = append(srcs, srcSummary{st.Name, st.LastSuccess, st.LastErrorKind, st.ConsecutiveFailures > 0})
	}
	is, err := s.ingestStatus(r.Context())
	if err != nil {
		s.log.Error("status", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"datasets":   ds,
		"sources":    srcs,
		"data_types": s.types.count(),
		"started":    s.started.UTC(),
		"index":      is,
	})
}

// handleRejections lists rejected entities (newest first) so operators see
// what was refused and why: ?dataset=&limit= (default 1000).
func (s *Server) handleRejections(w http.ResponseWriter, r *http.Request) {
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			writeError(w, http.StatusBadRequest, "limit must be 1..100000")
			return
		}
		limit = n
	}
	rj, err := s.st.Rejections(r.Context(), r.URL.Query().Get("dataset"), limit)
	if err != nil {
		s.log.Error("rejections", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if rj == nil {
		rj = []store.Rejection{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rejections": rj, "count": len(rj)})
}
