package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token scopes. They do not imply each other: an admin token cannot push
// unless it also carries "push".
const (
	ScopePush  = "push"  // receivers
	ScopeRead  = "read"  // /api/status and the publishers of documents and data types
	ScopeAdmin = "admin" // /api/admin/*
	// ScopeSubjects reads the publishers that carry data subjects' data (the
	// access requests: subject ids and public keys). It is separate from
	// read so a monitoring token for /api/status never reaches them.
	ScopeSubjects = "subjects"
)

// Audience is the required "aud" of every token.
const Audience = "docvet"

// Scopes returns the valid scopes.
func Scopes() []string { return []string{ScopePush, ScopeRead, ScopeSubjects, ScopeAdmin} }

const minSecretLen = 32

// LoadSecret reads an existing secret file; unlike LoadOrCreateSecret it
// never creates one (operator commands must not mint a new secret when the
// configured file is missing: every token and portal link would change).
func LoadSecret(path string) ([]byte, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return LoadOrCreateSecret(path)
}

// LoadOrCreateSecret reads the HMAC secret at path, creating it (32 random
// bytes, hex, mode 0600) when it does not exist. A secret shorter than 32
// bytes is refused.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create secret dir: %w", err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another process won the race
			return LoadOrCreateSecret(path)
		}
		if err != nil {
			return nil, fmt.Errorf("create JWT secret: %w", err)
		}
		secret := []byte(hex.EncodeToString(raw))
		_, werr := f.Write(append(secret, '\n'))
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("write JWT secret: %w", err)
		}
		return secret, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read JWT secret: %w", err)
	}
	secret := bytes.TrimSpace(b)
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("JWT secret file holds %d bytes; at least %d are required", len(secret), minSecretLen)
	}
	return secret, nil
}

// claims are the token claims docvet issues and checks.
type claims struct {
	Scopes []string `json:"scopes"`
	jwt.RegisteredClaims
}

// SignToken returns an HS256 token for audience "docvet" with the given
// scopes, valid for ttl from now.
func SignToken(secret []byte, subject string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	if len(scopes) == 0 {
		return "", errors.New("at least one scope is required")
	}
	valid := Scopes()
	for _, s := range scopes {
		if !slices.Contains(valid, s) {
			return "", fmt.Errorf("unknown scope %q (want %s)", s, strings.Join(valid, ", "))
		}
	}
	if ttl <= 0 {
		return "", errors.New("ttl must be positive")
	}
	c := claims{
		Scopes: scopes,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "docvet",
			Subject:   subject,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// authenticator checks bearer tokens.
type authenticator struct {
	secret []byte
	parser *jwt.Parser
}

func newAuthenticator(secret []byte) *authenticator {
	return &authenticator{
		secret: secret,
		// The algorithm is pinned: "none", RS256 with the secret as a
		// "public key" and every other confusion are refused by the parser.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithAudience(Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

// scopes verifies the bearer token of r and returns its scopes.
func (a *authenticator) scopes(r *http.Request) ([]string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil, errors.New("no bearer token")
	}
	var c claims
	_, err := a.parser.ParseWithClaims(strings.TrimSpace(tok), &c, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return a.secret, nil
	})
	if err != nil {
		return nil, err
	}
	return c.Scopes, nil
}

const msgUnauthorized = "unauthorized: missing, invalid or expired bearer token"

// require wraps h so it runs only for a valid token carrying scope.
func (s *Server) require(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scopes, err := s.auth.scopes(r)
		if err != nil {
			// The detail (expired, bad signature, wrong alg) helps operators;
			// it names no token content.
			s.log.Info("request refused", "reason", "token", "detail", err.Error(), "path", r.Pattern)
			w.Header().Set("WWW-Authenticate", `Bearer realm="docvet"`)
			writeError(w, http.StatusUnauthorized, msgUnauthorized)
			return
		}
		if !slices.Contains(scopes, scope) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("forbidden: this token lacks the %q scope", scope))
			return
		}
		h(w, r)
	}
}
