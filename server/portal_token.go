package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/docvet/docvet/store"
)

// A portal token opens one request's delivery in the subject's portal. It
// is derived from a random 128-bit nonce stored with the request and a key
// derived from the server secret: whoever holds only the database cannot
// compute a token (only its SHA-256 and the nonce are stored), and the
// server can derive it again to re-send a notification after a crash.
const portalKeyLabel = "docvet/portal-token/v1"

func portalKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(portalKeyLabel))
	return m.Sum(nil)
}

// portalToken derives the token of a request from its nonce: 256 bits,
// base64url (43 characters).
func portalToken(key []byte, requestID string, nonce []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("docvet-portal-token\x00"))
	m.Write([]byte(requestID))
	m.Write([]byte{0})
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenHash is what the store keeps and looks tokens up by.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// validTokenShape reports whether s could be a portal token (43 base64url
// characters), so malformed input is refused before any lookup.
func validTokenShape(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// issuePortalToken gives the request a new portal token (revoking an
// earlier one) in tx, valid for ttl from now.
func (s *Server) issuePortalToken(tx *store.Tx, requestID string, now time.Time, ttl time.Duration) (store.PortalToken, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return store.PortalToken{}, fmt.Errorf("portal token: %w", err)
	}
	tok := portalToken(portalKey(s.secret), requestID, nonce)
	p := store.PortalToken{TokenHash: tokenHash(tok), RequestID: requestID, Nonce: nonce, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	return p, tx.PutPortalToken(p)
}

// revokePortalToken makes the request's portal token unusable in tx: it
// is replaced by one derived from a fresh nonce that expired when it was
// made, so the old token's hash is gone from the store and the new token,
// never sent to anyone, would get the portal's 404 anyway. (The store
// keeps one token per request and has no delete; the expired row also
// lets the status API show when the link stopped working.)
func (s *Server) revokePortalToken(tx *store.Tx, requestID string, now time.Time) error {
	_, err := s.issuePortalToken(tx, requestID, now, 0)
	return err
}

// portalLink is the subject's link to their delivery: the configured
// public portal URL with the token. Never log it.
func (s *Server) portalLink(p store.PortalToken) string {
	base := strings.TrimRight(s.cfg.Delivery.PortalURL, "/")
	return base + "/portal/" + portalToken(portalKey(s.secret), p.RequestID, p.Nonce)
}
