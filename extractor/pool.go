package extractor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/sniff"
)

// PoolOptions tune a Pool. Zero values are replaced by defaults.
type PoolOptions struct {
	Size         int           // worker processes (default runtime.NumCPU())
	Command      []string      // default: os.Executable() "extract-worker"
	Env          []string      // extra environment for workers (KEY=VALUE; GOGC here overrides WorkerGOGC)
	MemoryLimit  int64         // per worker, bytes (default 1 GiB); keep >= 2x MaxInputBytes
	Timeout      time.Duration // per document (default 60s)
	RecycleAfter int           // documents before a worker is replaced (default 2000)
	Limits       doctext.Limits
	// WatchInterval is how often the parent samples a busy worker's RSS
	// (default 100ms); a backstop behind the worker's own RLIMIT_DATA.
	WatchInterval time.Duration
	// WorkerGOGC is the workers' GOGC (default 400; the environment's or
	// Env's GOGC wins). A worker's live heap is small between documents, so
	// the default 100 made the Go GC about half of a worker's CPU on small
	// text files; its memory stays bounded by MemoryLimit (RLIMIT_DATA and
	// a GOMEMLIMIT at 85%, under which the GC works harder whatever GOGC
	// says). See BENCHMARKS.md, "Ingestion pipeline end to end".
	WorkerGOGC int
	// StartTimeout bounds a worker's start-up handshake (default 10s).
	StartTimeout time.Duration
	// Pdftotext is passed to the workers' Options.Pdftotext: the path of
	// poppler's pdftotext, empty to look it up in the worker's PATH, "-" to
	// disable it.
	Pdftotext string
}

// Pool defaults.
const (
	DefaultMemoryLimit  = 1 << 30
	DefaultRecycleAfter = 2000
	DefaultWorkerGOGC   = 400
)

func (o PoolOptions) withDefaults() (PoolOptions, error) {
	if o.Size <= 0 {
		o.Size = runtime.NumCPU()
	}
	if len(o.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("pool: find executable: %w", err)
		}
		o.Command = []string{exe, "extract-worker"}
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RecycleAfter <= 0 {
		o.RecycleAfter = DefaultRecycleAfter
	}
	if o.WorkerGOGC <= 0 {
		o.WorkerGOGC = DefaultWorkerGOGC
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 100 * time.Millisecond
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	o.Limits = o.Limits.WithDefaults()
	return o, nil
}

// Pool runs extractions in sandboxed worker processes: at most Size at a
// time, each under a memory limit and a wall-clock timeout. A worker that
// crashes, hangs or exceeds its memory is killed; that document is reported
// failed and the next document gets a fresh worker. Workers start lazily.
//
// Each worker runs in its own process group (so a terminal's Ctrl-C reaches
// only the parent, and a kill takes the worker's children, e.g. pdftotext,
// with it) and with a private, 0700 TMPDIR that the parent removes once the
// worker is gone (excelize and pdftotext spool document content there).
type Pool struct {
	opt   PoolOptions
	slots chan *worker // a token per worker slot; nil = no live process
	done  chan struct{}
	once  sync.Once
}

// Errors a Pool returns for infrastructure problems.
var (
	ErrPoolClosed  = errors.New("extractor pool closed")
	ErrWorkerStart = errors.New("start extract worker")
)

// NewPool returns a Pool; no process is started until the first Extract.
func NewPool(opt PoolOptions) (*Pool, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{opt: opt, slots: make(chan *worker, opt.Size), done: make(chan struct{})}
	for range opt.Size {
		p.slots <- nil
	}
	return p, nil
}

// Extract takes a worker slot, reads r in this process (hashing every byte
// and enforcing MaxInputBytes exactly like Extractor.Extract, so even a
// document that kills its worker has a SHA-256 and size), then extracts it
// in the worker. The slot is taken first so that at most Size inputs are
// held in memory at a time. A done ctx always yields ctx's error, never a
// document status.
func (p *Pool) Extract(ctx context.Context, r io.Reader, hint Hint) (Result, error) {
	select {
	case <-p.done:
		return Result{}, ErrPoolClosed
	default:
	}
	var w *worker
	select {
	case w = <-p.slots:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-p.done:
		return Result{}, ErrPoolClosed
	}
	defer func() { p.slots <- w }() // never blocks: one token per slot
	in, err := readInput(ctx, r, p.opt.Limits.MaxInputBytes)
	if err != nil {
		return Result{}, err
	}
	if w == nil {
		if w, err = p.start(ctx); err != nil {
			return Result{}, err
		}
	}
	req := request{Name: hint.Name, MIME: hint.MIME, Size: in.size, Over: in.over}
	res, failure, err := p.run(ctx, w, req, in.data)
	if failure != "" || err != nil {
		w.kill()
		w = nil
	} else if w.docs++; w.docs >= p.opt.RecycleAfter {
		w.stop()
		w = nil
	}
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		// The result may be an artefact of the cancellation.
		return Result{}, err
	}
	if failure != "" {
		res = Result{Status: doctext.StatusFailed, Reason: failure, MIME: fallbackMIME(in.data, hint), Version: Version}
	}
	res.SHA256, res.Size = in.sha, in.size
	return res, nil
}

