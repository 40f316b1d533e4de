package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

func TestRequestPortalLink(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, srv, hs := apiServer(t, dir)
	tokFile := filepath.Join(dir, "token")
	writeTok := func(scopes ...string) {
		tok, err := server.SignToken(srv.Secret(), "cli-reviewer", scopes, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeTok(server.ScopePush, server.ScopeSubjects)
	conn := []string{"--server", hs.URL, "--token-file", tokFile}
	var out, errb bytes.Buffer
	run := func(f func(context.Context, []string, io.Writer, io.Writer) error, args ...string) error {
		out.Reset()
		errb.Reset()
		return f(ctx, append(args, conn...), &out, &errb)
	}
	key := filepath.Join("..", "..", "server", "testdata", "subject-x25519.asc")
	for _, id := range []string{"r1", "r2"} {
		if err := run(runRequest, "create", "--id", id, "--user-id", "u-"+id, "--email", "kari@example.org", "--key", key); err != nil {
			t.Fatal(err, errb.String())
		}
	}
	// Stand in for the delivery: r1 delivered with a portal token.
	old := store.PortalToken{TokenHash: strings.Repeat("ab", 32), RequestID: "r1", Nonce: bytes.Repeat([]byte{1}, 16),
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutRequestState("r1", store.RequestDelivered, ""); err != nil {
			return err
		}
		return tx.PutPortalToken(old)
	}); err != nil {
		t.Fatal(err)
	}

	// Reissue: a new token valid for token_ttl, a subject notification.
	if err := run(runRequestPortalLink, "r1", "--reissue"); err != nil {
		t.Fatal(err, errb.String())
	}
	p, err := st.PortalTokenOf(ctx, "r1")
	if err != nil || p.TokenHash == old.TokenHash || p.ExpiresAt.Before(time.Now().Add(700*time.Hour)) {
		t.Fatalf("token after reissue: %+v %v", p, err)
	}
	if !strings.Contains(out.String(), "new portal link issued, valid until "+p.ExpiresAt.UTC().Format(time.RFC3339)) {
		t.Errorf("reissue output %q", out.String())
	}
	subjectMsgs := func(id string) int {
		n := 0
		if err := st.Notifications(ctx, id, func(e store.OutboxEntry) error {
			if e.Kind == store.NotifySubject {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := subjectMsgs("r1"); n != 1 {
		t.Fatalf("%d subject notifications after reissue, want 1", n)
	}

	// Revoke (flags before the id work too): expired at once.
	if err := run(runRequestPortalLink, "--revoke", "r1"); err != nil {
		t.Fatal(err, errb.String())
	}
	p, err = st.PortalTokenOf(ctx, "r1")
	if err != nil || p.ExpiresAt.After(time.Now()) {
		t.Fatalf("token after revoke: %+v %v", p, err)
	}
	if !strings.Contains(out.String(), "portal link revoked") {
		t.Errorf("revoke output %q", out.String())
	}
	events := map[string]int{}
	if err := st.AuditLog(ctx, 0, server.AuditRef(srv.Secret(), "r1"), func(e store.AuditEvent) error {
		if e.Actor == "cli-reviewer" {
			events[e.Event]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if events["portal.reissued"] != 1 || events["portal.revoked"] != 1 {
		t.Errorf("audit: %v", events)
	}

	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"r1"}, true, "--reissue|--revoke"},
		{[]string{"r1", "--reissue", "--revoke"}, true, "--reissue|--revoke"},
		{[]string{"--reissue"}, true, "--reissue|--revoke"},
		{[]string{"r1", "r2", "--reissue"}, true, "--reissue|--revoke"},
		{[]string{"r2", "--reissue"}, false, "409"},
		{[]string{"r2", "--revoke"}, false, "no portal link"},
		{[]string{"nope", "--reissue"}, false, "404"},
	} {
		err := run(runRequestPortalLink, tc.args...)
		if err == nil || errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want usage=%v and %q", tc.args, err, tc.usage, tc.want)
		}
	}
	if n := subjectMsgs("r2"); n != 0 {
		t.Errorf("a refused reissue notified the subject")
	}
	// A token without the subjects scope is refused by the server.
	writeTok(server.ScopeRead)
	if err := run(runRequestPortalLink, "r1", "--reissue"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("read token: %v", err)
	}
}
