package extractor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// Hostile test formats, registered only when WorkerOptions.TestHooks (or the
// unexported Options.testHooks) is set, which only tests do. They prove that
// a crash, a hang or a memory blow-up costs one document and nothing more.
const (
	testMIMEPrefix = "application/x-docvet-test-"
	TestMIMEPanic  = testMIMEPrefix + "panic" // panics (recovered: "parser crashed")
	TestMIMECrash  = testMIMEPrefix + "crash" // panics on another goroutine: the process dies
	TestMIMEHang   = testMIMEPrefix + "hang"  // never returns, ignores ctx
	TestMIMEOOM    = testMIMEPrefix + "oom"   // allocates until stopped
	TestMIMEEcho   = testMIMEPrefix + "echo"  // writes the input as text
	// TestMIMEStderr writes a fake "out of memory" line to stderr and
	// succeeds: a later crash must not be blamed on memory.
	TestMIMEStderr = testMIMEPrefix + "stderr"
	// TestMIMETempDir creates a file in os.TempDir() and writes that
	// directory's path as the text.
	TestMIMETempDir = testMIMEPrefix + "tempdir"
)

func testFormats() map[string]format {
	return map[string]format{
		TestMIMEPanic: {"test", func(context.Context, doctext.Input, *doctext.Builder, doctext.Options) error {
			panic("test: hostile document")
		}},
		TestMIMECrash: {"test", func(context.Context, doctext.Input, *doctext.Builder, doctext.Options) error {
			done := make(chan struct{})
			go func() { panic("test: hostile document on another goroutine") }()
			<-done
			return nil
		}},
		TestMIMEHang: {"test", func(context.Context, doctext.Input, *doctext.Builder, doctext.Options) error {
			for {
				time.Sleep(time.Hour)
			}
		}},
		TestMIMEOOM: {"test", func(context.Context, doctext.Input, *doctext.Builder, doctext.Options) error {
			var keep [][]byte
			for {
				b := make([]byte, 8<<20)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1
				}
				keep = append(keep, b)
			}
		}},
		TestMIMEStderr: {"test", func(_ context.Context, _ doctext.Input, b *doctext.Builder, _ doctext.Options) error {
			fmt.Fprintln(os.Stderr, "fatal error: runtime: out of memory (test: not really)")
			return b.WriteString("wrote to stderr")
		}},
		TestMIMETempDir: {"test", func(_ context.Context, _ doctext.Input, b *doctext.Builder, _ doctext.Options) error {
			dir := os.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "spooled-document"), []byte("personal data"), 0o600); err != nil {
				return err
			}
			return b.WriteString(dir)
		}},
		TestMIMEEcho: {"test", func(_ context.Context, in doctext.Input, b *doctext.Builder, _ doctext.Options) error {
			p := make([]byte, in.Size)
			if n, err := in.R.ReadAt(p, 0); n < len(p) {
				return err
			}
			_, err := b.Write(p)
			return err
		}},
	}
}
