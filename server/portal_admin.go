package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/docvet/docvet/store"
)

// Reissuing and revoking a subject's portal link (scope subjects):
//
//	POST   /api/access-requests/{id}/portal-link  new token, old one revoked, subject notified
//	DELETE /api/access-requests/{id}/portal-link  token revoked at once
//
// Neither answer carries the token: it reaches the subject only through
// the notification (derived from the stored nonce when it is sent), so an
// operator's API token cannot be turned into a portal link.

// errPortalConflict: the request cannot have a portal link now; the
// message is safe for the API answer.
type errPortalConflict struct{ msg string }

func (e errPortalConflict) Error() string { return e.msg }

// portalLinkAnswer is the body of a reissue.
type portalLinkAnswer struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// handlePortalReissue serves POST /api/access-requests/{id}/portal-link: a
// delivered request gets a new portal token (the old one stops working in
// the same transaction) and the subject a new "data available"
// notification, due now.
func (s *Server) handlePortalReissue(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	actor := s.tokenSubject(r)
	var p store.PortalToken
	err := s.st.Update(r.Context(), func(tx *store.Tx) error {
		rs, err := tx.RequestState(id)
		if err != nil {
			return err
		}
		if rs.State != store.RequestDelivered {
			return errPortalConflict{fmt.Sprintf("access request is %s: only a delivered request has a portal link", rs.State)}
		}
		e, err := tx.Get(datasetAccessRequests, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && e.Deleted) {
			return errPortalConflict{"the access request is deleted: its portal stays closed"}
		}
		if err != nil {
			return err
		}
		now := time.Now()
		if p, err = s.issuePortalToken(tx, id, now, s.cfg.Delivery.TokenTTL); err != nil {
			return err
		}
		// The outbox keeps one entry per (kind, request, recipient); the
		// notifier sends the subject's message whatever the recipient
		// says, so each reissue gets its own.
		if err := tx.Enqueue(store.NotifySubject, id, "reissue-"+strconv.FormatInt(now.UnixNano(), 10), now); err != nil {
			return err
		}
		return s.auditTx(tx, actor, "portal.reissued", id, nil)
	})
	if !s.portalAdminError(w, "reissue", id, err) {
		return
	}
	s.log.Info("portal: link reissued", "request", s.hashID(id))
	s.kickNotifier()
	// The store keeps microseconds: answer what GET .../{id} will show.
	writeJSON(w, http.StatusOK, portalLinkAnswer{ExpiresAt: p.ExpiresAt.Truncate(time.Microsecond).UTC()})
}

// handlePortalRevoke serves DELETE /api/access-requests/{id}/portal-link:
// the request's portal token stops working at once. It is idempotent: a
// request whose link is revoked already answers 204 again.
func (s *Server) handlePortalRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	actor := s.tokenSubject(r)
	if _, err := s.st.RequestState(r.Context(), id); err != nil {
		s.portalAdminError(w, "revoke", id, err)
		return
	}
	if _, err := s.st.PortalTokenOf(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errNoPortalLink
		}
		s.portalAdminError(w, "revoke", id, err)
		return
	}
	err := s.st.Update(r.Context(), func(tx *store.Tx) error {
		if _, err := tx.RequestState(id); err != nil {
			return err
		}
		if err := s.revokePortalToken(tx, id, time.Now()); err != nil {
			return err
		}
		return s.auditTx(tx, actor, "portal.revoked", id, nil)
	})
	if !s.portalAdminError(w, "revoke", id, err) {
		return
	}
	s.log.Info("portal: link revoked", "request", s.hashID(id))
	w.WriteHeader(http.StatusNoContent)
}

var errNoPortalLink = errors.New("access request has no portal link")

// portalAdminError writes the answer for err and reports whether err was
// nil.
func (s *Server) portalAdminError(w http.ResponseWriter, op, id string, err error) bool {
	var conflict errPortalConflict
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such access request")
	case errors.Is(err, errNoPortalLink):
		writeError(w, http.StatusNotFound, errNoPortalLink.Error())
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, conflict.msg)
	default:
		s.log.Error("portal: "+op, "request", s.hashID(id), "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
	return false
}
