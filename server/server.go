package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	s.handler = s.routes()
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
// accepting, drains in-flight requests (up to ShutdownTimeout) and waits for
// the pullers to finish their current batch. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute, // large pushes and setup uploads
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	pullCtx, stopPullers := context.WithCancel(ctx)
	defer stopPullers()
	var wg sync.WaitGroup
	for _, p := range s.pullers {
		wg.Go(func() { p.run(pullCtx) })
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "sources", len(s.pullers))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	stopPullers()
	wg.Wait()
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

// hashID is how entity ids appear in logs: a SHA-256 prefix.
func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:6])
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
