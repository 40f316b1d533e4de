package server

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/store"
)

// currentPortalToken derives the request's current portal token as the
// notifier would.
func currentPortalToken(t *testing.T, e *env, id string) (string, store.PortalToken) {
	t.Helper()
	p, err := e.st.PortalTokenOf(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return portalToken(portalKey(e.srv.secret), id, p.Nonce), p
}

func subjectReissues(t *testing.T, e *env, id string) []store.OutboxEntry {
	t.Helper()
	var out []store.OutboxEntry
	err := e.st.Notifications(context.Background(), id, func(n store.OutboxEntry) error {
		if n.Kind == store.NotifySubject && strings.HasPrefix(n.Recipient, "reissue-") {
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func adminAudit(t *testing.T, e *env, id string) map[string]int {
	t.Helper()
	ref := auditRef(e.srv.secret, id)
	got := map[string]int{}
	err := e.st.AuditLog(context.Background(), 0, ref, func(ev store.AuditEvent) error {
		if ev.Event == "portal.reissued" || ev.Event == "portal.revoked" {
			if ev.Actor != "test" {
				t.Errorf("%s audited as %q, want the token subject", ev.Event, ev.Actor)
			}
			got[ev.Event]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPortalLinkAdmin(t *testing.T) {
	e, logs := newPortalEnv(t, func(c *Config) { c.Delivery.PortalFailuresPerMinute = 1000 })
	e.registerType("hr-records")
	const id = "REQ-link-1"
	d := deliverInStore(t, e, id, store.RequestDelivered, time.Now(), time.Hour)
	tokens := []string{d.token}
	path := "/api/access-requests/" + id + "/portal-link"
	subj := e.tokens[ScopeSubjects]
	notFound := portalGet(t, e, "/portal/"+portalToken([]byte("k"), "r", []byte("n")), nil)

	open := func(tok string) int { return portalGet(t, e, "/portal/"+tok, nil).status }
	if open(d.token) != 200 {
		t.Fatal("issued token does not open the portal")
	}

	// Reissue: the old token stops at once, the new one (which only the
	// notification carries) works, the subject is notified now.
	before := time.Now()
	r := e.do("POST", path, subj, "", nil)
	if r.status != 200 {
		t.Fatalf("reissue: %d %s", r.status, r.body)
	}
	var ans struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &ans); err != nil {
		t.Fatalf("reissue answer %s: %v", r.body, err)
	}
	tok1, p1 := currentPortalToken(t, e, id)
	tokens = append(tokens, tok1)
	if tok1 == d.token {
		t.Fatal("reissue kept the token")
	}
	if !ans.ExpiresAt.Equal(p1.ExpiresAt.UTC()) || ans.ExpiresAt.Before(before.Add(720*time.Hour-time.Minute)) {
		t.Errorf("expires_at %s, stored %s, want about now+token_ttl", ans.ExpiresAt, p1.ExpiresAt)
	}
	for _, tok := range tokens {
		if bytes.Contains(r.body, []byte(tok)) || bytes.Contains(r.body, []byte(tokenHash(tok))) {
			t.Fatal("the answer holds a token")
		}
	}
	var m map[string]any
	json.Unmarshal(r.body, &m)
	if len(m) != 1 {
		t.Errorf("answer %s: want expires_at only", r.body)
	}
	sameResponse(t, "old token after reissue", portalGet(t, e, "/portal/"+d.token, nil), notFound)
	if open(tok1) != 200 {
		t.Fatal("reissued token does not open the portal")
	}
	n := subjectReissues(t, e, id)
	if len(n) != 1 || n[0].DueAt.After(time.Now()) || !n[0].SentAt.IsZero() {
		t.Fatalf("subject notifications after reissue: %+v", n)
	}

	// A second reissue is a second notification, not deduplicated.
	if r := e.do("POST", path, subj, "", nil); r.status != 200 {
		t.Fatalf("second reissue: %d %s", r.status, r.body)
	}
	tok2, _ := currentPortalToken(t, e, id)
	tokens = append(tokens, tok2)
	if open(tok1) != 404 || open(tok2) != 200 {
		t.Fatal("second reissue did not replace the first")
	}
	if n := subjectReissues(t, e, id); len(n) != 2 {
		t.Fatalf("%d reissue notifications, want 2", len(n))
	}

	// Revoke: 204, unusable at once, idempotent.
	if r := e.do("DELETE", path, subj, "", nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	sameResponse(t, "revoked token", portalGet(t, e, "/portal/"+tok2, nil), notFound)
	sameResponse(t, "revoked token's item", portalGet(t, e, "/portal/"+tok2+"/items/"+recIDOf(d), nil), notFound)
	sameResponse(t, "revoked token's bundle", portalGet(t, e, "/portal/"+tok2+"/bundle", nil), notFound)
	revoked, p := currentPortalToken(t, e, id)
	tokens = append(tokens, revoked)
	if open(revoked) != 404 || p.ExpiresAt.After(time.Now()) {
		t.Fatalf("the revoking token works or has not expired: %s", p.ExpiresAt)
	}
	if r := e.do("DELETE", path, subj, "", nil); r.status != 204 {
		t.Fatalf("second revoke: %d %s", r.status, r.body)
	}
	if n := subjectReissues(t, e, id); len(n) != 2 {
		t.Fatalf("revoke notified the subject: %d reissue notifications", len(n))
	}
	// The status API shows the link's end.
	st := e.get("/api/access-requests/"+id, ScopeSubjects)
	var status struct {
		Delivery struct {
			PortalExpires time.Time `json:"portal_expires_at"`
		} `json:"delivery"`
	}
	if err := json.Unmarshal(st.body, &status); err != nil || status.Delivery.PortalExpires.After(time.Now()) {
		t.Errorf("status after revoke: %s %v", st.body, err)
	}

	// A revoked link can be reissued.
	if r := e.do("POST", path, subj, "", nil); r.status != 200 {
		t.Fatalf("reissue after revoke: %d %s", r.status, r.body)
	}
	tok3, _ := currentPortalToken(t, e, id)
	tokens = append(tokens, tok3)
	if open(tok3) != 200 {
		t.Fatal("reissue after revoke does not open the portal")
	}

	if got := adminAudit(t, e, id); got["portal.reissued"] != 3 || got["portal.revoked"] != 2 {
		t.Errorf("audit: %v", got)
	}

	t.Run("refusals", func(t *testing.T) {
		delivering := deliverInStore(t, e, "REQ-link-delivering", store.RequestDelivering, time.Now(), time.Hour)
		withdrawn := deliverInStore(t, e, "REQ-link-withdrawn", store.RequestDelivered, time.Now(), time.Hour)
		if r := e.push("gdpr-access-request-in", "", `{"_id":"REQ-link-withdrawn","_deleted":true}`); r.status != 200 {
			t.Fatalf("delete: %d", r.status)
		}
		if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
			return tx.PutRequestState("REQ-link-received", store.RequestReceived, "")
		}); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, delivering.token, withdrawn.token)
		for _, tc := range []struct {
			method, id, token string
			status            int
			msg               string
		}{
			{"POST", delivering.id, subj, 409, "delivering"},
			{"POST", withdrawn.id, subj, 409, "deleted"},
			{"POST", "REQ-link-received", subj, 409, "received"},
			{"DELETE", "REQ-link-received", subj, 404, "no portal link"},
			{"POST", "REQ-nope", subj, 404, "no such access request"},
			{"DELETE", "REQ-nope", subj, 404, "no such access request"},
			{"POST", id, e.tokens[ScopeRead], 403, "scope"},
			{"DELETE", id, e.tokens[ScopeRead], 403, "scope"},
			{"POST", id, e.tokens[ScopePush], 403, "scope"},
			{"POST", id, "", 401, "unauthorized"},
			{"DELETE", id, "", 401, "unauthorized"},
		} {
			r := e.do(tc.method, "/api/access-requests/"+tc.id+"/portal-link", tc.token, "", nil)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.id, r.status, r.body, tc.status, tc.msg)
			}
		}
		// Refused reissues changed nothing.
		if cur, _ := currentPortalToken(t, e, delivering.id); cur != delivering.token {
			t.Error("a refused reissue replaced the token")
		}
		if open(tok3) != 200 {
			t.Error("a refused call touched another request's link")
		}
		for _, rid := range []string{delivering.id, withdrawn.id, "REQ-link-received"} {
			if n := subjectReissues(t, e, rid); len(n) != 0 {
				t.Errorf("refused reissue notified: %+v", n)
			}
			if got := adminAudit(t, e, rid); len(got) != 0 {
				t.Errorf("refused call audited: %v", got)
			}
		}
	})

	t.Run("concurrent reissue and revoke", func(t *testing.T) {
		// Whatever the order, the last write decides; after both the
		// store holds exactly one token and the API agrees with it.
		done := make(chan int, 2)
		go func() { done <- e.do("POST", path, subj, "", nil).status }()
		go func() { done <- e.do("DELETE", path, subj, "", nil).status }()
		a, b := <-done, <-done
		if a+b != 200+204 {
			t.Fatalf("statuses %d %d", a, b)
		}
		cur, p := currentPortalToken(t, e, id)
		tokens = append(tokens, cur)
		want := 404
		if p.ExpiresAt.After(time.Now()) {
			want = 200
		}
		if open(cur) != want {
			t.Fatalf("current token: want %d", want)
		}
	})

	t.Run("logs and audit hold no token", func(t *testing.T) {
		out := logs.String()
		for _, tok := range tokens {
			if strings.Contains(out, tok) || strings.Contains(out, tokenHash(tok)) {
				t.Error("log holds a token")
			}
		}
		if strings.Contains(out, id) {
			t.Error("log names the request id in clear")
		}
		err := e.st.AuditLog(context.Background(), 0, "", func(ev store.AuditEvent) error {
			raw, _ := json.Marshal(ev)
			for _, tok := range tokens {
				if bytes.Contains(raw, []byte(tok)) || bytes.Contains(raw, []byte(tokenHash(tok))) {
					t.Errorf("audit entry %s holds a token", ev.Event)
				}
			}
			if bytes.Contains(raw, []byte(id)) {
				t.Errorf("audit entry %s names the request", ev.Event)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
