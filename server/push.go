package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// receiver is one JSON push endpoint.
type receiver struct {
	dataset string
	check   func(s *Server, index int, raw json.RawMessage) checked
}

func (s *Server) receivers() map[string]receiver {
	return map[string]receiver{
		"custom-documents": {datasetDocuments, func(s *Server, i int, raw json.RawMessage) checked {
			return s.checkDocument(i, raw, s.pushBases, "push")
		}},
		"gdpr-data-type-in":      {datasetDataTypes, (*Server).checkDataType},
		"gdpr-access-request-in": {datasetAccessRequests, (*Server).checkAccessRequest},
		"gdpr-subject-in":        {datasetSubjects, (*Server).checkSubject},
	}
}

// pushParams are the JSON push protocol's query parameters.
type pushParams struct {
	sequenceID, requestID, previousRequestID string
	full, first, last                        bool
	bodyHash                                 string // SHA-256 of the body, hex
}

func parsePushParams(r *http.Request) (pushParams, error) {
	q := r.URL.Query()
	p := pushParams{sequenceID: q.Get("sequence_id"), requestID: q.Get("request_id"), previousRequestID: q.Get("previous_request_id")}
	for name, dst := range map[string]*bool{"is_full": &p.full, "is_first": &p.first, "is_last": &p.last} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, fmt.Errorf("query parameter %s must be true or false", name)
			}
			*dst = b
		}
	}
	if p.full && p.sequenceID == "" {
		return p, errors.New("a full sync (is_full=true) needs a sequence_id")
	}
	return p, nil
}

// seqState is the push sequence state of a dataset, kept in store state
// under "push:<dataset>" and updated in the transaction of each batch.
// Only full syncs have sequences; incremental pushes do not touch it.
type seqState struct {
	SequenceID    string `json:"sequence_id"`
	LastRequestID string `json:"last_request_id"`
	// LastBodyHash is the SHA-256 (hex) of the last accepted request's body:
	// a request reusing its ids is a retry only when the body is the same
	// too. Empty in state written before it existed: ids alone decide.
	LastBodyHash string `json:"last_body_hash,omitempty"`
	Mark         int64  `json:"mark"`
	Done         bool   `json:"done"` // is_last was accepted
	Requests     int    `json:"requests"`
}

func seqKey(dataset string) string { return "push:" + dataset }

func loadSeq(tx *store.Tx, dataset string) (*seqState, error) {
	v, err := tx.State(seqKey(dataset))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st seqState
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return nil, fmt.Errorf("push state of %s: %w", dataset, err)
	}
	return &st, nil
}

func saveSeq(tx *store.Tx, dataset string, st seqState) error {
	b, _ := json.Marshal(st)
	return tx.SetState(seqKey(dataset), string(b))
}

// conflictError is a push that does not fit the active sequence: 409.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

func conflict(format string, a ...any) error {
	return &conflictError{msg: fmt.Sprintf(format, a...) + "; restart the full sync with is_first=true"}
}

