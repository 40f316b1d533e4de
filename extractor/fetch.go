package extractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Sentinel errors of Fetch, for callers to branch on with errors.Is.
var (
	ErrNotAllowed = errors.New("url outside the publishing source")
	ErrTooLarge   = errors.New("download larger than the size cap")
	ErrRedirect   = errors.New("redirect refused")
	ErrTimeout    = errors.New("download timed out")
	ErrHTTPStatus = errors.New("unexpected http status")
)

// HTTPStatusError carries the status of a non-200 answer; it matches
// ErrHTTPStatus (and ErrRedirect for 3xx) with errors.Is.
type HTTPStatusError struct{ Code int }

func (e *HTTPStatusError) Error() string { return fmt.Sprintf("http status %d", e.Code) }

func (e *HTTPStatusError) Is(target error) bool {
	return target == ErrHTTPStatus || (target == ErrRedirect && e.Code >= 300 && e.Code < 400)
}

// FetchOptions tune a Fetcher. Zero values are replaced by defaults.
type FetchOptions struct {
	ConnectTimeout  time.Duration // TCP connect + TLS handshake (default 10s)
	ReadIdleTimeout time.Duration // longest wait for headers or the next bytes (default 30s)
	TotalTimeout    time.Duration // whole download (default 10m)
	// MaxBytes caps a download (default 2 GiB). It is a safety stop for
	// absurd streams, larger than the extractor's MaxInputBytes on purpose:
	// an oversized document is still hashed so the ledger knows it.
	MaxBytes  int64
	UserAgent string // default "docvet-extractor/" + Version
	// Transport overrides the HTTP transport (tests); its dial timeouts
	// are then the caller's business.
	Transport http.RoundTripper
}

// Fetcher downloads document bytes from the source that published them:
// only URLs under the source's base, no redirects, bounded in time and
// size, streamed (never written to disk).
type Fetcher struct {
	opt    FetchOptions
	client *http.Client
}

// NewFetcher returns a Fetcher.
func NewFetcher(opt FetchOptions) *Fetcher {
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	if opt.ReadIdleTimeout <= 0 {
		opt.ReadIdleTimeout = 30 * time.Second
	}
	if opt.TotalTimeout <= 0 {
		opt.TotalTimeout = 10 * time.Minute
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 2 << 30
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "docvet-extractor/" + Version
	}
	rt := opt.Transport
	if rt == nil {
		d := &net.Dialer{Timeout: opt.ConnectTimeout, KeepAlive: 30 * time.Second}
		rt = &http.Transport{
			Proxy:                 nil, // extract-content URLs are internal; never via a proxy
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   opt.ConnectTimeout,
			ResponseHeaderTimeout: opt.ReadIdleTimeout,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
		}
	}
	return &Fetcher{opt: opt, client: &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Fetch starts downloading rawURL if it lies under allowedBase (the
// publishing source's configured base URL: same scheme, host, port, and
// path prefix). Both may carry Sesam's "~r" URI marker. The returned body
// must be closed; its Read returns ErrTooLarge past MaxBytes and
// ErrTimeout when the idle or total deadline passes.
func (f *Fetcher) Fetch(ctx context.Context, rawURL, allowedBase string) (io.ReadCloser, error) {
	u, err := AllowedURL(rawURL, allowedBase)
	if err != nil {
		return nil, err
	}
	ctx, cancelTotal := context.WithTimeoutCause(ctx, f.opt.TotalTimeout, ErrTimeout)
	ctx, cancelIdle := context.WithCancelCause(ctx)
	cancel := func() { cancelIdle(nil); cancelTotal() }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fetch: %w", err)
	}
	req.Header.Set("User-Agent", f.opt.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		err = fetchErr(ctx, err) // before cancel: it inspects ctx
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		err := &HTTPStatusError{Code: resp.StatusCode}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, fmt.Errorf("fetch: %w", err) // matches ErrRedirect
		}
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if resp.ContentLength > f.opt.MaxBytes {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("fetch: %d bytes announced: %w", resp.ContentLength, ErrTooLarge)
	}
	b := &body{ctx: ctx, r: resp.Body, cancel: cancel, left: f.opt.MaxBytes, idle: f.opt.ReadIdleTimeout}
	b.timer = time.AfterFunc(f.opt.ReadIdleTimeout, func() { cancelIdle(ErrTimeout) })
	return b, nil
}

// BaseFor returns the first of bases that rawURL lies under (AllowedURL),
// else the first base, so that Fetch reports the refusal; "" when there
// are none.
func BaseFor(rawURL string, bases []string) string {
	for _, b := range bases {
		if _, err := AllowedURL(rawURL, b); err == nil {
			return b
		}
	}
	if len(bases) > 0 {
		return bases[0]
	}
	return ""
}

// fetchErr maps a transport error to our sentinels.
func fetchErr(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.Is(context.Cause(ctx), ErrTimeout):
		return fmt.Errorf("fetch: %w", ErrTimeout)
	case ctx.Err() != nil:
		return fmt.Errorf("fetch: %w", context.Cause(ctx))
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("fetch: %w", ErrTimeout)
	}
	return fmt.Errorf("fetch: %w", err)
}

// body enforces the size cap and the idle timeout on a response body.
type body struct {
	ctx    context.Context
	r      io.ReadCloser
	cancel func()
	timer  *time.Timer
	idle   time.Duration
	left   int64
	once   sync.Once
}

func (b *body) Read(p []byte) (int, error) {
	// Ask for at most one byte past the cap: getting it proves the
	// stream is too large without reading further.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if int64(n) > b.left {
		return int(b.left), fmt.Errorf("fetch: %w", ErrTooLarge)
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		return n, fetchErr(b.ctx, err)
	}
	return n, err
}

