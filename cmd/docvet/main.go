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
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// stdio replaces run for a command that speaks on stdin/stdout.
	stdio func(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":          {summary: "run the core service (receivers, publishers, pullers, ingestion, access requests)", run: runServe},
		"token":          {summary: "print a bearer token for the core service's API", run: runToken},
		"source":         {summary: "run a document-source service (source fileshare ...)", run: runSource},
		"extract":        {summary: "extract text from local files and print status, hash, MIME and text", run: runExtract},
		"extract-worker": {summary: "(internal) sandboxed extraction worker speaking on stdin/stdout", stdio: runExtractWorker},
		"index":          {summary: "index every pending document once, with a progress line, and exit", run: runIndex},
		"reindex":        {summary: "rebuild the search index from the sources into a new directory and swap it in", run: runReindex},
		"status":         {summary: "print dataset, ingestion and extraction-status counts", run: runStatus},
		"request":        {summary: "file an access request or show its state (request create|status)", run: runRequest},
		"vet":            {summary: "download or upload a request's vetting workbook (vet export|import)", run: runVet},
		"audit":          {summary: "verify the audit log's hash chain or show its entries (audit verify|show)", run: runAudit},
		"decrypt":        {summary: "decrypt delivered items or a bundle with the data subject's private key", run: runDecrypt},
		"demo":           {summary: "run the pipeline on the embedded sample share and show what happened", run: runDemo},
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
	if c.stdio != nil {
		return c.stdio(ctx, args[1:], stdin, stdout)
	}
	return c.run(ctx, args[1:], stdout, stderr)
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
