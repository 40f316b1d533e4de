package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/sources/fileshare"
	"github.com/docvet/docvet/store"
)

// runSource runs a document-source service: "docvet source fileshare ...".
func runSource(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const kinds = "fileshare"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "Usage: docvet source KIND [flags]\n\nKinds:\n  fileshare   publish the documents of a directory tree\n\nRun 'docvet source KIND -h' for its flags.\n")
		if len(args) == 0 {
			return fmt.Errorf("%w: source kind missing (one of: %s)", errUsage, kinds)
		}
		return nil
	}
	switch args[0] {
	case "fileshare":
		return runSourceFileshare(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown source kind %q (one of: %s)", errUsage, args[0], kinds)
	}
}

func runSourceFileshare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet source fileshare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: docvet source fileshare --root DIR --data-type ID [flags]

Publishes every regular file under DIR as a gdpr-document entity (JSON pull at
/api/publishers/documents/entities) and serves its bytes at /content/PATH.
Symlinks, hidden (dot) files and special files are never listed or served.
The service has no authentication: it listens on loopback by default; expose
it only to the docvet pipeline's network.

original-url: with --original-url-base, the escaped relative path is appended
to it (e.g. smb://fileserver/hr -> smb://fileserver/hr/2019/a.pdf); without
it, original-url is the extract-content URL itself.

Flags:
`)
		fs.PrintDefaults()
	}
	root := fs.String("root", "", "directory to publish (required)")
	dataType := fs.String("data-type", "", "gdpr-data-type:data-type-id of every document (required; must be registered in the core)")
	listen := fs.String("listen", "127.0.0.1:8081", "listen address host:port")
	publicURL := fs.String("public-url", "", "base URL the pipeline reaches this service at; extract-content URLs are built from it (default http://<listen>; a proxy serving it under a path prefix must strip the prefix)")
	originalBase := fs.String("original-url-base", "", "base URL reviewers open documents under (default: the extract-content URL)")
	statePath := fs.String("state", "", "state database file (default <user cache dir>/docvet/fileshare-<hash of root>.db)")
	interval := fs.Duration("rescan-interval", 5*time.Minute, "time between periodic rescans (0: only at startup and on POST /rescan)")
	idPrefix := fs.String("id-prefix", "fileshare", "prefix of _id and document_id: <prefix>:<relative path>")
	maxLimit := fs.Int("max-limit", 0, "largest page a pull may ask for (0: unlimited)")
	allowEmpty := fs.Bool("allow-empty-root", false, "let a rescan that finds the root empty delete all known documents (off: an empty root is treated as an unmounted share)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	switch {
	case *root == "":
		return fmt.Errorf("%w: --root is required", errUsage)
	case strings.TrimSpace(*dataType) == "":
		return fmt.Errorf("%w: --data-type is required", errUsage)
	case *interval < 0:
		return fmt.Errorf("%w: --rescan-interval must not be negative", errUsage)
	case *maxLimit < 0:
		return fmt.Errorf("%w: --max-limit must not be negative", errUsage)
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	if fi, err := os.Stat(absRoot); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: --root %s is not a readable directory", errUsage, *root)
	}
	state := *statePath
	if state == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("%w: no user cache directory (%v): give --state", errUsage, err)
		}
		h := sha256.Sum256([]byte(absRoot))
		state = filepath.Join(cache, "docvet", "fileshare-"+hex.EncodeToString(h[:8])+".db")
	}
	if inside, err := within(absRoot, state); err != nil {
		return err
	} else if inside {
		return fmt.Errorf("%w: --state must not be inside --root (it would publish itself)", errUsage)
	}

	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	base := *publicURL
	if base == "" {
		if addr.IP.IsUnspecified() {
			return fmt.Errorf("%w: --listen %s has no host: give --public-url (the URL the pipeline reaches this service at)", errUsage, *listen)
		}
		base = "http://" + addr.String()
	}
	if !addr.IP.IsLoopback() {
		log.Warn("listening beyond loopback: the content endpoint has no authentication; restrict it to the pipeline's network", "listen", addr.String())
	}

	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	share, err := fileshare.New(absRoot, st, fileshare.Options{
		DataType:        *dataType,
		PublicURL:       base,
		OriginalURLBase: *originalBase,
		IDPrefix:        *idPrefix,
		AllowEmptyRoot:  *allowEmpty,
		Logger:          log,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	srv := &http.Server{
		Handler:           sources.NewHandler(share, sources.HandlerOptions{MaxLimit: *maxLimit, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "docvet source fileshare: publishing at %s%s (listening on %s)\n", strings.TrimRight(base, "/"), sources.PublisherPath, addr)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	scansDone := make(chan struct{})
	go func() {
		defer close(scansDone)
		share.Run(runCtx, *interval)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}
	// Graceful shutdown: stop accepting, let requests finish (bounded), stop
	// the rescan loop (a running rescan stops at its next file and
	// publishes no deletions), then close the store.
	stopRun()
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if shErr := srv.Shutdown(shCtx); shErr != nil {
		log.Warn("shutdown: requests cut off", "err", shErr)
		srv.Close()
	}
	<-scansDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// within reports whether path is inside (or is) dir, after resolving
// symlinks of the existing parts, so --state cannot sneak into the root.
func within(dir, path string) (bool, error) {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	// Resolve the longest existing ancestor of p (the file may not exist).
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			p = filepath.Join(r, rest)
			break
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			break
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel == "." || !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "..", nil
}
