package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"

	"github.com/docvet/docvet/extractor"
	"golang.org/x/sync/errgroup"
)

// docExtractor is the common shape of extractor.Extractor and extractor.Pool.
type docExtractor interface {
	Extract(ctx context.Context, r io.Reader, hint extractor.Hint) (extractor.Result, error)
}

var (
	_ docExtractor = (*extractor.Extractor)(nil)
	_ docExtractor = (*extractor.Pool)(nil)
)

// runExtract implements "docvet extract [--json] [--workers N]
// [--in-process] FILE...": it extracts each file (in sandboxed workers by
// default) and prints status, reason, SHA-256, MIME and text, in argument
// order.
func runExtract(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per file and line")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes (and files in flight)")
	inProcess := fs.Bool("in-process", false, "extract in this process (no sandbox: trusted files only)")
	timeout := fs.Duration("timeout", extractor.DefaultTimeout, "wall-clock limit per file")
	memory := fs.Int64("memory-mb", extractor.DefaultMemoryLimit>>20, "memory limit per worker process, MiB")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: docvet extract [--json] [--workers N] [--in-process] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: extract: no files given", errUsage)
	}
	if *workers < 1 {
		return fmt.Errorf("%w: extract: --workers must be at least 1", errUsage)
	}
	var ex docExtractor
	if *inProcess {
		ex = extractor.New(extractor.Options{Timeout: *timeout})
	} else {
		p, err := extractor.NewPool(extractor.PoolOptions{Size: *workers, Timeout: *timeout, MemoryLimit: *memory << 20})
		if err != nil {
			return err
		}
		defer p.Close()
		ex = p
	}

	type outcome struct {
		res extractor.Result
		err error
	}
	results := make([]outcome, len(files))
	done := make([]chan struct{}, len(files))
	for i := range done {
		done[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(*workers)
	go func() {
		for i, name := range files {
			if gctx.Err() != nil {
				for _, d := range done[i:] {
					close(d)
				}
				return
			}
			g.Go(func() error {
				defer close(done[i])
				res, err := extractFile(gctx, ex, name)
				results[i] = outcome{res, err}
				// Only infrastructure errors (ctx, a failing worker
				// binary) stop the run; unreadable files are reported.
				if err != nil && !errors.Is(err, errOpen) {
					return err
				}
				return nil
			})
		}
	}()
	failedOpen := 0
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i, name := range files {
		<-done[i]
		o := results[i]
		results[i] = outcome{} // let the text go
		switch {
		case o.err != nil && errors.Is(o.err, errOpen):
			failedOpen++
			if *asJSON {
				enc.Encode(struct {
					File  string `json:"file"`
					Error string `json:"error"`
				}{name, o.err.Error()})
			} else {
				fmt.Fprintf(stdout, "== %s\nerror: %v\n\n", name, o.err)
			}
		case o.err != nil, o.res.Version == "":
			// infrastructure error (reported by g.Wait below) or never
			// started because the run was cancelled
		case *asJSON:
			if err := enc.Encode(struct {
				File string `json:"file"`
				extractor.Result
			}{name, o.res}); err != nil {
				return err
			}
		default:
			printResult(stdout, name, o.res)
		}
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if failedOpen > 0 {
		return fmt.Errorf("extract: %d of %d files could not be read", failedOpen, len(files))
	}
	return nil
}

var errOpen = errors.New("cannot read file")

func extractFile(ctx context.Context, ex docExtractor, name string) (extractor.Result, error) {
	f, err := os.Open(name)
	if err != nil {
		return extractor.Result{}, fmt.Errorf("%w: %w", errOpen, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return extractor.Result{}, fmt.Errorf("%w: is a directory", errOpen)
	}
	res, err := ex.Extract(ctx, f, extractor.Hint{Name: filepath.Base(name)})
	if errors.Is(err, extractor.ErrInputRead) {
		err = fmt.Errorf("%w: %w", errOpen, err)
	}
	return res, err
}

// printResult prints r for a terminal. Document text is untrusted: escape
// sequences in it (ESC, CSI, OSC: cursor moves, window titles, hyperlinks,
// clipboard writes) are removed, keeping tabs and newlines (JSON output is
// escaped by the encoder instead).
func printResult(w io.Writer, name string, r extractor.Result) {
	fmt.Fprintf(w, "== %s\nstatus: %s\n", terminalSafe(name), r.Status)
	if r.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", terminalSafe(r.Reason))
	}
	fmt.Fprintf(w, "sha256: %s\nmime:   %s\nsize:   %d\nchars:  %d\n", r.SHA256, terminalSafe(r.MIME), r.Size, r.Chars)
	if text := terminalSafe(r.Text); text != "" {
		fmt.Fprintf(w, "\n%s", text)
		if text[len(text)-1] != '\n' {
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
}

// terminalSafe drops control characters (C0, DEL, C1) except tab and
// newline.
func terminalSafe(s string) string {
	clean := true
	for _, r := range s {
		if r != '\t' && r != '\n' && unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r != '\t' && r != '\n' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// runExtractWorker implements the internal "docvet extract-worker"
// command: the sandboxed worker a Pool starts, speaking the framed protocol
// on stdin/stdout until stdin closes.
func runExtractWorker(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: extract-worker takes no arguments", errUsage)
	}
	return extractor.ServeWorker(ctx, stdin, stdout, extractor.WorkerOptions{})
}
