package extractor

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/docvet/docvet/extractor/doctext"
)

// Wire protocol between Pool (parent) and ServeWorker (child), over the
// child's stdin/stdout. Every message is
//
//	uint32 BE header length | JSON header | uint64 BE body length | body
//
// The parent first sends a workerConfig (no body) and the child answers with
// a workerHello. Then, per document: request header + document bytes, and
// response header (Result without Text) + text bytes. The text travels raw,
// not JSON-escaped, because it can be hundreds of megabytes.

// protocolVersion changes whenever the framing or headers change; parent
// and child must agree (a stale docvet binary on PATH is refused).
const protocolVersion = "docvet-extract/1"

type workerConfig struct {
	Protocol    string         `json:"protocol"`
	Version     string         `json:"version"`
	MemoryLimit int64          `json:"memory_limit"` // bytes; 0 = none
	Limits      doctext.Limits `json:"limits"`
	Pdftotext   string         `json:"pdftotext,omitempty"` // Options.Pdftotext
}

type workerHello struct {
	Protocol string `json:"worker_protocol"` // distinct keys: an echoing
	Version  string `json:"worker_version"`  // program must not pass
	PID      int    `json:"pid"`
	MemLimit string `json:"mem_limit"` // the mechanisms applied, for diagnostics
}

type response struct {
	Result Result `json:"result"`
	Error  string `json:"error,omitempty"` // protocol-level problem
}

// Frame size caps. They protect the reader from a corrupt length prefix and
// the parent from a document crafted to blow up the result's metadata. A
// response header holds at most doctext.MaxSegments segments (locations
// capped at doctext.MaxLocationBytes) and doctext.MaxWarnings warnings:
// about 14 MiB in the worst case with plain locations. A worker whose
// header would still be larger drops the segments (see ServeWorker); a
// larger header the parent sees is reported as a limit.
const (
	maxHeaderBytes   = 16 << 20
	maxReqHeaderSize = 1 << 20
)

// stderrMarker is written to stderr by the worker before each document.
const stderrMarker = "\n-- docvet extract-worker: next document --\n"

var (
	errFrame          = errors.New("bad frame")
	errHeaderTooLarge = fmt.Errorf("%w: header too large", errFrame)
)

func writeMsg(w io.Writer, hdr any, body []byte) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	return writeFrame(w, h, body)
}

// writeFrame writes a marshalled header and a body, which may be a []byte
// or a string (a document's text is not copied to bytes).
func writeFrame[B []byte | string](w io.Writer, h []byte, body B) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var n4 [4]byte
	var n8 [8]byte
	binary.BigEndian.PutUint32(n4[:], uint32(len(h)))
	binary.BigEndian.PutUint64(n8[:], uint64(len(body)))
	bw.Write(n4[:])
	bw.Write(h)
	bw.Write(n8[:])
	switch b := any(body).(type) {
	case []byte:
		bw.Write(b)
	case string:
		bw.WriteString(b)
	}
	return bw.Flush()
}

// readMsg reads one message. io.EOF is returned only when the stream ends
// cleanly before a message starts.
func readMsg(r io.Reader, hdr any, maxHdr int, maxBody int64) ([]byte, error) {
	bl, err := readHeader(r, hdr, maxHdr, maxBody)
	if err != nil {
		return nil, err
	}
	body := make([]byte, bl)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpected(err)
	}
	return body, nil
}

// readResponse reads a response whose body is a document's text, straight
// into the string the Result keeps (no second copy in the parent).
func readResponse(r io.Reader, hdr *response, maxBody int64) (string, error) {
	bl, err := readHeader(r, hdr, maxHeaderBytes, maxBody)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(int(bl))
	if _, err := io.CopyN(&sb, r, int64(bl)); err != nil {
		return "", unexpected(err)
	}
	return sb.String(), nil
}

