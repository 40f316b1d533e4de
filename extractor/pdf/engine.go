package pdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// Config selects the engines of an Extractor.
type Config struct {
	// Pdftotext is the path of poppler's pdftotext. Empty means: look it up
	// in PATH; "-" disables it.
	Pdftotext string
	// Engine is the engine tried first.
	Engine Engine
}

// Engine names a text extraction engine.
type Engine int

const (
	// EngineAuto: pure Go first, pdftotext (when installed) for documents
	// the Go engine cannot read; see doc.go for the measurements behind it.
	EngineAuto Engine = iota
	// EngineGo uses only the pure-Go engine.
	EngineGo
	// EnginePdftotext uses only pdftotext.
	EnginePdftotext
)

// Extractor extracts PDF text with the configured engines.
type Extractor struct {
	pdftotext string // "" if unavailable
	engine    Engine
}

// New returns an Extractor for cfg.
func New(cfg Config) *Extractor {
	x := &Extractor{engine: cfg.Engine}
	switch cfg.Pdftotext {
	case "-":
	case "":
		if p, err := exec.LookPath("pdftotext"); err == nil {
			x.pdftotext = p
		}
	default:
		x.pdftotext = cfg.Pdftotext
	}
	return x
}

// HasPdftotext reports whether the pdftotext engine is available.
func (x *Extractor) HasPdftotext() bool { return x.pdftotext != "" }

// Extract implements doctext.ExtractFunc: it writes the text of a PDF page
// by page ("page N" segments). It returns nil, a *doctext.LimitError after
// writing what was read, or an error wrapping doctext.ErrEncrypted,
// ErrUnsupported or ErrMalformed.
func (x *Extractor) Extract(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	switch x.engine {
	case EngineGo:
		return extractGo(ctx, in, b, opt)
	case EnginePdftotext:
		if x.pdftotext == "" {
			return fmt.Errorf("pdf: pdftotext is not installed: %w", doctext.ErrUnsupported)
		}
		return x.extractPoppler(ctx, in, b, opt)
	}
	return x.extractAuto(ctx, in, b, opt)
}

// extractAuto runs the Go engine and, when it fails on a document pdftotext
// may still read (malformed structure or an encryption scheme the library
// lacks, not a user password), retries with pdftotext into a fresh builder.
func (x *Extractor) extractAuto(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	err := extractGo(ctx, in, b, opt)
	if x.pdftotext == "" || ctx.Err() != nil {
		return err
	}
	if err == nil {
		// No text at all is either a scan or a font the Go engine cannot
		// map (Type3, CID fonts without ToUnicode, vertical writing):
		// pdftotext decides which. On a scan it finds nothing either and
		// the document stays empty.
		if strings.TrimSpace(b.Text()) == "" {
			return x.extractPoppler(ctx, in, b, opt)
		}
		return nil
	}
	var le *doctext.LimitError
	if errors.As(err, &le) || strings.Contains(err.Error(), "user password") {
		return err
	}
	if b.Len() > 0 {
		// Partial text is already written and the Builder cannot be
		// rewound; keep the Go result.
		return err
	}
	perr := x.extractPoppler(ctx, in, b, opt)
	if perr == nil {
		b.Warn("pdf: read by pdftotext after the Go engine failed")
	}
	return perr
}

// extractPoppler runs pdftotext on a private, already unlinked temporary
// file passed as /dev/fd/3: pdftotext needs a seekable file and nothing is
// left on disk even if the worker dies.
func (x *Extractor) extractPoppler(ctx context.Context, in doctext.Input, b *doctext.Builder, opt doctext.Options) error {
	lim := opt.Limits.WithDefaults()
	if in.Size > lim.MaxInputBytes {
		return &doctext.LimitError{Limit: "max_input_bytes", Value: lim.MaxInputBytes}
	}
	f, err := os.CreateTemp("", "docvet-pdf-*")
	if err != nil {
		return fmt.Errorf("pdftotext temp file: %w", err)
	}
	defer f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("pdftotext temp file: %w", err)
	}
	if _, err := io.Copy(f, io.NewSectionReader(in.R, 0, in.Size)); err != nil {
		return fmt.Errorf("pdftotext temp file: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("pdftotext temp file: %w", err)
	}
	maxOut := lim.MaxChars*4 + 1024
	cmd := exec.CommandContext(ctx, x.pdftotext, "-enc", "UTF-8",
		"-l", strconv.Itoa(lim.MaxPDFPages+1), "/dev/fd/3", "-")
	cmd.ExtraFiles = []*os.File{f}
	// pdftotext must not outlive this process (a worker killed for a
	// timeout): see sysproc_linux.go.
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("pdftotext: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pdftotext: %w", err)
	}
	out, rerr := io.ReadAll(io.LimitReader(stdout, maxOut+1))
	truncated := int64(len(out)) > maxOut
	if truncated {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rerr != nil && !truncated {
		return fmt.Errorf("pdftotext: %w", rerr)
	}
	if werr != nil && !truncated {
		msg := stderr.String()
		if strings.Contains(msg, "Incorrect password") {
			return fmt.Errorf("pdf: a user password is required: %w", doctext.ErrEncrypted)
		}
		return fmt.Errorf("pdf: pdftotext failed: %w", doctext.ErrMalformed)
	}
	pages := strings.Split(string(out), "\f")
	if len(pages) > 0 && strings.TrimSpace(pages[len(pages)-1]) == "" {
		pages = pages[:len(pages)-1]
	}
	var limitErr error
	if len(pages) > lim.MaxPDFPages {
		pages = pages[:lim.MaxPDFPages]
		limitErr = &doctext.LimitError{Limit: "max_pdf_pages", Value: int64(lim.MaxPDFPages)}
	}
	for i, p := range pages {
		p = strings.TrimRight(p, " \n")
		if strings.TrimSpace(p) == "" {
			continue
		}
		b.Start(fmt.Sprintf("page %d", i+1))
		if err := b.EnsureSep("\n"); err != nil {
			return err
		}
		if err := b.WriteString(p + "\n"); err != nil {
			return err
		}
	}
	if truncated {
		return &doctext.LimitError{Limit: "max_chars", Value: lim.MaxChars}
	}
	return limitErr
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