// fallbackMIME is the type reported for a document whose worker died: a
// head-only detection in the parent (no container parsing of hostile bytes
// here), refined by the declared type when the content is generic.
func fallbackMIME(data []byte, hint Hint) string {
	m := sniff.Detect(data[:min(len(data), sniff.HeadSize)], nil, 0, hint.Name)
	if h := sniff.Essence(hint.MIME); h != "" && (m == sniff.Octet || m == sniff.Plain) {
		return h
	}
	return m
}

// Close stops accepting documents, waits for the ones in flight, and stops
// every worker. Later calls return at once (after the first has finished).
func (p *Pool) Close() error {
	p.once.Do(func() {
		close(p.done)
		for range p.opt.Size {
			if w := <-p.slots; w != nil {
				w.stop()
			}
		}
	})
	return nil
}

// worker is one child process.
type worker struct {
	cmd      *exec.Cmd
	pid      int
	stdin    *os.File
	stdout   *bufio.Reader
	stdoutF  *os.File
	stderr   *crashLog
	tmpDir   string // private TMPDIR, removed when the worker is gone
	docs     int
	waitDone chan struct{}
	waitErr  error
}

func (p *Pool) start(ctx context.Context) (*worker, error) {
	// os.MkdirTemp creates the directory 0700.
	tmp, err := os.MkdirTemp("", "docvet-worker-*")
	if err != nil {
		return nil, fmt.Errorf("%w: private temp dir: %w", ErrWorkerStart, err)
	}
	cmd := exec.Command(p.opt.Command[0], p.opt.Command[1:]...)
	// Later entries win: the private TMPDIR overrides the caller's; a GOGC
	// in the environment or Env overrides WorkerGOGC.
	env := append([]string{"GOGC=" + strconv.Itoa(p.opt.WorkerGOGC)}, os.Environ()...)
	cmd.Env = append(append(env, p.opt.Env...), "TMPDIR="+tmp)
	cmd.SysProcAttr = sysProcAttr()
	// Own pipes (not StdinPipe/StdoutPipe): Wait must not close our read
	// end while a response that was fully written is still being read.
	inR, inW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%w: %w", ErrWorkerStart, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%w: %w", ErrWorkerStart, err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	w := &worker{cmd: cmd, stdin: inW, stdoutF: outR, stdout: bufio.NewReaderSize(outR, 64<<10),
		stderr: &crashLog{max: 4 << 10}, tmpDir: tmp, waitDone: make(chan struct{})}
	cmd.Stderr = w.stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%w: %w", ErrWorkerStart, err)
	}
	w.pid = cmd.Process.Pid
	go func() {
		w.waitErr = cmd.Wait()
		close(w.waitDone)
	}()
	cfg := workerConfig{Protocol: protocolVersion, Version: Version, MemoryLimit: p.opt.MemoryLimit, Limits: p.opt.Limits, Pdftotext: p.opt.Pdftotext}
	hello := make(chan error, 1)
	go func() {
		if err := writeMsg(w.stdin, cfg, nil); err != nil {
			hello <- err
			return
		}
		var h workerHello
		if _, err := readMsg(w.stdout, &h, maxReqHeaderSize, 0); err != nil {
			hello <- err
			return
		}
		if h.Protocol != protocolVersion || h.Version != Version {
			hello <- fmt.Errorf("worker speaks %s version %s, want %s version %s", h.Protocol, h.Version, protocolVersion, Version)
			return
		}
		hello <- nil
	}()
	t := time.NewTimer(p.opt.StartTimeout)
	defer t.Stop()
	select {
	case err = <-hello:
	case <-t.C:
		err = errors.New("no handshake within " + p.opt.StartTimeout.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		w.kill()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrWorkerStart, err)
	}
	return w, nil
}

