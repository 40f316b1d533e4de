package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/store"
)

// A request in flight when shutdown starts is completed and committed.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/api/receivers/gdpr-access-request-in/entities", pr)
	req.Header.Set("Authorization", "Bearer "+e.tokens[ScopePush])
	req.Header.Set("Content-Type", "application/json")
	status := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	}()
	io.WriteString(pw, "["+accessRequest("inflight"))
	time.Sleep(100 * time.Millisecond) // the handler is now reading the body
	cancel()                           // shutdown begins
	time.Sleep(100 * time.Millisecond)
	io.WriteString(pw, "]")
	pw.Close()
	if got := <-status; got != 200 {
		t.Fatalf("in-flight request got %d", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !e.live(datasetAccessRequests)["inflight"] {
		t.Fatal("in-flight push was not committed")
	}
	// New connections are refused after shutdown.
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("server still accepting after shutdown")
	}
}

// Publisher clients that stop reading hold no store connection: status and
// pushes (which reload data types from the store) still answer, and with
// the per-page write deadline the stalled responses are cut off.
func TestSlowPublisherReadersDoNotBlockStore(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.PublishWriteTimeout = time.Second })
	// 40 MB: far more than the socket buffers, so the handlers block writing.
	pad := strings.Repeat("x", 20000)
	start := time.Now()
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range 2000 {
			if _, err := tx.Put(datasetDocuments, store.Write{ID: fmt.Sprint(i), Body: []byte(`{"p":"` + pad + `"}`)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("setup %v", time.Since(start))
	var bodies []io.ReadCloser
	for range 4 { // the store's read pool
		req, _ := http.NewRequest("GET", e.http.URL+"/api/publishers/custom-documents/entities", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[ScopeRead])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, res.Body) // never read
	}
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	c := &http.Client{Timeout: 3 * time.Second}
	req, _ := http.NewRequest("GET", e.http.URL+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[ScopeRead])
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("status with 4 stalled publisher readers: %v", err)
	}
	res.Body.Close()
	req, _ = http.NewRequest("POST", e.http.URL+"/api/receivers/gdpr-data-type-in/entities", strings.NewReader(`{"gdpr-data-type:data-type-id":"x","gdpr-data-type:level":"personal"}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens[ScopePush])
	req.Header.Set("Content-Type", "application/json")
	res, err = c.Do(req)
	if err != nil {
		t.Fatalf("data type push with 4 stalled publisher readers: %v", err)
	}
	res.Body.Close()
	// The write deadline ends the stalled responses.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.inflight.count() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.srv.inflight.count(); n != 0 {
		t.Fatalf("%d publisher responses still running past their write deadline", n)
	}
}

// Publisher responses are bounded by limits.max_publish_entities (the
// default and cap of limit) and page through the store exactly.
func TestPublisherLimitDefaultAndCap(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MaxPublishEntities = 2500 })
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range 3000 {
			if _, err := tx.Put(datasetDocuments, store.Write{ID: fmt.Sprint(i), Body: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query      string
		n          int
		first, end int64
	}{
		{"", 2500, 1, 2500},
		{"?limit=99999", 2500, 1, 2500},
		{"?since=10&limit=1200", 1200, 11, 1210},
		{"?since=2500", 500, 2501, 3000},
		{"?since=3000", 0, 0, 0},
	} {
		r := e.get("/api/publishers/custom-documents/entities"+tc.query, ScopeRead)
		var arr []struct {
			Updated int64 `json:"_updated"`
		}
		if err := json.Unmarshal(r.body, &arr); err != nil || len(arr) != tc.n {
			t.Fatalf("%s: %v, %d entities, want %d", tc.query, err, len(arr), tc.n)
		}
		for i := 1; i < len(arr); i++ {
			if arr[i].Updated != arr[i-1].Updated+1 {
				t.Fatalf("%s: entity %d has _updated %d after %d", tc.query, i, arr[i].Updated, arr[i-1].Updated)
			}
		}
		if tc.n > 0 && (arr[0].Updated != tc.first || arr[len(arr)-1].Updated != tc.end) {
			t.Fatalf("%s: _updated %d..%d", tc.query, arr[0].Updated, arr[len(arr)-1].Updated)
		}
	}
}

// A request still running at shutdown_timeout has its connection closed
// (so it stops and commits nothing), and Serve returns only after it ended.
func TestShutdownClosesStuckRequests(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	// A raw connection: the body promises more than is ever sent.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	part := "[" + accessRequest("stuck") + ","
	fmt.Fprintf(conn, "POST /api/receivers/gdpr-access-request-in/entities HTTP/1.1\r\nHost: x\r\n"+
		"Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		e.tokens[ScopePush], len(part)+1000, part)
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes the connection
		close(closed)
	}()
	time.Sleep(100 * time.Millisecond) // the handler is reading the body
	cancel()
	var serr error
	select {
	case serr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if serr == nil || errors.Is(serr, ErrHandlersRunning) || !errors.Is(serr, context.DeadlineExceeded) {
		t.Fatalf("Serve: %v, want the shutdown timeout reported", serr)
	}
	if n := e.srv.inflight.count(); n != 0 {
		t.Fatalf("Serve returned with %d handlers running", n)
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the stuck request's connection is still open after Serve returned")
	}
	wantLive(t, e, datasetAccessRequests)
}