func (b *body) Close() error {
	b.once.Do(func() {
		b.timer.Stop()
		b.cancel()
	})
	return b.r.Close()
}

// AllowedURL parses rawURL and checks that it lies under base: same scheme
// (http or https), host and port (default ports made explicit), and a path
// inside base's path. It refuses user info, ".." segments (also when
// percent-encoded), encoded slashes and backslashes, so a server that
// normalises differently cannot be walked out of the prefix.
func AllowedURL(rawURL, base string) (*url.URL, error) {
	u, uHost, err := parseHTTPURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	b, bHost, err := parseHTTPURL(base)
	if err != nil {
		return nil, fmt.Errorf("%w: base: %w", ErrNotAllowed, err)
	}
	if u.Scheme != b.Scheme || uHost != bHost {
		return nil, fmt.Errorf("%w: other scheme, host or port", ErrNotAllowed)
	}
	if err := checkPath(u); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	if err := checkPath(b); err != nil {
		return nil, fmt.Errorf("%w: base: %w", ErrNotAllowed, err)
	}
	prefix := b.Path
	if prefix == "" {
		prefix = "/"
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	if !strings.HasSuffix(prefix, "/") {
		if p != prefix && !strings.HasPrefix(p, prefix+"/") {
			return nil, fmt.Errorf("%w: path outside the source's prefix", ErrNotAllowed)
		}
	} else if !strings.HasPrefix(p, prefix) {
		return nil, fmt.Errorf("%w: path outside the source's prefix", ErrNotAllowed)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// parseHTTPURL parses an http(s) URL and returns it with the normalised
// host:port used for comparison (lower case, no trailing dot, default port
// explicit).
func parseHTTPURL(s string) (*url.URL, string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "~r")
	u, err := url.Parse(s)
	if err != nil {
		return nil, "", errors.New("unparseable url")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, "", errors.New("scheme must be http or https")
	}
	if u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return nil, "", errors.New("url must be http(s)://host/path without user info")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u, net.JoinHostPort(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port), nil
}

// checkPath refuses paths a server could resolve outside the prefix.
func checkPath(u *url.URL) error {
	raw := strings.ToLower(u.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(u.Path, "\\") {
		return errors.New("encoded slash or backslash in path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		s := strings.ToLower(seg)
		// One decoding has happened; a leftover "%2e" would become a dot
		// (and "%3b" a semicolon) on a server that decodes twice.
		s = strings.ReplaceAll(s, "%2e", ".")
		s = strings.ReplaceAll(s, "%3b", ";")
		// Tomcat, Jetty and Spring drop ";params" from a segment before
		// resolving dots: "..;x" is "..". Judge the segment without them,
		// which refuses every dot segment carrying parameters.
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if s == ".." || s == "." {
			return errors.New("dot segment in path")
		}
	}
	return nil
}
