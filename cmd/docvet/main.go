// Command docvet is the one binary of docvet: the core service, document
// sources, the sandboxed extraction worker, the demo and operator tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// errUsage marks a command-line mistake: exit code 2, as flag does.
var errUsage = errors.New("usage")

// exitCode maps an error to the process exit code, in one place.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "docvet:", err)
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		fmt.Fprintln(stderr, "docvet:", err)
		return 1
	}
}

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve": {"run the core service (receivers, publishers, pullers)", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runServe(ctx, a, o, e)
		}},
		"token": {"print a bearer token for the core service's API", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runToken(ctx, a, o, e)
		}},
		"source": {"run a document-source service (source fileshare ...)", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runSource(ctx, a, o, e)
		}},
		"extract": {"extract text from local files and print status, hash, MIME and text", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runExtract(ctx, a, o, e)
		}},
		"extract-worker": {"(internal) sandboxed extraction worker speaking on stdin/stdout", func(ctx context.Context, a []string, i io.Reader, o, _ io.Writer) error {
			return runExtractWorker(ctx, a, i, o)
		}},
		"index": {"index every pending document once, with a progress line, and exit", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runIndex(ctx, a, o, e)
		}},
		"reindex": {"rebuild the search index from the sources into a new directory and swap it in", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runReindex(ctx, a, o, e)
		}},
		"status": {"print dataset, ingestion and extraction-status counts", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runStatus(ctx, a, o, e)
		}},
		"request": {"file an access request or show its state (request create|status)", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runRequest(ctx, a, o, e)
		}},
		"vet": {"download or upload a request's vetting workbook (vet export|import)", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runVet(ctx, a, o, e)
		}},
		"demo": {"run the pipeline on the embedded sample share and show what happened", func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
			return runDemo(ctx, a, o, e)
		}},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	return c.run(ctx, args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("docvet finds the documents held about a person, lets reviewers vet them, and delivers them encrypted.\n\nUsage: docvet COMMAND [flags]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-15s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'docvet COMMAND -h' for a command's flags.\n")
	io.WriteString(w, b.String())
}
