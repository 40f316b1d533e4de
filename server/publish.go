package server

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// publishedDataset maps a publisher name to its dataset. The Sesam "-out"
// names are accepted for the data types and access requests.
func (s *Server) publishedDataset(name string) (string, bool) {
	switch name {
	case datasetDocuments, datasetDataTypes, datasetAccessRequests:
		return name, true
	case "gdpr-data-type-out":
		return datasetDataTypes, true
	case "gdpr-access-request-out":
		return datasetAccessRequests, true
	}
	if src, ok := strings.CutPrefix(name, sourceDatasetPrefix); ok {
		if _, ok := s.byName[src]; ok {
			return name, true
		}
	}
	return "", false
}

// handlePublish streams a dataset with the JSON pull protocol: entities with
// _updated after since, in order, at most limit (default: all).
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	dataset, ok := s.publishedDataset(r.PathValue("dataset"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no publisher %q", r.PathValue("dataset")))
		return
	}
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
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = n
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	out := &countWriter{w: w}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := sources.NewArrayEncoder(bw)
	var buf []byte
	err := s.st.Since(r.Context(), dataset, since, limit, func(e store.Entity) error {
		buf = e.AppendJSON(buf[:0])
		return enc.Add(buf)
	})
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if errors.Is(err, r.Context().Err()) {
			return // the client went away
		}
		s.log.Error("publish failed", "dataset", dataset, "sent", enc.Count(), "err", err)
		if out.n == 0 {
			// Nothing reached the client yet: a clean error is still possible.
			bw.Reset(w)
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		// Part of the array is out: abort the connection so the client sees a
		// truncated body, never a short but valid array.
		panic(http.ErrAbortHandler)
	}
}

// countWriter counts the bytes that reached the client.
type countWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
