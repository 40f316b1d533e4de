package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/docvet/docvet/store"
)

// Audit actors that are not token subjects.
const (
	actorSystem   = "system"   // the lifecycle runner
	actorReceiver = "receiver" // a push to a receiver
	actorPortal   = "portal"   // the data subject, through the portal
)

const (
	auditKeyLabel   = "docvet/audit-ref/v1"
	auditChainLabel = "docvet/audit-chain/v1"
)

// AuditChainKey derives the key of the audit log's hash chain from the
// server secret (store.SetAuditKey): the key lives outside the database.
func AuditChainKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(auditChainLabel))
	return m.Sum(nil)
}

// auditRef is how the audit log names a request or a subject identifier: a
// keyed hash (128 bits), so the log correlates entries without holding
// identifiers, and a leaked log cannot be reversed by hashing guesses
// without the server secret. docvet audit computes it from an id given on
// the command line.
func auditRef(secret []byte, id string) string {
	if id == "" {
		return ""
	}
	k := hmac.New(sha256.New, secret)
	k.Write([]byte(auditKeyLabel))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// AuditRef returns the audit log's reference for an access-request id.
func AuditRef(secret []byte, requestID string) string { return auditRef(secret, requestID) }

// auditTx appends an audit entry in tx. detail must hold counts, kinds and
// safe reasons only: never identifiers, document text, tokens or keys.
func (s *Server) auditTx(tx *store.Tx, actor, event, requestID string, detail any) error {
	return tx.AppendAudit(actor, event, auditRef(s.secret, requestID), detail)
}

// audit appends an audit entry in its own transaction; a failure is logged
// (the action it records has happened already).
func (s *Server) audit(ctx context.Context, actor, event, requestID string, detail any) {
	if err := s.st.AppendAudit(context.WithoutCancel(ctx), actor, event, auditRef(s.secret, requestID), detail); err != nil {
		s.log.Error("audit: append", "event", event, "err", err)
	}
}

// AuditEntry is one audit log entry as the admin API shows it.
type AuditEntry struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Event   string          `json:"event"`
	Request string          `json:"request,omitempty"`
	Detail  json.RawMessage `json:"detail"`
	Prev    string          `json:"prev"`
	Hash    string          `json:"hash"`
}

// AuditVerification is the body of GET /api/admin/audit/verify.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Entries int64  `json:"entries"`
	Head    string `json:"head,omitempty"`
	Error   string `json:"error,omitempty"`
}

// handleAuditVerify serves GET /api/admin/audit/verify: it checks the hash
// chain of the whole audit log. A broken chain is a 200 with ok false and
// the first broken entry (the check itself worked).
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	sum, err := s.st.VerifyAudit(r.Context())
	switch {
	case errors.Is(err, store.ErrAuditBroken):
		writeJSON(w, http.StatusOK, AuditVerification{Error: err.Error()})
	case err != nil:
		s.log.Error("audit verify", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	default:
		writeJSON(w, http.StatusOK, AuditVerification{OK: true, Entries: sum.Entries, Head: sum.Head})
	}
}

// handleAuditLog serves GET /api/admin/audit[?request=ID][&after=SEQ]
// [&limit=N]: entries in order, those of one access request when given
// (matched by its audit reference).
func (s *Server) handleAuditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "after must be a sequence number")
			return
		}
		after = n
	}
	limit := 10000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			writeError(w, http.StatusBadRequest, "limit must be 1..100000")
			return
		}
		limit = n
	}
	ref := ""
	if id := q.Get("request"); id != "" {
		ref = auditRef(s.secret, id)
	}
	out := []AuditEntry{}
	errLimit := errors.New("limit")
	err := s.st.AuditLog(r.Context(), after, ref, func(e store.AuditEvent) error {
		if len(out) >= limit {
			return errLimit
		}
		out = append(out, AuditEntry{Seq: e.Seq, At: e.At.UTC(), Actor: e.Actor, Event: e.Event, Request: e.Request,
			Detail: e.Detail, Prev: e.Prev, Hash: e.Hash})
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		s.log.Error("audit log", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "truncated": errors.Is(err, errLimit)})
}
