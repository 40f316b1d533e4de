package server

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	secret := e.srv.Secret()
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": "docvet", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scopes": []string{"read"}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := SignToken(secret, "t", []string{ScopeRead}, time.Hour, now)
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"good", good, 200},
		{"good via helper claims", sign(jwt.SigningMethodHS256, secret, claims(nil)), 200},
		{"no token", "", 401},
		{"garbage", "not.a.token", 401},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), 401},
		{"wrong alg HS512 with the right secret", sign(jwt.SigningMethodHS512, secret, claims(nil)), 401},
		{"wrong alg RS256", sign(jwt.SigningMethodRS256, rsaKey, claims(nil)), 401},
		{"foreign secret", sign(jwt.SigningMethodHS256, []byte("0123456789abcdef0123456789abcdef-other"), claims(nil)), 401},
		{"expired", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), 401},
		{"no exp", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })), 401},
		{"wrong aud", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["aud"] = "sesam" })), 401},
		{"no aud", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "aud") })), 401},
		{"wrong scope", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["scopes"] = []string{"push"} })), 403},
		{"no scopes", sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "scopes") })), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/api/publishers/custom-documents/entities", tc.token, "", nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 && string(r.json(t)["error"].(string)) != msgUnauthorized {
				t.Fatalf("401 message not the fixed one: %s", r.body)
			}
		})
	}
	// Scopes guard each route family.
	for _, c := range []struct {
		method, path, scope string
		status              int
	}{
		{"POST", "/api/receivers/custom-documents/entities", ScopeRead, 403},
		{"GET", "/api/admin/rejections", ScopePush, 403},
		{"GET", "/api/admin/rejections", ScopeAdmin, 200},
		{"GET", "/api/status", ScopeRead, 200},
		{"GET", "/healthz", "", 200},
		// Access requests (subject ids, public keys) need the subjects
		// scope; a read token (monitoring) never reaches them.
		{"GET", "/api/publishers/gdpr-access-request/entities", ScopeRead, 403},
		{"GET", "/api/publishers/gdpr-access-request-out/entities", ScopeRead, 403},
		{"GET", "/api/publishers/gdpr-access-request/entities", ScopeSubjects, 200},
		{"GET", "/api/publishers/gdpr-access-request-out/entities", ScopeSubjects, 200},
		{"GET", "/api/publishers/gdpr-access-request/entities", ScopeAdmin, 403},
		{"GET", "/api/status", ScopeSubjects, 403},
		{"GET", "/api/publishers/custom-documents/entities", ScopeSubjects, 403},
		{"GET", "/api/publishers/gdpr-data-type-out/entities", ScopeRead, 200},
	} {
		r := e.do(c.method, c.path, e.tokens[c.scope], "application/json", nil)
		if r.status != c.status {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.scope, r.status, c.status)
		}
	}
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "jwt.secret")
	s1, err := LoadOrCreateSecret(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v %v", fi.Mode(), err)
	}
	s2, err := LoadOrCreateSecret(p)
	if err != nil || string(s1) != string(s2) || len(s1) < 32 {
		t.Fatalf("secret not stable: %v", err)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := LoadOrCreateSecret(p); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := SignToken(s1, "x", []string{"root"}, time.Hour, time.Now()); err == nil {
		t.Fatal("unknown scope signed")
	}
}
