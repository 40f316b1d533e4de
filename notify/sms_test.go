package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docvet/docvet/notify"
)

type smsCall struct {
	body   map[string]string
	auth   string
	ctype  string
	method string
}

func smsServer(t *testing.T, status int, respBody string) (*httptest.Server, func() []smsCall) {
	var mu sync.Mutex
	var calls []smsCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		calls = append(calls, smsCall{m, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Method})
		mu.Unlock()
		if status == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, respBody)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []smsCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]smsCall(nil), calls...)
	}
}

func TestSMSWebhook(t *testing.T) {
	const to, text = "+4712345678", "Data du har forespurt er tilgjengelig. Logg inn i https://portal.example.org/ for å se dem."
	tests := []struct {
		name      string
		status    int
		to        string
		wantErr   string
		permanent bool
		calls     int
	}{
		{"200", 200, to, "", false, 1},
		{"202", 202, to, "", false, 1},
		{"500", 500, to, "sms webhook: HTTP 500", false, 1},
		{"503", 503, to, "sms webhook: HTTP 503", false, 1},
		{"400 is permanent", 400, to, "sms webhook: HTTP 400: permanent failure", true, 1},
		{"429 is transient", 429, to, "sms webhook: HTTP 429", false, 1},
		{"redirect not followed", http.StatusFound, to, "sms webhook: HTTP 302", false, 1},
		{"not E.164", 200, "12345678", "sms webhook: recipient is not an E.164 number: permanent failure", true, 0},
		{"injection in number", 200, "+4712345678\n", "sms webhook: recipient is not an E.164 number: permanent failure", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := smsServer(t, tc.status, "upstream said: "+to+" "+text+" token=abc")
			w, err := notify.NewSMSWebhook(srv.URL+"/send?key=topsecret", map[string]string{"Authorization": "Bearer tok"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = w.SendSMS(context.Background(), tc.to, text)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("SendSMS: %v", err)
				}
			} else {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if errors.Is(err, notify.ErrPermanent) != tc.permanent {
					t.Errorf("permanent = %v", !tc.permanent)
				}
				for _, leak := range []string{"4712345678", "tilgjengelig", "upstream", "topsecret", "tok", "127.0.0.1"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q leaks %q", err, leak)
					}
				}
			}
			got := calls()
			if len(got) != tc.calls {
				t.Fatalf("%d calls, want %d", len(got), tc.calls)
			}
			if tc.calls == 1 {
				c := got[0]
				if c.method != http.MethodPost || c.ctype != "application/json" || c.auth != "Bearer tok" || c.body["to"] != to || c.body["text"] != text || len(c.body) != 2 {
					t.Errorf("request: %+v", c)
				}
			}
		})
	}
}

func TestSMSWebhookTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w, err := notify.NewSMSWebhook("http://"+addr+"/send?key=topsecret", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.SendSMS(context.Background(), "+4712345678", "hello")
	if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "4712345678") {
		t.Errorf("refused: %v", err)
	}

	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client going away.
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(stall.Close)
	w, err = notify.NewSMSWebhook(stall.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w.SendSMS(ctx, "+4712345678", "hello"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled: %v", err)
	}
	if err := w.SendSMS(context.Background(), "+4712345678", ""); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("empty text: %v", err)
	}
}

func TestNewSMSWebhookValidation(t *testing.T) {
	tests := []struct {
		url     string
		headers map[string]string
		ok      bool
	}{
		{"https://sms.example.org/send", nil, true},
		{"http://127.0.0.1:9/send", nil, true},
		{"http://localhost:9/send", nil, true},
		{"http://sms.example.org/send", nil, false},
		{"ftp://sms.example.org/", nil, false},
		{"not a url", nil, false},
		{"https://sms.example.org/", map[string]string{"X-Token": "a\r\nEvil: 1"}, false},
	}
	for _, tc := range tests {
		_, err := notify.NewSMSWebhook(tc.url, tc.headers, nil)
		if (err == nil) != tc.ok {
			t.Errorf("NewSMSWebhook(%q) err = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}
