package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/docvet/docvet/delivery"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
	"github.com/docvet/docvet/vetting"
)

// vettingKeyLabel is the domain label of the workbook key: the key that
// signs workbook manifests and derives row ids is HMAC-SHA256(secret,
// label), so it is never the JWT secret itself and a leaked workbook key
// cannot mint tokens.
const vettingKeyLabel = "docvet/vetting-workbook/v1"

// vettingKey derives the workbook key from the server secret.
func vettingKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(vettingKeyLabel))
	return m.Sum(nil)
}

// tokenSubject returns the verified token's subject (the reviewer). The
// route's require wrapper has already checked the token; this reads it again
// for its "sub" claim.
func (s *Server) tokenSubject(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	var c claims
	_, err := s.auth.parser.ParseWithClaims(strings.TrimSpace(tok), &c, func(t *jwt.Token) (any, error) {
		return s.auth.secret, nil
	})
	if err != nil {
		return ""
	}
	return c.Subject
}

// loadRequest reads the request's lifecycle row and stored entity for the
// workbook endpoints, writing the error response when it cannot be used.
func (s *Server) loadRequest(w http.ResponseWriter, r *http.Request) (store.RequestStatus, search.AccessRequest, bool) {
	id := r.PathValue("id")
	rs, err := s.st.RequestState(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such access request")
		return rs, search.AccessRequest{}, false
	}
	if err != nil {
		s.log.Error("workbook: request state", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return rs, search.AccessRequest{}, false
	}
	if !rs.HasSnapshot {
		writeError(w, http.StatusConflict, fmt.Sprintf("access request is %s: it has no search result to vet yet", rs.State))
		return rs, search.AccessRequest{}, false
	}
	var ar search.AccessRequest
	e, err := s.st.Get(r.Context(), datasetAccessRequests, id)
	if err == nil {
		// A deleted or unreadable entity still has its snapshot; the
		// workbook then uses the default language and no title.
		_ = json.Unmarshal(e.Body, &ar)
	}
	return rs, ar, true
}

// dataTypeInfo describes the data types for the Instructions sheet, with
// the description in lang when the data type has one.
func (s *Server) dataTypeInfo(ctx context.Context, ids []string, lang string) map[string]vetting.DataTypeInfo {
	out := map[string]vetting.DataTypeInfo{}
	for _, id := range ids {
		e, err := s.st.Get(ctx, datasetDataTypes, id)
		if err != nil || e.Deleted {
			continue
		}
		var m map[string]any
		if json.Unmarshal(e.Body, &m) != nil {
			continue
		}
		str := func(k string) string { v, _ := m[dtPrefix+k].(string); return v }
		desc := str(dtDescription)
		base, _, _ := strings.Cut(lang, "-")
		for _, k := range []string{"description-" + strings.ToLower(lang), "description-" + base, base + "-description"} {
			if v := str(k); v != "" {
				desc = v
				break
			}
		}
		out[id] = vetting.DataTypeInfo{Description: desc}
	}
	return out
}

// safeFilePart keeps letters, digits, '-', '_' and '.' of s (at most 64).
func safeFilePart(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// handleWorkbookExport serves GET /api/access-requests/{id}/workbook
// [?data-type=]: the vetting workbook of the request's point-in-time
// snapshot (or of one data type of it, for that type's contact), streamed
// as an attachment.
func (s *Server) handleWorkbookExport(w http.ResponseWriter, r *http.Request) {
	rs, ar, ok := s.loadRequest(w, r)
	if !ok {
		return
	}
	res, err := search.Load(r.Context(), s.st, rs.ID)
	if err != nil {
		s.log.Error("workbook: load snapshot", "request", s.hashID(rs.ID), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	dt := r.URL.Query().Get("data-type")
	if dt != "" && !slices.Contains(res.DataTypes, dt) {
		writeError(w, http.StatusNotFound, "the request's search did not cover this data type")
		return
	}
	lang := ar.Language("en")
	in := vetting.ExportInput{
		RequestID:    rs.ID,
		Lang:         lang,
		Title:        ar.Title,
		Result:       res,
		DataType:     dt,
		DataTypeInfo: s.dataTypeInfo(r.Context(), res.DataTypes, lang),
		GeneratedAt:  time.Now().UTC(),
	}
	name := "docvet-" + safeFilePart(rs.ID)
	if dt != "" {
		name += "-" + safeFilePart(dt)
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".xlsx"}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	cw := &countingWriter{w: w}
	if err := vetting.Export(cw, in, vettingKey(s.secret)); err != nil {
		s.log.Error("workbook: export", "request", s.hashID(rs.ID), "err", err)
		if cw.n == 0 {
			w.Header().Del("Content-Disposition")
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		// Part of the file was sent: cut the connection so the client
		// sees a failed download, not a truncated workbook.
		panic(http.ErrAbortHandler)
	}
	s.log.Info("workbook exported", "request", s.hashID(rs.ID), "scoped", dt != "", "hits", len(res.Hits), "bytes", cw.n)
	s.audit(r.Context(), s.tokenSubject(r), "workbook.download", rs.ID, map[string]any{"data_type": dt, "hits": len(res.Hits)})
}

type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// workbookProblem is one rejection reason of an upload, as JSON.
type workbookProblem struct {
	Sheet   string `json:"sheet,omitempty"`
	Row     int    `json:"row,omitempty"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// workbookRejection is the 422 body of a refused upload.
type workbookRejection struct {
	Error     string            `json:"error"`
	Problems  []workbookProblem `json:"problems"`
	Truncated bool              `json:"truncated,omitempty"`
}

// WorkbookResult is the body of an accepted upload.
type WorkbookResult struct {
	RequestID      string `json:"request_id"`
	DataType       string `json:"data_type,omitempty"`
	State          string `json:"state"`
	Rows           int    `json:"rows"`
	Kept           int    `json:"kept"`
	Withheld       int    `json:"withheld"`
	FileWithheld   int    `json:"file_withheld"`
	Text           int    `json:"text"`
	MetadataEdited int    `json:"metadata_edited"`
}

// handleWorkbookImport serves POST /api/access-requests/{id}/workbook: the
// reviewer's upload (the raw .xlsx as the body, at most
// limits.max_request_body). It is validated against the signed manifest
// and the request's snapshot; on success the decisions replace the previous
// ones of the workbook's scope (each one recorded with reviewer and time for
// the audit log) and, once every data type with hits has decisions, the
// request is "reviewed". A refused upload stores nothing: 422 with the
// problems by sheet, row and column.
func (s *Server) handleWorkbookImport(w http.ResponseWriter, r *http.Request) {
	rs, _, ok := s.loadRequest(w, r)
	if !ok {
		return
	}
	switch rs.State {
	case store.RequestAwaitingReview, store.RequestReviewed:
	default:
		writeError(w, http.StatusConflict, fmt.Sprintf("access request is %s: decisions can no longer be uploaded", rs.State))
		return
	}
	reviewer := s.tokenSubject(r)
	if reviewer == "" {
		writeError(w, http.StatusForbidden, "forbidden: the token names no subject to record as reviewer")
		return
	}
	res, err := search.Load(r.Context(), s.st, rs.ID)
	if err != nil {
		s.log.Error("workbook: load snapshot", "request", s.hashID(rs.ID), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	dt := r.URL.Query().Get("data-type")
	limit := int64(s.cfg.Limits.MaxRequestBody)
	body := http.MaxBytesReader(w, r.Body, limit)
	dec, err := vetting.Import(body, r.ContentLength, vetting.ImportInput{
		RequestID: rs.ID, DataType: dt, Result: &res, MaxBytes: limit,
	}, vettingKey(s.secret))
	var (
		ve  *vetting.ValidationError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe) || errors.Is(err, vetting.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("workbook exceeds %d bytes; nothing was stored", limit))
		return
	case errors.As(err, &ve):
		out := workbookRejection{Error: "workbook rejected; nothing was stored", Problems: []workbookProblem{}, Truncated: ve.Truncated}
		for _, p := range ve.Problems {
			out.Problems = append(out.Problems, workbookProblem{Sheet: p.Sheet, Row: p.Row, Column: p.Column, Message: p.Msg})
		}
		s.log.Info("workbook rejected", "request", s.hashID(rs.ID), "problems", len(ve.Problems))
		s.audit(r.Context(), reviewer, "workbook.rejected", rs.ID, map[string]any{"data_type": dt, "problems": len(ve.Problems)})
		writeJSON(w, http.StatusUnprocessableEntity, out)
		return
	case err != nil:
		s.log.Error("workbook: import", "request", s.hashID(rs.ID), "err", err)
		writeError(w, http.StatusBadRequest, "could not read the uploaded workbook; nothing was stored")
		return
	}
	rows := make([]store.Decision, 0, len(dec.Rows))
	for _, d := range dec.Rows {
		b, err := json.Marshal(delivery.FromRow(d))
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		changes := d.Changes()
		if changes == nil {
			changes = []string{"kept"}
		}
		what, _ := json.Marshal(changes)
		rows = append(rows, store.Decision{RowID: d.RowID, DataType: d.DataType, Decision: b, What: what})
	}
	// Data types with hits: all of them need decisions before the request
	// counts as reviewed (per-type workbooks arrive one by one).
	need := map[string]bool{}
	for _, h := range res.Hits {
		need[h.DataType] = true
	}
	state := rs.State
	err = s.st.Update(context.WithoutCancel(r.Context()), func(tx *store.Tx) error {
		cur, err := tx.RequestState(rs.ID)
		if err != nil {
			return err
		}
		if cur.State != store.RequestAwaitingReview && cur.State != store.RequestReviewed {
			return store.ErrRequestDelivered
		}
		if err := tx.ReplaceDecisions(rs.ID, dt, reviewer, rows); err != nil {
			return err
		}
		decided, err := tx.DecidedDataTypes(rs.ID)
		if err != nil {
			return err
		}
		state = store.RequestReviewed
		for t := range need {
			if decided[t] == 0 {
				state = store.RequestAwaitingReview
			}
		}
		if err := tx.PutRequestState(rs.ID, state, ""); err != nil {
			return err
		}
		kept, withheld, fileWithheld, text, meta := dec.Counts()
		if err := s.auditTx(tx, reviewer, "workbook.upload", rs.ID, map[string]any{"data_type": dt, "rows": len(dec.Rows),
			"kept": kept, "withheld": withheld, "file_withheld": fileWithheld, "text": text, "metadata_edited": meta,
			"decisions_sha256": decisionsDigest(rows)}); err != nil {
			return err
		}
		if state == store.RequestReviewed {
			return s.auditTx(tx, reviewer, "request.reviewed", rs.ID, nil)
		}
		return nil
	})
	if errors.Is(err, store.ErrRequestDelivered) {
		writeError(w, http.StatusConflict, "access request is being delivered: decisions can no longer be uploaded")
		return
	}
	if err != nil {
		s.log.Error("workbook: store decisions", "request", s.hashID(rs.ID), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: nothing was stored")
		return
	}
	if state == store.RequestReviewed {
		s.step("reviewed")
		s.kickDelivery()
	}
	kept, withheld, fileWithheld, text, meta := dec.Counts()
	s.log.Info("workbook imported", "request", s.hashID(rs.ID), "scoped", dt != "", "rows", len(dec.Rows),
		"kept", kept, "withheld", withheld, "file_withheld", fileWithheld, "text", text, "metadata_edited", meta, "state", state)
	writeJSON(w, http.StatusOK, WorkbookResult{RequestID: rs.ID, DataType: dt, State: state, Rows: len(dec.Rows),
		Kept: kept, Withheld: withheld, FileWithheld: fileWithheld, Text: text, MetadataEdited: meta})
}

// decisionsDigest commits the audit chain to the exact decisions stored by
// an upload (row ids, data types, decisions and kinds of change, in upload
// order) without holding them: the decision table can then be checked
// against the chain.
func decisionsDigest(rows []store.Decision) string {
	h := sha256.New()
	for _, r := range rows {
		for _, part := range [][]byte{[]byte(r.RowID), []byte(r.DataType), r.Decision, r.What} {
			fmt.Fprintf(h, "%d:", len(part))
			h.Write(part)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