// run sends one document to w and waits for the result, the timeout, the
// memory watchdog, the worker's death or ctx. A non-empty failure means
// the document failed because of the worker (w must be discarded); err is
// only ctx's.
func (p *Pool) run(ctx context.Context, w *worker, req request, data []byte) (res Result, failure string, err error) {
	type outcome struct {
		resp response
		text string
		err  error
	}
	// Only this document's stderr may explain its worker's death.
	w.stderr.reset()
	ch := make(chan outcome, 1)
	go func() {
		var o outcome
		if o.err = sendRequest(w.stdin, req, data); o.err == nil {
			o.text, o.err = readResponse(w.stdout, &o.resp, 4*p.opt.Limits.MaxChars+4)
		}
		ch <- o
	}()
	timer := time.NewTimer(p.opt.Timeout)
	defer timer.Stop()
	tick := time.NewTicker(p.opt.WatchInterval)
	defer tick.Stop()
	memReason := "memory limit " + humanBytes(p.opt.MemoryLimit) + " exceeded"
	for {
		select {
		case o := <-ch:
			if o.err == nil && o.resp.Error == "" {
				o.resp.Result.Text = o.text
				return o.resp.Result, "", nil
			}
			// The worker died or spoke garbage: find out why.
			w.kill()
			if errors.Is(o.err, errHeaderTooLarge) {
				le := doctext.LimitError{Limit: "result_header_bytes", Value: maxHeaderBytes}
				return Result{}, le.Error(), nil
			}
			if w.stderr.contains("out of memory") {
				return Result{}, memReason, nil
			}
			return Result{}, "worker crashed", nil
		case <-timer.C:
			w.kill()
			<-ch
			return Result{}, "timeout after " + p.opt.Timeout.String(), nil
		case <-ctx.Done():
			w.kill()
			<-ch
			return Result{}, "", ctx.Err()
		case <-tick.C:
			if n, ok := rss(w.pid); ok && n > p.opt.MemoryLimit {
				w.kill()
				<-ch
				return Result{}, memReason, nil
			}
		}
	}
}

// sendRequest writes one request frame (the format of writeFrame) in one
// write for documents up to smallFrame bytes, else two. writeFrame's
// 64 KiB bufio.Writer per message was most of the parent's allocation per
// small document (6.4 GB per 100,000 files, all of it GC work).
func sendRequest(w io.Writer, req request, data []byte) error {
	h, err := json.Marshal(req)
	if err != nil {
		return err
	}
	n := 4 + len(h) + 8
	small := len(data) <= smallFrame
	if small {
		n += len(data)
	}
	buf := make([]byte, 0, n)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(h)))
	buf = append(buf, h...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(data)))
	if small {
		_, err = w.Write(append(buf, data...))
		return err
	}
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// smallFrame is the largest document sendRequest copies into its frame.
const smallFrame = 256 << 10

// kill ends the worker's process group (the worker and anything it
// started), reaps the worker and removes its private TMPDIR.
func (w *worker) kill() {
	killGroup(w.cmd.Process)
	<-w.waitDone
	w.stdin.Close()
	w.stdoutF.Close()
	os.RemoveAll(w.tmpDir)
}

// stop asks the worker to exit (stdin EOF) and kills it if it does not.
func (w *worker) stop() {
	w.stdin.Close()
	select {
	case <-w.waitDone:
	case <-time.After(5 * time.Second):
		killGroup(w.cmd.Process)
		<-w.waitDone
	}
	w.stdoutF.Close()
	os.RemoveAll(w.tmpDir)
}

// crashLog keeps the first and the last max bytes a worker wrote to stderr
// since the current document started (reset): the Go runtime prints "fatal
// error: ..." first and then every goroutine's stack. It is only searched
// for crash causes, never logged: a panic message can quote document
// content.
type crashLog struct {
	mu         sync.Mutex
	max        int
	head, tail []byte
}

func (t *crashLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	all := p
	if room := t.max - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head = append(t.head, p[:k]...)
		p = p[k:]
	}
	t.tail = append(t.tail, all...)
	// The worker writes stderrMarker before each document: what came
	// before it belongs to earlier documents (the stderr pipe is read
	// asynchronously, so reset alone can be overtaken by late output).
	if i := bytes.LastIndex(t.tail, []byte(stderrMarker)); i >= 0 {
		rest := t.tail[i+len(stderrMarker):]
		t.head = append(t.head[:0], rest[:min(len(rest), t.max)]...)
		t.tail = append(t.tail[:0], rest...)
	}
	if len(t.tail) > t.max {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-t.max:]...)
	}
	return n, nil
}

// reset forgets what earlier documents wrote.
func (t *crashLog) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.head, t.tail = t.head[:0], t.tail[:0]
}

func (t *crashLog) contains(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.head, []byte(s)) || bytes.Contains(t.tail, []byte(s))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return strings.TrimSpace(fmt.Sprintf("%d bytes", n))
}
