package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/docvet/docvet/index/ingest"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// serveConfig loads the configuration: embedded defaults, the YAML file
// (--config or DOCVET_CONFIG), DOCVET_* variables, then the flags given.
func serveConfig(fs *flag.FlagSet, configPath, dataDir, listen string) (server.Config, error) {
	if configPath == "" {
		configPath = os.Getenv("DOCVET_CONFIG")
	}
	cfg, err := server.LoadConfig(configPath, os.Getenv)
	if err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data-dir"] {
		if cfg.Auth.SecretFile == filepath.Join(cfg.DataDir, "jwt.secret") {
			cfg.Auth.SecretFile = filepath.Join(dataDir, "jwt.secret")
		}
		cfg.DataDir = dataDir
	}
	if set["listen"] {
		cfg.Listen = listen
	}
	return cfg, nil
}

// runServe runs the core service until ctx ends.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (see docvet.example.yaml; env DOCVET_CONFIG)")
	dataDir := fs.String("data-dir", "", "data directory (default ./docvet-data; env DOCVET_DATA_DIR)")
	listen := fs.String("listen", "", "listen address host:port (default 127.0.0.1:8080; env DOCVET_LISTEN)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	checkOnly := fs.Bool("check-config", false, "validate the configuration, print it and exit")
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
	cfg, err := serveConfig(fs, *configPath, *dataDir, *listen)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if *checkOnly {
		fmt.Fprintf(stdout, "configuration OK: data_dir=%s listen=%s sources=%d index_dir=%s phone_region=%s id_patterns=%d\n",
			cfg.DataDir, cfg.Listen, len(cfg.Sources), cfg.IndexDir(), cfg.Index.PhoneRegion, len(cfg.Index.IDPatterns))
		return nil
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ingest.TuneGC(os.Getenv)
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if err != nil {
		return err
	}
	closeStore := true
	defer func() {
		if closeStore {
			st.Close()
		}
	}()
	srv, err := server.New(st, cfg, log)
	if err != nil {
		return err
	}
	// The ingestion pipeline: sandboxed workers (this binary's
	// extract-worker), downloads only from each document's source.
	iopt, err := indexOptions(cfg)
	if err != nil {
		return err
	}
	pool, err := extractor.NewPool(poolOptions(cfg, 0))
	if err != nil {
		return err
	}
	defer pool.Close()
	err = srv.EnableIngest(server.IngestConfig{
		IndexDir:  indexDir(cfg),
		Index:     iopt,
		Extractor: pool,
		Fetcher:   extractor.NewFetcher(extractor.FetchOptions{}),
	})
	if err != nil {
		return err
	}
	err = srv.Run(ctx)
	if errors.Is(err, server.ErrHandlersRunning) {
		// Closing the store under running handlers would fail them midway;
		// the process exit ends them, and SQLite rolls back what they had
		// not committed (everything acknowledged is committed).
		closeStore = false
	}
	if err == nil && ctx.Err() != nil {
		return nil // a signal is a clean stop
	}
	return err
}

// runToken prints a bearer token signed with the service's secret.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (env DOCVET_CONFIG)")
	dataDir := fs.String("data-dir", "", "data directory holding jwt.secret (env DOCVET_DATA_DIR)")
	listen := fs.String("listen", "", "unused; accepted so serve and token share flags")
	var scopes []string
	fs.Func("scope", "scope to grant (repeat or comma-separate): push (receivers), read (status and the\n"+
		"document and data type publishers), subjects (the access request publisher: subject ids and\n"+
		"public keys), admin (admin API)", func(v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
		return nil
	})
	ttl := fs.Duration("ttl", 24*time.Hour, "token lifetime")
	subject := fs.String("subject", "operator", "who the token is for (the sub claim)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(scopes) == 0 {
		return fmt.Errorf("%w: --scope is required (%s)", errUsage, strings.Join(server.Scopes(), ", "))
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return fmt.Errorf("%w: --ttl must be between 1s and 366 days", errUsage)
	}
	cfg, err := serveConfig(fs, *configPath, *dataDir, *listen)
	if err != nil {
		return err
	}
	secret, err := server.LoadOrCreateSecret(cfg.Auth.SecretFile)
	if err != nil {
		return err
	}
	tok, err := server.SignToken(secret, *subject, scopes, *ttl, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
