package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
