package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/server"
	"github.com/golang-jwt/jwt/v5"
)

func TestRunTokenAndServe(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := runToken(context.Background(), []string{"--data-dir", dir, "--scope", "push,read", "--ttl", "1h"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	secret, err := server.LoadOrCreateSecret(dir + "/jwt.secret")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse(strings.TrimSpace(out.String()), func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience("docvet"))
	if err != nil || !tok.Valid {
		t.Fatal(err)
	}
	c := tok.Claims.(jwt.MapClaims)
	exp, _ := c.GetExpirationTime()
	if d := time.Until(exp.Time); d < 59*time.Minute || d > time.Hour+time.Minute {
		t.Fatalf("exp in %v", d)
	}
	if err := runToken(context.Background(), []string{"--data-dir", dir}, &out, &errb); err == nil {
		t.Fatal("no scope accepted")
	}
	if err := runServe(context.Background(), []string{"--data-dir", dir, "--check-config"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	// Serve and stop on context cancel.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := runServe(ctx, []string{"--data-dir", dir, "--listen", "127.0.0.1:0"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
}
