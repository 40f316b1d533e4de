package extractor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAllowedURL(t *testing.T) {
	base := "http://files.example:8081/content/"
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://files.example:8081/content/hr/a.pdf", true},
		{"~rhttp://files.example:8081/content/hr/a.pdf", true},
		{"HTTP://FILES.example:8081/content/a%20b.pdf", true},
		{"http://files.example:8081/content/a.pdf#frag", true},
		{"https://files.example:8081/content/a.pdf", false},       // scheme
		{"http://files.example:8082/content/a.pdf", false},        // port
		{"http://files.example/content/a.pdf", false},             // default port 80
		{"http://other.example:8081/content/a.pdf", false},        // host
		{"http://files.example:8081/contentx/a.pdf", false},       // prefix must end at a segment
		{"http://files.example:8081/other/a.pdf", false},          // prefix
		{"http://files.example:8081/content/../admin", false},     // dot-dot
		{"http://files.example:8081/content/%2e%2e/admin", false}, // encoded dot-dot
		{"http://files.example:8081/content/%252e%252e/admin", false},
		{"http://files.example:8081/content/..%2fadmin", false},
		{"http://files.example:8081/content/a%5c..%5cadmin", false},
		// Path parameters: Tomcat/Jetty/Spring resolve "..;x" as "..".
		{"http://files.example:8081/content/..;/admin/x", false},
		{"http://files.example:8081/content/%2e%2e;/admin/x", false},
		{"http://files.example:8081/content/..%3b/admin", false},
		{"http://files.example:8081/content/..;jsessionid=1/admin", false},
		{"http://files.example:8081/content/.;x/a.pdf", false},
		{"http://files.example:8081/content/%252e%252e%253b/admin", false},
		{"http://files.example:8081/content/a;v=1.pdf", true}, // parameters on a real name are fine
		{"http://user:pw@files.example:8081/content/a.pdf", false},
		{"file:///etc/passwd", false},
		{"http://files.example:8081@evil.example/content/a.pdf", false},
	}
	for _, tc := range tests {
		_, err := AllowedURL(tc.url, base)
		if (err == nil) != tc.ok {
			t.Errorf("AllowedURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("AllowedURL(%q): %v does not match ErrNotAllowed", tc.url, err)
		}
	}
	// A base without trailing slash allows itself and what is below it.
	if _, err := AllowedURL("http://h/content", "http://h:80/content"); err != nil {
		t.Error(err)
	}
	if _, err := AllowedURL("https://h/x", "https://h:443/"); err != nil {
		t.Error(err)
	}
}

func TestFetch(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "elsewhere")
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /content/ok.txt", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "document bytes")
	})
	mux.HandleFunc("GET /content/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/x", http.StatusFound)
	})
	mux.HandleFunc("GET /content/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 2000)) // chunked: no Content-Length up front
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("x", 2000))
	})
	mux.HandleFunc("GET /content/big-announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		io.WriteString(w, strings.Repeat("x", 5000))
	})
	mux.HandleFunc("GET /content/exact", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("y", 1000))
	})
	trickle := func(every time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for range 100 {
				if _, err := w.Write([]byte("t")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(every):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
	mux.HandleFunc("GET /content/trickle-fast", trickle(50*time.Millisecond))
	mux.HandleFunc("GET /content/trickle-slow", trickle(time.Second))
	mux.HandleFunc("GET /content/slow-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	f := NewFetcher(FetchOptions{ReadIdleTimeout: 300 * time.Millisecond, TotalTimeout: 800 * time.Millisecond, MaxBytes: 1000})
	base := srv.URL + "/content/"
	get := func(path string) (string, error) {
		rc, err := f.Fetch(context.Background(), srv.URL+path, base)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	tests := []struct {
		path string
		want string
		err  error
	}{
		{"/content/ok.txt", "document bytes", nil},
		{"/content/exact", strings.Repeat("y", 1000), nil},
		{"/content/missing", "", ErrHTTPStatus},
		{"/content/redirect", "", ErrRedirect},
		{"/content/big", "", ErrTooLarge},
		{"/content/big-announced", "", ErrTooLarge},
		{"/content/trickle-fast", "", ErrTimeout}, // 1 byte / 50ms: idle never fires, total does
		{"/content/trickle-slow", "", ErrTimeout}, // 1 byte / s: idle fires
		{"/content/slow-headers", "", ErrTimeout},
		{"/content/../secret", "", ErrNotAllowed},
		{"/other/ok.txt", "", ErrNotAllowed},
	}
	for _, tc := range tests {
		start := time.Now()
		got, err := get(tc.path)
		if tc.err == nil && (err != nil || got != tc.want) {
			t.Errorf("%s: got %q, %v", tc.path, got, err)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.path, err, tc.err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v", tc.path, d)
		}
	}
	var se *HTTPStatusError
	if _, err := get("/content/missing"); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("404: %v", err)
	}
	// A URL on another host is refused before any connection is made.
	if _, err := f.Fetch(context.Background(), other.URL+"/content/ok.txt", base); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("other host: %v", err)
	}
}