// readHeader reads a message's header into hdr and returns its body length.
func readHeader(r io.Reader, hdr any, maxHdr int, maxBody int64) (uint64, error) {
	var n4 [4]byte
	if _, err := io.ReadFull(r, n4[:]); err != nil {
		return 0, err
	}
	hl := binary.BigEndian.Uint32(n4[:])
	if int64(hl) > int64(maxHdr) {
		return 0, fmt.Errorf("%w (%d bytes)", errHeaderTooLarge, hl)
	}
	h := make([]byte, hl)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, unexpected(err)
	}
	if err := json.Unmarshal(h, hdr); err != nil {
		return 0, fmt.Errorf("%w: %w", errFrame, err)
	}
	var n8 [8]byte
	if _, err := io.ReadFull(r, n8[:]); err != nil {
		return 0, unexpected(err)
	}
	bl := binary.BigEndian.Uint64(n8[:])
	if bl > uint64(maxBody) {
		return 0, fmt.Errorf("%w: body of %d bytes", errFrame, bl)
	}
	return bl, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WorkerOptions tune ServeWorker.
type WorkerOptions struct {
	// TestHooks registers the hostile test formats (TestMIMEPanic, ...).
	// Only tests set it.
	TestHooks bool
	// NoSelfLimit skips the worker's own RLIMIT_DATA/GOMEMLIMIT, leaving
	// only the parent's RSS watchdog. For tests and measurements only.
	NoSelfLimit bool
}

// ServeWorker is the body of "docvet extract-worker": it reads the
// configuration and then documents from in, extracts each in this process,
// and writes results to out, until in ends (nil) or ctx is done. It applies
// the configured memory limit to its own process first (see BENCHMARKS.md, "Extraction sandbox"):
// call it only in a process dedicated to extraction. It also ignores SIGINT
// and SIGTERM: the parent decides when a worker ends (stdin EOF or a kill),
// so an interrupt sent to a whole process group or cgroup does not turn the
// documents in flight into failures.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, opt WorkerOptions) error {
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	br := bufio.NewReaderSize(in, 64<<10)
	var cfg workerConfig
	if _, err := readMsg(br, &cfg, maxReqHeaderSize, 0); err != nil {
		return fmt.Errorf("worker: read config: %w", err)
	}
	if cfg.Protocol != protocolVersion {
		return fmt.Errorf("worker: protocol %q, want %q", cfg.Protocol, protocolVersion)
	}
	applied := "none (disabled)"
	if !opt.NoSelfLimit {
		var err error
		if applied, err = applyMemoryLimit(cfg.MemoryLimit); err != nil {
			return fmt.Errorf("worker: memory limit: %w", err)
		}
	}
	hello := workerHello{Protocol: protocolVersion, Version: Version, PID: os.Getpid(), MemLimit: applied}
	if err := writeMsg(out, hello, nil); err != nil {
		return fmt.Errorf("worker: hello: %w", err)
	}
	lim := cfg.Limits.WithDefaults()
	e := New(Options{Limits: lim, Pdftotext: cfg.Pdftotext, testHooks: opt.TestHooks, noTimeout: true})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var req request
		data, err := readMsg(br, &req, maxReqHeaderSize, lim.MaxInputBytes)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("worker: read request: %w", err)
		}
		// Tell the parent's crash log where this document's stderr begins.
		os.Stderr.WriteString(stderrMarker)
		res := e.extract(ctx, data, req)
		text := res.Text
		res.Text = ""
		data = nil
		h, err := responseHeader(res)
		if err != nil {
			return fmt.Errorf("worker: write response: %w", err)
		}
		if err := writeFrame(out, h, text); err != nil {
			return fmt.Errorf("worker: write response: %w", err)
		}
		// Give the document's memory back before the next one: a worker
		// that just parsed a 400 MB file should not sit on it.
		if len(text) > 64<<20 {
			debug.FreeOSMemory()
		}
	}
}

// responseHeader marshals res (without its text). If the header would pass
// maxHeaderBytes (segments with long, heavily escaped locations), the
// segments are dropped and the document reported partial: its text is
// complete, only the locations are lost.
func responseHeader(res Result) ([]byte, error) {
	h, err := json.Marshal(response{Result: res})
	if err != nil || len(h) <= maxHeaderBytes {
		return h, err
	}
	le := doctext.LimitError{Limit: "result_header_bytes", Value: maxHeaderBytes}
	res.Segments = nil
	if res.Status == doctext.StatusOK {
		res.Status = doctext.StatusPartial
	}
	res.Reason = joinReason(le.Error()+": segment locations dropped", res.Reason)
	if len(res.Warnings) > 0 {
		res.Warnings = res.Warnings[:1]
	}
	return json.Marshal(response{Result: res})
}