// Rejected is one refused entity in a push response.
type Rejected struct {
	ID     string `json:"_id,omitempty"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// PushResult is the body of a receiver's response.
type PushResult struct {
	Accepted  int        `json:"accepted"`          // valid entities committed
	Changed   int        `json:"changed"`           // of those, new versions (others were identical)
	Deleted   int        `json:"deleted,omitempty"` // tombstoned by the end of a full sync
	Duplicate bool       `json:"duplicate,omitempty"`
	Rejected  []Rejected `json:"rejected"`
	Error     string     `json:"error,omitempty"`
}

// handlePush implements the JSON push protocol (SPEC §2) for one receiver.
//
// Status codes: 200 all entities accepted; 422 some entities rejected (the
// valid ones are committed and the request counts as accepted in its
// sequence); 400 malformed body or parameters (entities decoded before a
// syntax error are committed, but the request is not accepted into a
// full-sync sequence: resend it) or a body that broke off while being read
// (nothing committed); 409 out of sequence (nothing committed);
// 413 body over the limit (nothing committed); 415 not JSON.
func (s *Server) handlePush(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("receiver")
	rc, ok := s.receivers()[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no receiver %q", name))
		return
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" ||
		(params["charset"] != "" && !equalFold(params["charset"], "utf-8")) {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json (UTF-8)")
		return
	}
	p, err := parsePushParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The body hash tells a retry from a new request reusing the same ids.
	h := sha256.New()
	body := io.TeeReader(http.MaxBytesReader(w, r.Body, int64(s.cfg.Limits.MaxRequestBody)), h)
	var items []checked
	decErr := sources.DecodeEntities(body, 0, func(i int, raw json.RawMessage) error {
		items = append(items, rc.check(s, i, raw))
		return nil
	})
	var (
		mbe *http.MaxBytesError
		re  *sources.ReadError
		de  *sources.DecodeError
	)
	switch {
	case errors.As(decErr, &mbe):
		s.log.Info("push refused", "receiver", name, "reason", "body too large", "limit", mbe.Limit)
		writeError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body exceeds %d bytes; nothing was stored: send smaller batches", mbe.Limit))
		return
	case errors.As(decErr, &re):
		// The body broke off (client gone, read timeout): it is incomplete,
		// not malformed, so nothing of it is stored.
		s.log.Info("push aborted", "receiver", name, "reason", "body read failed", "offset", re.Offset, "entities", len(items))
		writeError(w, http.StatusBadRequest, "could not read the request body; nothing was stored")
		return
	case decErr != nil && !errors.As(decErr, &de):
		s.log.Error("push failed", "receiver", name, "err", decErr)
		writeError(w, http.StatusInternalServerError, "internal error: nothing was stored")
		return
	}
	p.bodyHash = hex.EncodeToString(h.Sum(nil))
	res, err := s.commitPush(r, rc.dataset, p, items, de == nil)
	var ce *conflictError
	switch {
	case errors.As(err, &ce):
		s.log.Info("push conflict", "receiver", name, "detail", ce.msg)
		writeError(w, http.StatusConflict, ce.msg)
		return
	case err != nil:
		s.log.Error("push failed", "receiver", name, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: nothing was stored")
		return
	}
	status := http.StatusOK
	if len(res.Rejected) > 0 {
		status = http.StatusUnprocessableEntity
	}
	if de != nil {
		res.Error = de.Error()
		status = http.StatusBadRequest
	}
	s.log.Info("push", "receiver", name, "full", p.full, "first", p.first, "last", p.last,
		"accepted", res.Accepted, "changed", res.Changed, "rejected", len(res.Rejected), "deleted", res.Deleted, "status", status)
	writeJSON(w, status, res)
}

// commitPush applies a decoded batch in one transaction, together with the
// sequence state, the full-sync sweep and the rejection records. complete
// is false when the body was cut short by a syntax error: its entities are
// kept but the request does not advance the sequence.
func (s *Server) commitPush(r *http.Request, dataset string, p pushParams, items []checked, complete bool) (PushResult, error) {
	res := PushResult{Rejected: []Rejected{}}
	err := s.st.Update(r.Context(), func(tx *store.Tx) error {
		res = PushResult{Rejected: []Rejected{}}
		st, err := loadSeq(tx, dataset)
		if err != nil {
			return err
		}
		var (
			mark    int64
			advance bool // record this request as the sequence's last
			next    seqState
		)
		active := st != nil && !st.Done
		switch {
		case !p.full:
			// Incremental: the parameters are informational (Sesam), but a
			// request claiming the active full sequence must be full too.
			if active && p.sequenceID == st.SequenceID {
				return conflict("is_full=false in full-sync sequence %q", p.sequenceID)
			}
		case st != nil && p.sequenceID == st.SequenceID && p.requestID != "" && p.requestID == st.LastRequestID &&
			(st.LastBodyHash == "" || st.LastBodyHash == p.bodyHash):
			// A retry of the last accepted request (same ids, same body). Same
			// ids with another body are a new request: with is_first a new
			// sequence, otherwise out of sequence.
			if st.Done {
				res.Duplicate = true
				return nil
			}
			mark = st.Mark
		case p.first:
			if !complete {
				break // upsert what was readable, start nothing
			}
			if mark, err = tx.NextSeq(); err != nil {
				return err
			}
			next = seqState{SequenceID: p.sequenceID, Mark: mark}
			advance = true
		case st == nil || p.sequenceID != st.SequenceID:
			return conflict("unknown sequence_id %q (not started with is_first=true, or replaced by a newer sequence)", p.sequenceID)
		case st.Done:
			return conflict("sequence %q already ended with is_last=true", p.sequenceID)
		case p.previousRequestID != st.LastRequestID:
			return conflict("previous_request_id does not match the last accepted request of sequence %q", p.sequenceID)
		default:
			mark = st.Mark
			next = *st
			advance = complete
		}
		for _, it := range items {
			if !it.ok() {
				res.Rejected = append(res.Rejected, Rejected{ID: it.id, Index: it.index, Reason: it.reason})
				if err := s.recordRejection(tx, dataset, "push", it); err != nil {
					return err
				}
				// A full sync does not delete what the sender still holds,
				// even when its new version was refused.
				if mark != 0 && it.id != "" {
					if _, err := tx.Mark(dataset, it.id, mark); err != nil {
						return err
					}
				}
				continue
			}
			w := it.write
			w.Mark = mark
			pr, err := tx.Put(dataset, w)
			if err != nil {
				return fmt.Errorf("put: %w", err)
			}
			if err := tx.ClearRejection(dataset, it.id); err != nil {
				return err
			}
			if it.then != nil {
				if err := it.then(tx); err != nil {
					return err
				}
			}
			res.Accepted++
			if pr.Changed {
				res.Changed++
			}
		}
		if advance {
			next.LastRequestID = p.requestID
			next.LastBodyHash = p.bodyHash
			next.Requests++
			if p.last {
				next.Done = true
				swept, err := tx.Sweep(dataset, mark)
				if err != nil {
					return err
				}
				res.Deleted = len(swept)
			}
			if err := saveSeq(tx, dataset, next); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return PushResult{}, err
	}
	if dataset == datasetDataTypes && (res.Changed > 0 || res.Deleted > 0) {
		s.dataTypesChanged(r.Context())
	}
	if dataset == datasetDocuments && (res.Changed > 0 || res.Deleted > 0) {
		// Index the new documents now rather than at the next poll.
		s.kickIngest()
	}
	return res, nil
}

// recordRejection stores a rejection for operators. An entity without _id
// is recorded under "(no _id)".
func (s *Server) recordRejection(tx *store.Tx, dataset, origin string, it checked) error {
	id := it.id
	if id == "" {
		id = "(no _id)"
	}
	s.log.Debug("entity rejected", "dataset", dataset, "origin", origin, "entity", s.hashID(id), "index", it.index)
	return tx.Reject(store.Rejection{Dataset: dataset, EntityID: id, Origin: origin, Reason: it.reason})
}
