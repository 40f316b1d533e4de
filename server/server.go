package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/docvet/docvet/delivery"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/store"
)

// Server is the core service. It holds no global state: several can run in
// one process (the demo embeds one).
type Server struct {
	st        *store.Store
	cfg       Config
	log       *slog.Logger
	auth      *authenticator
	secret    []byte
	types     dataTypes
	pushBases []contentBase
	pullers   []*puller
	byName    map[string]*puller
	handler   http.Handler
	started   time.Time
	inflight  inflight
	ingest    *ingestRun // nil unless EnableIngest was called
	requests  *requestRunner
	deliverer *delivery.Deliverer
	delivery  *deliveryRunner
	notifier  *notifier
	portalRL  *failLimiter // rate limit of failed portal lookups per client
	stepHook  func(step string)
}

// SetStepHook installs f, called after each lifecycle step of an access
// request is committed ("received", "searched", "awaiting-review",
// "reviewed", "delivering", "delivery.row", "delivered",
// "notification.sent" before it is marked, "notification.marked"). Crash
// tests use it to stop the process at an exact step. Call it before Serve.
func (s *Server) SetStepHook(f func(step string)) {
	s.stepHook = f
	s.deliverer.SetAfterRow(func() { s.step("delivery.row") })
}

func (s *Server) step(name string) {
	if s.stepHook != nil {
		s.stepHook(name)
	}
}

// ErrHandlersRunning is returned by Serve when handlers were still running
// after shutdown forced their connections closed and waited once more. The
// caller must not close the store under them; exiting the process is safe
// (every acknowledged write is committed).
var ErrHandlersRunning = errors.New("server: request handlers still running after shutdown")

// forceCloseGrace is how long Serve waits for handlers after closing their
// connections (their request contexts are cancelled by then).
const forceCloseGrace = 10 * time.Second

// inflight counts running handlers so shutdown can wait for them.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (f *inflight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
	f.mu.Unlock()
}

func (f *inflight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// wait returns nil once no handler runs, or ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track counts h's running requests in s.inflight.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.add()
		defer s.inflight.done()
		h.ServeHTTP(w, r)
	})
}

// New checks cfg, loads (or creates) the JWT secret and the registered data
// types, and prepares the pullers. It starts nothing: see Run and Serve.
func New(st *store.Store, cfg Config, log *slog.Logger) (*Server, error) {
	if st == nil {
		return nil, errors.New("server: nil store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	secret, err := LoadOrCreateSecret(cfg.Auth.SecretFile)
	if err != nil {
		return nil, err
	}
	s := &Server{st: st, cfg: cfg, log: log, secret: secret, auth: newAuthenticator(secret),
		byName: map[string]*puller{}, started: time.Now()}
	st.SetAuditKey(AuditChainKey(secret))
	for _, b := range cfg.Push.ContentBases {
		cb, _ := parseContentBase(b) // validated
		s.pushBases = append(s.pushBases, cb)
	}
	if _, err := s.types.reload(context.Background(), st); err != nil {
		return nil, fmt.Errorf("load data types: %w", err)
	}
	for _, sc := range cfg.Sources {
		p, err := newPuller(s, sc)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		s.pullers = append(s.pullers, p)
		s.byName[sc.Name] = p
	}
	s.requests = newRequestRunner(s)
	if s.deliverer, err = newDeliverer(s); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	s.delivery = &deliveryRunner{s: s, kick: make(chan struct{}, 1)}
	if s.notifier, err = newNotifier(s); err != nil {
		return nil, err
	}
	s.portalRL = newFailLimiter(cfg.Delivery.PortalFailuresPerMinute)
	s.handler = s.track(s.routes())
	return s, nil
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Secret returns the HMAC secret tokens are signed with (for embedding
// callers that mint their own tokens with SignToken).
func (s *Server) Secret() []byte { return s.secret }

// Run listens on the configured address and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln and runs the pullers until ctx ends, then stops
// accepting and drains in-flight requests for up to ShutdownTimeout. Requests
// still running then have their connections closed (cancelling their
// contexts, so nothing half-read is committed) and are waited for up to
// another forceCloseGrace; if some still run, Serve returns
// ErrHandlersRunning. The pullers stop when ctx ends: the pull request in
// flight is cancelled, the entities already received are committed with
// their since-token, and Serve waits for that. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute, // large pushes and setup uploads
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// The pullers stop when ctx ends or the listener fails; their commits
	// do not take this cancellation (see pullPages).
	pullCtx, stopPullers := context.WithCancel(ctx)
	defer stopPullers()
	var wg sync.WaitGroup
	for _, p := range s.pullers {
		wg.Go(func() { p.run(pullCtx) })
	}
	if s.ingest != nil {
		// Stops with the pullers; Run commits what is extracted, then returns.
		wg.Go(func() { s.runIngest(pullCtx) })
	}
	wg.Go(func() { s.runRequests(pullCtx) })
	wg.Go(func() { s.runDeliveries(pullCtx) })
	wg.Go(func() { s.runNotifier(pullCtx) })
	s.log.Info("serving", "addr", ln.Addr().String(), "sources", len(s.pullers))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
		srv.Close() // the listener failed: end the connections too
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			s.log.Warn("shutdown: requests still running after shutdown_timeout; closing their connections",
				"running", s.inflight.count(), "timeout", s.cfg.ShutdownTimeout.String())
			srv.Close()
			err = fmt.Errorf("shutdown: requests did not finish within %s and were cut off: %w", s.cfg.ShutdownTimeout, err)
		}
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	stopPullers()
	wg.Wait()
	gctx, cancel := context.WithTimeout(context.Background(), forceCloseGrace)
	defer cancel()
	if werr := s.inflight.wait(gctx); werr != nil {
		s.log.Error("shutdown: request handlers still running", "running", s.inflight.count())
		return errors.Join(err, ErrHandlersRunning)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("stopped")
	return err
}

// dataTypesChanged refreshes the data type cache after a commit and, when
// types were added, makes every source with recorded rejections re-pull
// from the start: its documents naming a then-unknown type are accepted
// now, and unchanged ones publish nothing new.
func (s *Server) dataTypesChanged(ctx context.Context) {
	added, err := s.types.reload(context.WithoutCancel(ctx), s.st)
	if err != nil {
		s.log.Error("reload data types", "err", err)
		return
	}
	if len(added) == 0 {
		return
	}
	for _, p := range s.pullers {
		rj, err := s.st.Rejections(context.WithoutCancel(ctx), p.dataset, 1)
		if err != nil {
			s.log.Error("read rejections", "source", p.cfg.Name, "err", err)
			continue
		}
		if len(rj) > 0 {
			s.log.Info("data types added: re-pulling source with rejections", "source", p.cfg.Name, "added", len(added))
			p.repull.Store(true)
			p.kick()
		}
	}
}

// hashID is how entity and request ids appear in logs: the first 12 hex
// digits of their keyed audit reference (auditRef), so a log line can be
// matched to audit entries, and ids that are easy to guess ("AR-2024-0042")
// cannot be confirmed by hashing guesses without the server secret.
func (s *Server) hashID(id string) string {
	r := auditRef(s.secret, id)
	if len(r) > 12 {
		r = r[:12]
	}
	return r
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
