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
	"runtime/debug"

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

// Frame size caps. They protect the reader from a corrupt length prefix.
const (
	maxHeaderBytes   = 256 << 20 // segments of a huge spreadsheet can be many
	maxReqHeaderSize = 1 << 20
)

var errFrame = errors.New("bad frame")

func writeMsg(w io.Writer, hdr any, body []byte) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var n4 [4]byte
	var n8 [8]byte
	binary.BigEndian.PutUint32(n4[:], uint32(len(h)))
	binary.BigEndian.PutUint64(n8[:], uint64(len(body)))
	bw.Write(n4[:])
	bw.Write(h)
	bw.Write(n8[:])
	bw.Write(body)
	return bw.Flush()
}

// readMsg reads one message. io.EOF is returned only when the stream ends
// cleanly before a message starts.
func readMsg(r io.Reader, hdr any, maxHdr int, maxBody int64) ([]byte, error) {
	var n4 [4]byte
	if _, err := io.ReadFull(r, n4[:]); err != nil {
		return nil, err
	}
	hl := binary.BigEndian.Uint32(n4[:])
	if int64(hl) > int64(maxHdr) {
		return nil, fmt.Errorf("%w: header of %d bytes", errFrame, hl)
	}
	h := make([]byte, hl)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, unexpected(err)
	}
	if err := json.Unmarshal(h, hdr); err != nil {
		return nil, fmt.Errorf("%w: %w", errFrame, err)
	}
	var n8 [8]byte
	if _, err := io.ReadFull(r, n8[:]); err != nil {
		return nil, unexpected(err)
	}
	bl := binary.BigEndian.Uint64(n8[:])
	if bl > uint64(maxBody) {
		return nil, fmt.Errorf("%w: body of %d bytes", errFrame, bl)
	}
	body := make([]byte, bl)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpected(err)
	}
	return body, nil
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
// the configured memory limit to its own process first (see SANDBOX.md):
// call it only in a process dedicated to extraction.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, opt WorkerOptions) error {
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
	e := New(Options{Limits: lim, testHooks: opt.TestHooks, noTimeout: true})
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
		res := e.extract(ctx, data, req)
		text := []byte(res.Text)
		res.Text = ""
		data = nil
		if err := writeMsg(out, response{Result: res}, text); err != nil {
			return fmt.Errorf("worker: write response: %w", err)
		}
		// Give the document's memory back before the next one: a worker
		// that just parsed a 400 MB file should not sit on it.
		if len(text) > 64<<20 {
			debug.FreeOSMemory()
		}
	}
}
