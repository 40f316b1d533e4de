package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docvet/docvet/store"
)

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newPortalEnv is newEnv with the server's log captured.
func newPortalEnv(t *testing.T, mutate func(*Config)) (*env, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	if mutate != nil {
		mutate(&cfg)
	}
	e := &env{t: t, dir: dir, cfg: cfg, st: openStore(t, dir)}
	logs := &lockedBuffer{}
	srv, err := New(e.st, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(e.stop)
	e.tokens = map[string]string{}
	for _, sc := range Scopes() {
		tok, err := SignToken(srv.Secret(), "test", []string{sc}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[sc] = tok
	}
	return e, logs
}

// delivered is a request put in the store as a finished delivery.
type delivered struct {
	id     string
	token  string
	items  map[string][]byte // item id -> ciphertext
	kinds  map[string]string // item id -> kind
	bundle []byte
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func putBlob(t testing.TB, e *env, data []byte) string {
	t.Helper()
	bw, err := e.srv.deliverer.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bw.Write(data); err != nil {
		t.Fatal(err)
	}
	addr, n, err := bw.Commit()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("commit blob: %d %v", n, err)
	}
	return addr
}

// deliverInStore records request id as state with one delivered row (a
// record and a file item), one withheld row, a bundle and a portal token
// valid from issued for ttl; it pushes the access request entity first
// when there is none (the portal is closed without it).
func deliverInStore(t *testing.T, e *env, id, state string, issued time.Time, ttl time.Duration) delivered {
	t.Helper()
	if _, err := e.st.Get(context.Background(), datasetAccessRequests, id); errors.Is(err, store.ErrNotFound) {
		if r := e.push("gdpr-access-request-in", "", accessRequest(id)); r.status != 200 {
			t.Fatalf("push %s: %d %s", id, r.status, r.body)
		}
	}
	return deliverInStoreOnly(t, e, id, state, issued, ttl)
}

// deliverInStoreOnly is deliverInStore without the entity.
func deliverInStoreOnly(t *testing.T, e *env, id, state string, issued time.Time, ttl time.Duration) delivered {
	t.Helper()
	d := delivered{id: id, items: map[string][]byte{}, kinds: map[string]string{}}
	recID, fileID := newTestItemID(t), newTestItemID(t)
	d.items[recID], d.kinds[recID] = randomBytes(t, 700), store.ItemRecord
	d.items[fileID], d.kinds[fileID] = randomBytes(t, 150<<10), store.ItemFile
	d.bundle = append([]byte("PK\x03\x04"), randomBytes(t, 3000)...)
	var items []store.DeliveryItem
	for _, iid := range []string{recID, fileID} {
		items = append(items, store.DeliveryItem{ItemID: iid, Kind: d.kinds[iid], Blob: putBlob(t, e, d.items[iid]), Size: int64(len(d.items[iid]))})
	}
	bundleAddr := putBlob(t, e, d.bundle)
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		if err := tx.PutRequestState(id, state, ""); err != nil {
			return err
		}
		if err := tx.PutDeliveryRow(store.DeliveryRow{RequestID: id, RowID: "row-" + id + "-1", DataType: "hr-records", Outcome: store.OutcomeDelivered}, items); err != nil {
			return err
		}
		if err := tx.PutDeliveryRow(store.DeliveryRow{RequestID: id, RowID: "row-" + id + "-2", DataType: "hr-records", Outcome: store.OutcomeWithheld}, nil); err != nil {
			return err
		}
		if err := tx.PutBundle(store.Bundle{RequestID: id, Blob: bundleAddr, Size: int64(len(d.bundle))}); err != nil {
			return err
		}
		p, err := e.srv.issuePortalToken(tx, id, issued, ttl)
		if err != nil {
			return err
		}
		d.token = portalToken(portalKey(e.srv.secret), id, p.Nonce)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newTestItemID(t testing.TB) string { return fmt.Sprintf("%x", randomBytes(t, 16)) }

// reissue gives the request a new token (revoking the old one).
func reissue(t *testing.T, e *env, id string) string {
	t.Helper()
	var tok string
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		p, err := e.srv.issuePortalToken(tx, id, time.Now(), time.Hour)
		tok = portalToken(portalKey(e.srv.secret), id, p.Nonce)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type portalResp struct {
	status int
	header http.Header
	body   []byte
}

func portalGet(t *testing.T, e *env, path string, hdr map[string]string) portalResp {
	t.Helper()
	req, err := http.NewRequest("GET", e.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := e.http.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return portalResp{res.StatusCode, res.Header, b}
}

// serveFrom runs one request through the handler as client addr.
func serveFrom(e *env, addr, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func wantPortalHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'unsafe-inline'") {
		t.Errorf("%s: Content-Security-Policy = %q", what, csp)
	}
}

// sameResponse compares everything but Date.
func sameResponse(t *testing.T, what string, got, want portalResp) {
	t.Helper()
	if got.status != want.status || !bytes.Equal(got.body, want.body) {
		t.Errorf("%s: %d %q, want %d %q", what, got.status, clip(got.body), want.status, clip(want.body))
	}
	g, w := got.header.Clone(), want.header.Clone()
	g.Del("Date")
	w.Del("Date")
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if !bytes.Equal(gj, wj) {
		t.Errorf("%s: headers %s, want %s", what, gj, wj)
	}
}

func clip(b []byte) []byte {
	if len(b) > 120 {
		return b[:120]
	}
	return b
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

func TestPortal(t *testing.T) {
	e, logs := newPortalEnv(t, func(c *Config) { c.Delivery.PortalFailuresPerMinute = 1000 })
	if e.srv.portalRL == nil || e.srv.portalRL.limit != 1000 {
		t.Fatalf("New does not set up the portal limiter from delivery.portal_failures_per_minute: %+v", e.srv.portalRL)
	}
	e.registerType("hr-records")
	const reqID = "REQ-canary-7731"
	if r := e.push("gdpr-access-request-in", "", accessRequest(reqID)); r.status != 200 {
		t.Fatalf("push request: %d %s", r.status, r.body)
	}
	now := time.Now()
	d := deliverInStore(t, e, reqID, store.RequestDelivered, now, time.Hour)
	other := deliverInStore(t, e, "REQ-other", store.RequestDelivered, now, time.Hour)
	expired := deliverInStore(t, e, "REQ-expired", store.RequestDelivered, now.Add(-2*time.Hour), time.Hour)
	delivering := deliverInStore(t, e, "REQ-delivering", store.RequestDelivering, now, time.Hour)
	failed := deliverInStore(t, e, "REQ-failed", store.RequestFailed, now, time.Hour)
	replaced := deliverInStore(t, e, "REQ-replaced", store.RequestDelivered, now, time.Hour)
	newToken := reissue(t, e, replaced.id)
	tokens := []string{d.token, other.token, expired.token, delivering.token, failed.token, replaced.token, newToken}

	var recID, fileID string
	for id, k := range d.kinds {
		if k == store.ItemFile {
			fileID = id
		} else {
			recID = id
		}
	}
	var otherItem string
	for id := range other.items {
		otherItem = id
	}

	t.Run("page", func(t *testing.T) {
		r := portalGet(t, e, "/portal/"+d.token, nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		wantPortalHeaders(t, "page", r.header)
		if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		mustContain(t, "page", r.body, `<html lang="en">`, "description and text", "original file",
			"gpg --output NAME --decrypt", "docvet decrypt --key", "hr-records", "docvet-delivery.zip")
		if bytes.Contains(r.body, []byte("use-embedded-filename")) {
			t.Error("page recommends gpg --use-embedded-filename")
		}
		for _, no := range []string{reqID, "u-" + reqID, "row-", "http://", "https://", "/portal/"} {
			if bytes.Contains(r.body, []byte(no)) {
				t.Errorf("page names %q", no)
			}
		}
		// Counts: one delivered and one withheld row.
		if !regexp.MustCompile(`<td>hr-records</td><td class="n">1</td><td class="n">0</td><td class="n">1</td>`).Match(r.body) {
			t.Errorf("counts missing: %s", r.body)
		}
		// Every link resolves, relative to the page, to a download.
		base, _ := url.Parse(e.http.URL + "/portal/" + d.token)
		got := map[string][]byte{}
		for _, m := range hrefRE.FindAllSubmatch(r.body, -1) {
			u, err := base.Parse(string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			res := portalGet(t, e, u.Path, nil)
			if res.status != 200 {
				t.Fatalf("link %s: %d", m[1], res.status)
			}
			got[u.Path] = res.body
		}
		p := "/portal/" + d.token
		for path, want := range map[string][]byte{p + "/items/" + recID: d.items[recID], p + "/items/" + fileID: d.items[fileID], p + "/bundle": d.bundle} {
			if !bytes.Equal(got[path], want) {
				t.Errorf("page does not link %s to its content (%d links)", path, len(got))
			}
		}
		if len(got) != 3 {
			t.Errorf("page has %d links, want 3", len(got))
		}
	})

	t.Run("item", func(t *testing.T) {
		for id, want := range d.items {
			r := portalGet(t, e, "/portal/"+d.token+"/items/"+id, nil)
			if r.status != 200 || !bytes.Equal(r.body, want) {
				t.Fatalf("item %s: %d, %d bytes, want %d", d.kinds[id], r.status, len(r.body), len(want))
			}
			wantPortalHeaders(t, "item", r.header)
			if ct := r.header.Get("Content-Type"); ct != "application/pgp-encrypted" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="`+id+`.pgp"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Errorf("Content-Length %q, want %d", cl, len(want))
			}
		}
	})

	t.Run("range", func(t *testing.T) {
		want := d.items[fileID]
		r := portalGet(t, e, "/portal/"+d.token+"/items/"+fileID, map[string]string{"Range": "bytes=1000-70999"})
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, want[1000:71000]) {
			t.Fatalf("range: %d, %d bytes", r.status, len(r.body))
		}
		if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes 1000-70999/%d", len(want)) {
			t.Errorf("Content-Range %q", cr)
		}
		wantPortalHeaders(t, "range", r.header)
		r = portalGet(t, e, "/portal/"+d.token+"/items/"+fileID, map[string]string{"Range": "bytes=999999999-"})
		if r.status != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("unsatisfiable range: %d", r.status)
		}
		wantPortalHeaders(t, "416", r.header)
	})

	t.Run("bundle", func(t *testing.T) {
		r := portalGet(t, e, "/portal/"+d.token+"/bundle", nil)
		if r.status != 200 || !bytes.Equal(r.body, d.bundle) {
			t.Fatalf("bundle: %d, %d bytes", r.status, len(r.body))
		}
		wantPortalHeaders(t, "bundle", r.header)
		if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="docvet-delivery.zip"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/zip" {
			t.Errorf("Content-Type %q", ct)
		}
	})

	t.Run("replaced token works", func(t *testing.T) {
		if r := portalGet(t, e, "/portal/"+newToken, nil); r.status != 200 {
			t.Fatalf("new token: %d", r.status)
		}
		if r := portalGet(t, e, "/portal/"+other.token+"/items/"+otherItem, nil); r.status != 200 || !bytes.Equal(r.body, other.items[otherItem]) {
			t.Fatalf("other request's own item: %d", r.status)
		}
	})

	unknown := portalToken(portalKey([]byte("another secret")), reqID, []byte("0123456789abcdef"))
	ref := portalGet(t, e, "/portal/"+unknown, nil)
	if ref.status != 404 {
		t.Fatalf("unknown token: %d", ref.status)
	}
	wantPortalHeaders(t, "404", ref.header)

	for _, tc := range []struct{ name, path string }{
		{"unknown item path", "/portal/" + unknown + "/items/" + recID},
		{"unknown bundle path", "/portal/" + unknown + "/bundle"},
		{"expired", "/portal/" + expired.token},
		{"expired item", "/portal/" + expired.token + "/items/" + recID},
		{"expired bundle", "/portal/" + expired.token + "/bundle"},
		{"not delivered", "/portal/" + delivering.token},
		{"not delivered bundle", "/portal/" + delivering.token + "/bundle"},
		{"failed", "/portal/" + failed.token},
		{"replaced", "/portal/" + replaced.token},
		{"replaced bundle", "/portal/" + replaced.token + "/bundle"},
		{"item of another request", "/portal/" + d.token + "/items/" + otherItem},
		{"unknown item", "/portal/" + d.token + "/items/" + newTestItemID(t)},
		{"item traversal", "/portal/" + d.token + "/items/..%2f..%2fdocvet.db"},
		{"item too long", "/portal/" + d.token + "/items/" + strings.Repeat("a", 200)},
		{"too short", "/portal/abc"},
		{"traversal", "/portal/..%2f..%2fetc%2fpasswd"},
		{"traversal in token", "/portal/" + d.token[:40] + "..%2f"},
		{"44 chars", "/portal/" + d.token + "A"},
		{"42 chars", "/portal/" + d.token[:42]},
		{"not base64url", "/portal/" + d.token[:42] + "%2B"},
		{"padding", "/portal/" + d.token[:42] + "="},
		{"nul", "/portal/" + d.token[:42] + "%00"},
		{"upper-cased", "/portal/" + strings.ToUpper(d.token)},
		{"hash instead of token", "/portal/" + tokenHash(d.token)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "upper-cased" && strings.ToUpper(d.token) == d.token {
				t.Skip("token has no lower-case letter")
			}
			r := portalGet(t, e, tc.path, nil)
			sameResponse(t, tc.name, r, ref)
		})
	}

	t.Run("audit", func(t *testing.T) {
		ref := auditRef(e.srv.secret, reqID)
		events := map[string]int{}
		err := e.st.AuditLog(context.Background(), 0, "", func(ev store.AuditEvent) error {
			raw, _ := json.Marshal(ev)
			for _, tok := range tokens {
				if bytes.Contains(raw, []byte(tok)) || bytes.Contains(raw, []byte(tokenHash(tok))) {
					t.Errorf("audit entry %s holds a token", ev.Event)
				}
			}
			if bytes.Contains(raw, []byte(reqID)) {
				t.Errorf("audit entry %s names the request in clear", ev.Event)
			}
			if ev.Request == ref && ev.Actor == actorPortal {
				events[ev.Event]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if events["portal.view"] < 1 || events["portal.item"] < 4 || events["portal.bundle"] < 2 {
			t.Errorf("portal audit events: %v", events)
		}
	})

	t.Run("missing blob is a logged 500", func(t *testing.T) {
		bad := deliverInStore(t, e, "REQ-broken", store.RequestDelivered, now, time.Hour)
		tokens = append(tokens, bad.token)
		it, err := e.st.DeliveryItem(context.Background(), bad.id, recIDOf(bad))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(e.srv.deliverer.Blobs().Dir(), it.Blob[:2], it.Blob)); err != nil {
			t.Fatal(err)
		}
		r := portalGet(t, e, "/portal/"+bad.token+"/items/"+it.ItemID, nil)
		if r.status != 500 {
			t.Fatalf("status %d", r.status)
		}
		wantPortalHeaders(t, "500", r.header)
		if !strings.Contains(logs.String(), "portal: open item") || !strings.Contains(logs.String(), e.srv.hashID(bad.id)) {
			t.Errorf("the failure is not logged with the request's hash: %s", logs.String())
		}
	})

	// Last: everything above has logged what it will.
	t.Run("logs hold no token", func(t *testing.T) {
		out := logs.String()
		for _, tok := range append(tokens, unknown) {
			if strings.Contains(out, tok) || strings.Contains(out, tok[:20]) {
				t.Errorf("log holds a token")
			}
		}
		if strings.Contains(out, reqID) {
			t.Errorf("log names the request id in clear")
		}
	})
}

func recIDOf(d delivered) string {
	for id, k := range d.kinds {
		if k == store.ItemRecord {
			return id
		}
	}
	return ""
}

func TestPortalLanguage(t *testing.T) {
	e, _ := newPortalEnv(t, nil)
	e.registerType("hr-records")
	body := strings.TrimSuffix(accessRequest("REQ-no"), "}") + `,"gdpr-access-request:lang":"nb-NO"}`
	if r := e.push("gdpr-access-request-in", "", body); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	no := deliverInStore(t, e, "REQ-no", store.RequestDelivered, time.Now(), time.Hour)
	// No language in the request: the configured default (en).
	if r := e.push("gdpr-access-request-in", "", accessRequest("REQ-en")); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	en := deliverInStore(t, e, "REQ-en", store.RequestDelivered, time.Now(), time.Hour)
	for _, tc := range []struct {
		tok   string
		wants []string
	}{
		{no.token, []string{`<html lang="no">`, "Dine personopplysninger", "beskrivelse og tekst", "originalfil", "Tilbakeholdt"}},
		{en.token, []string{`<html lang="en">`, "Your personal data", "description and text", "original file", "Withheld"}},
	} {
		r := portalGet(t, e, "/portal/"+tc.tok, nil)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		mustContain(t, "page", r.body, tc.wants...)
	}
}

func TestPortalRateLimit(t *testing.T) {
	const limit = 3
	e, logs := newPortalEnv(t, func(c *Config) { c.Delivery.PortalFailuresPerMinute = limit })
	if e.srv.portalRL == nil || e.srv.portalRL.limit != limit {
		t.Fatalf("limiter not configured: %+v", e.srv.portalRL)
	}
	var clock atomic.Int64
	clock.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	e.srv.portalRL = newFailLimiterOpts(limit, time.Minute, 100, now)

	d := deliverInStore(t, e, "REQ-rl", store.RequestDelivered, time.Now(), time.Hour)
	valid := "/portal/" + d.token
	wrong := "/portal/" + portalToken([]byte("x"), "y", []byte("z"))
	const (
		a = "198.51.100.7:40000"
		b = "203.0.113.9:40000"
	)
	type step struct {
		wait       time.Duration
		addr, path string
		status     int
		retryAfter string
	}
	steps := []step{
		// Valid attempts cost nothing.
		{0, a, valid, 200, ""}, {0, a, valid, 200, ""}, {0, a, valid, 200, ""}, {0, a, valid, 200, ""},
		{0, a, wrong, 404, ""}, {0, a, "/portal/short", 404, ""}, {0, a, valid + "/items/nope", 404, ""},
		// Over budget: everything is refused, a valid token too.
		{0, a, wrong, 429, "20"},
		{0, a, valid, 429, "20"},
		{0, a, valid + "/bundle", 429, "20"},
		// Another address is not affected.
		{0, b, wrong, 404, ""},
		{0, b, valid, 200, ""},
		{5 * time.Second, a, valid, 429, "15"},
		// One failure's worth recovers every window/limit.
		{15 * time.Second, a, valid, 200, ""},
		{0, a, wrong, 404, ""},
		{0, a, wrong, 429, "20"},
		{time.Minute, a, wrong, 404, ""}, {0, a, wrong, 404, ""}, {0, a, wrong, 404, ""}, {0, a, wrong, 429, "20"},
		// IPv6: one /64 is one client.
		{0, "[2001:db8:1:2::1]:1", wrong, 404, ""}, {0, "[2001:db8:1:2::2]:1", wrong, 404, ""}, {0, "[2001:db8:1:2:ffff::3]:1", wrong, 404, ""},
		{0, "[2001:db8:1:2::4]:1", valid, 429, "20"},
		{0, "[2001:db8:1:3::1]:1", valid, 200, ""},
		// IPv4-mapped IPv6 is the IPv4 address.
		{0, "[::ffff:198.51.100.7]:5", valid, 429, "20"},
	}
	for i, s := range steps {
		advance(s.wait)
		rec := serveFrom(e, s.addr, s.path)
		if rec.Code != s.status || rec.Header().Get("Retry-After") != s.retryAfter {
			t.Fatalf("step %d (%s %s): %d Retry-After %q, want %d %q", i, s.addr, s.path, rec.Code, rec.Header().Get("Retry-After"), s.status, s.retryAfter)
		}
		wantPortalHeaders(t, fmt.Sprintf("step %d", i), rec.Header())
	}
	if strings.Contains(logs.String(), d.token) {
		t.Error("log holds the token")
	}
}

func TestFailLimiter(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	l := newFailLimiterOpts(4, time.Minute, 3, func() time.Time { return now })
	type op struct {
		at     time.Duration // since t0
		key    string
		refund bool
		ok     bool
		wait   time.Duration
	}
	for i, o := range []op{
		{0, "a", false, true, 0}, {0, "a", false, true, 0}, {0, "a", false, true, 0}, {0, "a", false, true, 0},
		{0, "a", false, false, 15 * time.Second},
		{1 * time.Second, "a", false, false, 14 * time.Second},
		{14500 * time.Millisecond, "a", false, false, time.Second}, // rounded up
		{15 * time.Second, "a", false, true, 0},
		{15 * time.Second, "a", false, false, 15 * time.Second},
		{15 * time.Second, "a", true, true, 0}, // refund the last charge: one attempt free again
		{15 * time.Second, "a", false, true, 0},
		{15 * time.Second, "a", false, false, 15 * time.Second},
		{2 * time.Minute, "a", false, true, 0},
	} {
		now = t0.Add(o.at)
		if o.refund {
			l.refund(o.key)
			continue
		}
		ok, wait := l.take(o.key)
		if ok != o.ok || wait != o.wait {
			t.Fatalf("op %d at %s: take = %v %s, want %v %s", i, o.at, ok, wait, o.ok, o.wait)
		}
	}

	t.Run("bounded", func(t *testing.T) {
		now = t0
		l := newFailLimiterOpts(2, time.Minute, 3, func() time.Time { return now })
		l.take("x")
		l.take("x")
		if ok, _ := l.take("x"); ok {
			t.Fatal("x not limited")
		}
		for _, k := range []string{"k1", "k2", "k3"} {
			l.take(k)
		}
		if n := l.tracked(); n != 3 {
			t.Fatalf("tracked %d keys, cap is 3", n)
		}
		// x was the least recently charged: evicted, so it starts afresh.
		if ok, _ := l.take("x"); !ok {
			t.Fatal("x was not evicted")
		}
		// Expired keys are pruned as new ones come.
		now = now.Add(2 * time.Minute)
		l.take("fresh")
		if n := l.tracked(); n != 1 {
			t.Fatalf("tracked %d keys after they expired, want 1", n)
		}
		// A refund that clears the charge drops the key.
		l.refund("fresh")
		if n := l.tracked(); n != 0 {
			t.Fatalf("tracked %d keys after full refund", n)
		}
	})
}

func TestFailLimiterConcurrent(t *testing.T) {
	const limit = 25
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newFailLimiterOpts(limit, time.Minute, 1000, func() time.Time { return now })
	var granted atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				if ok, _ := l.take("shared"); ok {
					granted.Add(1)
				}
				// Other keys churn through the limiter meanwhile, charged
				// and refunded.
				k := fmt.Sprintf("k%d-%d", g, i%50)
				if ok, _ := l.take(k); ok {
					l.refund(k)
				}
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != limit {
		t.Fatalf("%d concurrent attempts passed, the budget is %d", n, limit)
	}
	if n := l.tracked(); n > 1000 {
		t.Fatalf("tracked %d keys", n)
	}
}

// BenchmarkFailLimiter charges failures from more addresses than the
// limiter tracks, so every take also evicts.
func BenchmarkFailLimiter(b *testing.B) {
	l := newFailLimiter(10)
	keys := make([]string, 4*defaultFailKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	i := 0
	for b.Loop() {
		l.take(keys[i%len(keys)])
		i++
	}
}

// BenchmarkPortalNotFound is the cost of one wrong token (shape check,
// limiter, hash lookup, 404).
func BenchmarkPortalNotFound(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.Delivery.PortalFailuresPerMinute = 1 << 30
	st := openStore(b, dir)
	defer st.Close()
	srv, err := New(st, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	path := "/portal/" + portalToken([]byte("k"), "r", []byte("n"))
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 404 {
			b.Fatal(rec.Code)
		}
	}
}

// TestPortalClosed: a withdrawn (deleted) access request, or one whose
// entity is gone, closes the portal with the same 404 as a wrong token,
// for the page, items and the bundle alike.
func TestPortalClosed(t *testing.T) {
	e, _ := newPortalEnv(t, nil)
	e.registerType("hr-records")
	for _, id := range []string{"REQ-withdrawn", "REQ-kept"} {
		if r := e.push("gdpr-access-request-in", "", accessRequest(id)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
	}
	d := deliverInStore(t, e, "REQ-withdrawn", store.RequestDelivered, time.Now(), time.Hour)
	kept := deliverInStore(t, e, "REQ-kept", store.RequestDelivered, time.Now(), time.Hour)
	gone := deliverInStoreOnly(t, e, "REQ-no-entity", store.RequestDelivered, time.Now(), time.Hour)
	paths := func(d delivered) []string {
		out := []string{"/portal/" + d.token, "/portal/" + d.token + "/bundle"}
		for id := range d.items {
			out = append(out, "/portal/"+d.token+"/items/"+id)
		}
		return out
	}
	for _, p := range paths(d) {
		if r := portalGet(t, e, p, nil); r.status != 200 {
			t.Fatalf("before the delete: %d", r.status)
		}
	}
	if r := e.push("gdpr-access-request-in", "", `{"_id":"REQ-withdrawn","_deleted":true}`); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if en, err := e.st.Get(context.Background(), datasetAccessRequests, "REQ-withdrawn"); err != nil || !en.Deleted {
		t.Fatalf("entity not tombstoned: %+v %v", en, err)
	}
	ref := portalGet(t, e, "/portal/"+portalToken([]byte("other"), "x", []byte("y")), nil)
	if ref.status != 404 {
		t.Fatalf("reference 404: %d", ref.status)
	}
	for _, p := range append(paths(d), paths(gone)...) {
		sameResponse(t, "closed", portalGet(t, e, p, nil), ref)
	}
	for _, p := range paths(kept) {
		if r := portalGet(t, e, p, nil); r.status != 200 {
			t.Fatalf("another request's portal: %d", r.status)
		}
	}
}

// TestPortalDownloadAudit: each download is audited once, not each
// chunk: whole answers and ranges from byte 0 are, later ranges and
// answers that deliver nothing are not.
func TestPortalDownloadAudit(t *testing.T) {
	e, _ := newPortalEnv(t, func(c *Config) { c.Delivery.PortalFailuresPerMinute = 1000 })
	e.registerType("hr-records")
	if r := e.push("gdpr-access-request-in", "", accessRequest("REQ-audit")); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	d := deliverInStore(t, e, "REQ-audit", store.RequestDelivered, time.Now(), time.Hour)
	var fileID string
	for id, k := range d.kinds {
		if k == store.ItemFile {
			fileID = id
		}
	}
	size := len(d.items[fileID])
	item := "/portal/" + d.token + "/items/" + fileID
	bundle := "/portal/" + d.token + "/bundle"
	ref := auditRef(e.srv.secret, d.id)
	count := func() (n, partial int) {
		t.Helper()
		err := e.st.AuditLog(context.Background(), 0, "", func(ev store.AuditEvent) error {
			if ev.Request == ref && (ev.Event == "portal.item" || ev.Event == "portal.bundle") {
				n++
				raw, _ := json.Marshal(ev)
				if bytes.Contains(raw, []byte(`\"partial\":true`)) || bytes.Contains(raw, []byte(`"partial":true`)) {
					partial++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, partial
	}
	lastMod := ""
	for i, tc := range []struct {
		method, path string
		hdr          map[string]string
		status       int
		audited      bool
		partial      bool
	}{
		{"GET", item, nil, 200, true, false},
		{"GET", item, map[string]string{"Range": "bytes=0-99"}, 206, true, true},
		{"GET", item, map[string]string{"Range": "bytes=100-"}, 206, false, false},
		{"GET", item, map[string]string{"Range": "bytes=65536-131071"}, 206, false, false},
		{"GET", item, map[string]string{"Range": fmt.Sprintf("bytes=-%d", size+10)}, 206, true, true}, // suffix covering it all
		{"GET", item, map[string]string{"Range": "bytes=-100"}, 206, false, false},
		{"GET", item, map[string]string{"Range": "bytes=0-9,20-29"}, 206, true, true}, // multipart
		{"GET", item, map[string]string{"Range": "bytes=10-19,30-39"}, 206, false, false},
		{"GET", item, map[string]string{"Range": "bytes=999999999-"}, 416, false, false},
		{"HEAD", item, nil, 200, false, false},
		// If-Range that no longer matches: the whole content, audited.
		{"GET", item, map[string]string{"Range": "bytes=100-", "If-Range": "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, true, false},
		{"GET", bundle, nil, 200, true, false},
		{"GET", bundle, map[string]string{"Range": "bytes=1000-"}, 206, false, false},
		{"GET", bundle, map[string]string{"If-Modified-Since": "LASTMOD"}, 304, false, false},
	} {
		before, beforePartial := count()
		if v, ok := tc.hdr["If-Modified-Since"]; ok && v == "LASTMOD" {
			tc.hdr = map[string]string{"If-Modified-Since": lastMod}
		}
		req, _ := http.NewRequest(tc.method, e.http.URL+tc.path, nil)
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		res, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if tc.path == bundle && lastMod == "" {
			lastMod = res.Header.Get("Last-Modified")
		}
		if res.StatusCode != tc.status {
			t.Fatalf("case %d (%s %v): status %d, want %d", i, tc.method, tc.hdr, res.StatusCode, tc.status)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("case %d: Cache-Control %q", i, res.Header.Get("Cache-Control"))
		}
		after, afterPartial := count()
		want, wantPartial := 0, 0
		if tc.audited {
			want = 1
			if tc.partial {
				wantPartial = 1
			}
		}
		if after-before != want || afterPartial-beforePartial != wantPartial {
			t.Errorf("case %d (%s %v): %d audit entries (%d partial), want %d (%d)", i, tc.method, tc.hdr,
				after-before, afterPartial-beforePartial, want, wantPartial)
		}
	}
}

func TestDownloadStarts(t *testing.T) {
	cr := func(v string) http.Header { return http.Header{"Content-Range": {v}} }
	for _, tc := range []struct {
		code int
		h    http.Header
		rng  string
		want bool
	}{
		{200, nil, "", true},
		{200, nil, "bytes=5-", true}, // Range ignored (If-Range): whole content
		{206, cr("bytes 0-99/1000"), "bytes=0-99", true},
		{206, cr("bytes 100-999/1000"), "bytes=100-", false},
		{206, cr("bytes 0-999/1000"), "bytes=-5000", true},
		{206, nil, "bytes=10-19, 0-5", true},
		{206, nil, "bytes= 00-5,9-10", true},
		{206, nil, "bytes=1-5,9-10", false},
		{206, nil, "bytes=-5,9-10", false},
		{206, nil, "items=0-5", false},
		{416, nil, "bytes=0-", false},
		{304, nil, "", false},
		{412, nil, "", false},
	} {
		if got := downloadStarts(tc.code, tc.h, tc.rng); got != tc.want {
			t.Errorf("downloadStarts(%d, %v, %q) = %v", tc.code, tc.h, tc.rng, got)
		}
	}
}

func mustPrefixes(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	p, err := parseTrustedProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientKey(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8", "192.0.2.1", "2001:db8:ff::/48", "::ffff:172.16.0.0/108")
	long := strings.Repeat("10.0.0.1, ", 40) + "10.0.0.2"
	for _, tc := range []struct {
		name, peer string
		xff        []string
		trusted    []netip.Prefix
		want       string
	}{
		{"no proxies configured", "198.51.100.7:1", []string{"203.0.113.5"}, nil, "198.51.100.7"},
		{"spoofed from an untrusted peer", "198.51.100.7:1", []string{"203.0.113.5"}, trusted, "198.51.100.7"},
		{"spoofed chain from an untrusted peer", "198.51.100.7:1", []string{"10.0.0.1, 203.0.113.5, 10.0.0.2"}, trusted, "198.51.100.7"},
		{"trusted proxy", "10.1.2.3:1", []string{"203.0.113.5"}, trusted, "203.0.113.5"},
		{"client-written entries are ignored", "10.1.2.3:1", []string{"1.1.1.1, 8.8.8.8, 203.0.113.5"}, trusted, "203.0.113.5"},
		{"chain of trusted proxies", "10.1.2.3:1", []string{"6.6.6.6, 203.0.113.5, 192.0.2.1, 10.9.9.9"}, trusted, "203.0.113.5"},
		{"several header lines", "10.1.2.3:1", []string{"6.6.6.6, 203.0.113.5", "192.0.2.1", "10.9.9.9"}, trusted, "203.0.113.5"},
		{"only trusted entries", "10.1.2.3:1", []string{"10.9.9.9, 192.0.2.1"}, trusted, "10.1.2.3"},
		{"no header", "10.1.2.3:1", nil, trusted, "10.1.2.3"},
		{"empty header", "10.1.2.3:1", []string{""}, trusted, "10.1.2.3"},
		{"malformed entry", "10.1.2.3:1", []string{"203.0.113.5, bogus"}, trusted, "10.1.2.3"},
		{"malformed left of the client is not read", "10.1.2.3:1", []string{"bogus, 203.0.113.5"}, trusted, "203.0.113.5"},
		{"unknown", "10.1.2.3:1", []string{"unknown"}, trusted, "10.1.2.3"},
		{"entry with port", "10.1.2.3:1", []string{"203.0.113.5:4711"}, trusted, "203.0.113.5"},
		{"IPv6 client behind an IPv6 proxy", "[2001:db8:ff:1::2]:1", []string{"2001:db8:aa:bb:1:2:3:4"}, trusted, "2001:db8:aa:bb::/64"},
		{"IPv6 entry with port", "[2001:db8:ff:1::2]:1", []string{"[2001:db8:aa:bb::9]:443"}, trusted, "2001:db8:aa:bb::/64"},
		{"IPv6 untrusted peer", "[2001:db8:1:2::1]:1", []string{"203.0.113.5"}, trusted, "2001:db8:1:2::/64"},
		{"IPv4 client behind an IPv6 proxy", "[2001:db8:ff::1]:1", []string{"203.0.113.5"}, trusted, "203.0.113.5"},
		{"IPv4-mapped peer is the IPv4 proxy", "[::ffff:10.0.0.1]:1", []string{"203.0.113.5"}, trusted, "203.0.113.5"},
		{"IPv4-mapped range", "172.16.3.4:1", []string{"::ffff:203.0.113.5"}, trusted, "203.0.113.5"},
		{"zone", "[fe80::1%eth0]:1", []string{"203.0.113.5"}, trusted, "fe80::/64"},
		{"too many hops", "10.1.2.3:1", []string{"203.0.113.5, " + long}, trusted, "10.1.2.3"},
		{"unparsable peer", "pipe", []string{"203.0.113.5"}, trusted, "pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/portal/x", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientKey(r, tc.trusted); got != tc.want {
				t.Errorf("clientKey = %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "example.org", "10.0.0.0/8/8", "fe80::1%eth0", ""} {
		if _, err := parseTrustedProxies([]string{"10.0.0.0/8", bad}); err == nil || !strings.Contains(err.Error(), "[1]") {
			t.Errorf("parseTrustedProxies accepted %q: %v", bad, err)
		}
	}
	if p := mustPrefixes(t, "10.1.2.3/8", "::ffff:10.0.0.0/104", "2001:db8::1"); p[0].String() != "10.0.0.0/8" || p[1].String() != "10.0.0.0/8" || p[2].String() != "2001:db8::1/128" {
		t.Errorf("parsed %v", p)
	}
}

// TestPortalRateLimitBehindProxy: behind a trusted proxy each forwarded
// client has its own budget; an untrusted peer cannot escape its budget by
// rotating X-Forwarded-For.
func TestPortalRateLimitBehindProxy(t *testing.T) {
	const limit = 2
	e, _ := newPortalEnv(t, func(c *Config) {
		c.Delivery.PortalFailuresPerMinute = limit
		c.Delivery.TrustedProxies = []string{"10.0.0.0/8", "fd00::/8"}
	})
	wrong := "/portal/" + portalToken([]byte("x"), "y", []byte("z"))
	send := func(peer, xff string) int {
		req := httptest.NewRequest("GET", wrong, nil)
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	// An attacker at an untrusted address rotating X-Forwarded-For.
	for i := range limit + 3 {
		code := send("198.51.100.7:1000", fmt.Sprintf("203.0.113.%d", i))
		if want := map[bool]int{true: 404, false: 429}[i < limit]; code != want {
			t.Fatalf("spoofing attempt %d: %d, want %d", i, code, want)
		}
	}
	// Through the proxy: one client exhausts its budget...
	for i := range limit + 1 {
		code := send("10.0.0.2:1000", "192.0.2.50, 203.0.113.77")
		if want := map[bool]int{true: 404, false: 429}[i < limit]; code != want {
			t.Fatalf("proxied client attempt %d: %d, want %d", i, code, want)
		}
	}
	// ...whatever it writes left of the proxy's entry...
	if code := send("10.0.0.2:1000", "192.0.2.51, 203.0.113.77"); code != 429 {
		t.Fatalf("client-written entry changed the key: %d", code)
	}
	// ...while other clients of the same proxy, and the proxy's own
	// address, keep theirs.
	if code := send("10.0.0.2:1000", "203.0.113.78"); code != 404 {
		t.Fatalf("another proxied client: %d", code)
	}
	if code := send("[fd00::1]:1000", "2001:db8:5:6::7"); code != 404 {
		t.Fatalf("IPv6 proxied client: %d", code)
	}
	if code := send("10.0.0.2:1000", ""); code != 404 {
		t.Fatalf("the proxy itself: %d", code)
	}
}

func TestPortalConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" valid
	}{
		{"default from a loopback listen", func(c *Config) { c.Listen = "127.0.0.1:0" }, ""},
		{"loopback http", func(c *Config) { c.Delivery.PortalURL = "http://localhost:8080/" }, ""},
		{"IPv6 loopback http", func(c *Config) { c.Delivery.PortalURL = "http://[::1]:8080" }, ""},
		{"https", func(c *Config) { c.Delivery.PortalURL = "https://privacy.example.org/docvet" }, ""},
		{"default from 0.0.0.0", func(c *Config) { c.Listen = "0.0.0.0:8080" }, "set delivery.portal_url to the public URL subjects use"},
		{"default from an empty host", func(c *Config) { c.Listen = ":8080" }, "set delivery.portal_url to the public URL subjects use"},
		{"unspecified IPv6", func(c *Config) { c.Delivery.PortalURL = "https://[::]:8443" }, "set delivery.portal_url to the public URL subjects use"},
		{"http elsewhere", func(c *Config) { c.Delivery.PortalURL = "http://privacy.example.org" }, "allow_insecure_portal_url"},
		{"http to a LAN address", func(c *Config) { c.Delivery.PortalURL = "http://192.168.1.10:8080" }, "allow_insecure_portal_url"},
		{"http elsewhere, allowed", func(c *Config) {
			c.Delivery.PortalURL = "http://privacy.example.org"
			c.Delivery.AllowInsecurePortalURL = true
		}, ""},
		{"trusted proxies", func(c *Config) { c.Delivery.TrustedProxies = []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1"} }, ""},
		{"bad trusted proxy", func(c *Config) { c.Delivery.TrustedProxies = []string{"10.0.0.0/8", "proxy.example.org"} }, `delivery.trusted_proxies[1] "proxy.example.org"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t.TempDir())
			tc.mutate(&c)
			c.applyDefaults()
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want mention of %q", err, tc.want)
			}
		})
	}
	c := testConfig(t.TempDir())
	c.applyDefaults()
	if c.Delivery.PortalFailuresPerMinute != 30 || c.Delivery.trustedProxies == nil || len(c.Delivery.trustedProxies) != 0 {
		t.Errorf("defaults: %d failures/minute, proxies %v", c.Delivery.PortalFailuresPerMinute, c.Delivery.trustedProxies)
	}
	c.Delivery.TrustedProxies = []string{"10.0.0.0/8"}
	c.applyDefaults()
	if len(c.Delivery.trustedProxies) != 1 || c.Delivery.trustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("trusted proxies not parsed: %v", c.Delivery.trustedProxies)
	}
}
