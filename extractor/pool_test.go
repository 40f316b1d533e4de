package extractor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
	"golang.org/x/sync/errgroup"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// livePID returns the pid of the live worker in a Size-1 pool (0 = none).
func livePID(t *testing.T, p *Pool) int {
	t.Helper()
	w := <-p.slots
	p.slots <- w
	if w == nil {
		return 0
	}
	return w.pid
}

// TestPoolHostile proves that a recovered panic, a crash of the whole
// process, a hang and a memory blow-up each cost exactly one document: it
// is reported failed with the right reason and a hash, and the next
// document is extracted normally.
func TestPoolHostile(t *testing.T) {
	for _, mode := range []string{"rlimit", "nolimit"} {
		t.Run(mode, func(t *testing.T) {
			opt := testPoolOptions(mode)
			opt.Size = 1
			opt.Timeout = 3 * time.Second
			opt.MemoryLimit = 256 << 20
			if raceEnabled {
				// ThreadSanitizer's own allocations do not fit in 256 MiB of
				// RLIMIT_DATA (a crash then reads "out of memory").
				opt.MemoryLimit = 1 << 30
			}
			opt.WatchInterval = 20 * time.Millisecond
			p, err := NewPool(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			steps := []struct {
				mime, body string
				status     doctext.Status
				reason     string
				sameWorker bool // the worker survives this document
			}{
				{TestMIMEEcho, "hello one", doctext.StatusOK, "", true},
				{TestMIMEPanic, "boom", doctext.StatusFailed, "parser crashed", true},
				{TestMIMEEcho, "hello two", doctext.StatusOK, "", true},
				{TestMIMECrash, "crash", doctext.StatusFailed, "worker crashed", false},
				{TestMIMEEcho, "hello three", doctext.StatusOK, "", true},
				{TestMIMEHang, "hang", doctext.StatusFailed, "timeout after 3s", false},
				{TestMIMEEcho, "hello four", doctext.StatusOK, "", true},
				{TestMIMEOOM, "oom", doctext.StatusFailed, "memory limit 256 MiB exceeded", false},
				{TestMIMEEcho, "hello five", doctext.StatusOK, "", true},
			}
			prev := 0
			for i, s := range steps {
				if s.mime == TestMIMEOOM && raceEnabled {
					t.Logf("step %d: OOM step skipped under -race (the race detector's shadow memory exhausts the 256 MiB test limit before the worker's own limit fires)", i)
					continue
				}
				start := time.Now()
				res, err := p.Extract(ctx, strings.NewReader(s.body), Hint{MIME: s.mime})
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.mime, err)
				}
				if res.Status != s.status || res.Reason != s.reason {
					t.Fatalf("step %d (%s): got %s %q, want %s %q", i, s.mime, res.Status, res.Reason, s.status, s.reason)
				}
				if res.SHA256 != sum(s.body) || res.Size != int64(len(s.body)) || res.Version != Version {
					t.Errorf("step %d: sha/size/version = %s/%d/%s", i, res.SHA256, res.Size, res.Version)
				}
				if s.status == doctext.StatusOK && res.Text != s.body {
					t.Errorf("step %d: text %q, want %q", i, res.Text, s.body)
				}
				pid := livePID(t, p)
				if s.sameWorker && prev != 0 && pid != prev {
					t.Errorf("step %d: worker replaced (%d -> %d) without cause", i, prev, pid)
				}
				if !s.sameWorker && pid != 0 {
					t.Errorf("step %d: failed worker %d kept", i, pid)
				}
				prev = pid
				t.Logf("step %d %-40s %s in %v", i, s.mime, res.Status, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

func TestPoolRecycle(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	opt.RecycleAfter = 2
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var pids []int
	for i := range 5 {
		res, err := p.Extract(context.Background(), strings.NewReader(fmt.Sprint("doc ", i)), Hint{MIME: TestMIMEEcho})
		if err != nil || res.Status != doctext.StatusOK {
			t.Fatalf("doc %d: %v %v %q", i, err, res.Status, res.Reason)
		}
		pids = append(pids, livePID(t, p))
	}
	// Workers retire after 2 documents: slots are empty after docs 2 and 4.
	if pids[0] == 0 || pids[1] != 0 || pids[2] == 0 || pids[2] == pids[0] || pids[3] != 0 || pids[4] == 0 {
		t.Fatalf("pids after each document: %v", pids)
	}
}

func TestPoolConcurrentAndClose(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 2
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	g, ctx := errgroup.WithContext(context.Background())
	for i := range 12 {
		g.Go(func() error {
			body := fmt.Sprintf("document number %d", i)
			res, err := p.Extract(ctx, strings.NewReader(body), Hint{MIME: TestMIMEEcho})
			if err != nil {
				return err
			}
			if res.Status != doctext.StatusOK || res.Text != body || res.SHA256 != sum(body) {
				return fmt.Errorf("doc %d: %s %q %q", i, res.Status, res.Reason, res.Text)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{}); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Extract after Close: %v", err)
	}
}

func TestPoolContextCancel(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Extract(ctx, strings.NewReader("x"), Hint{MIME: TestMIMEHang}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang with cancelled ctx: %v", err)
	}
	// A cancelled caller waiting for a slot must not wait forever either.
	res, err := p.Extract(context.Background(), strings.NewReader("after"), Hint{MIME: TestMIMEEcho})
	if err != nil || res.Text != "after" {
		t.Fatalf("after cancel: %v %+v", err, res)
	}
}

func TestPoolOversize(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	opt.Limits.MaxInputBytes = 10
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	body := strings.Repeat("z", 25)
	res, err := p.Extract(context.Background(), strings.NewReader(body), Hint{MIME: TestMIMEEcho})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != doctext.StatusFailed || res.Reason != "input larger than 10 bytes" || res.SHA256 != sum(body) || res.Size != 25 {
		t.Fatalf("oversize: %+v", res)
	}
}

func TestPoolBadCommand(t *testing.T) {
	p, err := NewPool(PoolOptions{Size: 1, Command: []string{"/nonexistent/docvet", "extract-worker"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{}); !errors.Is(err, ErrWorkerStart) {
		t.Fatalf("got %v, want ErrWorkerStart", err)
	}
	// A program that does not speak the protocol fails the handshake.
	p2, _ := NewPool(PoolOptions{Size: 1, Command: []string{"cat"}, StartTimeout: time.Second})
	defer p2.Close()
	if _, err := p2.Extract(context.Background(), strings.NewReader("x"), Hint{}); !errors.Is(err, ErrWorkerStart) {
		t.Fatalf("cat as worker: got %v, want ErrWorkerStart", err)
	}
}

// TestSendRequestFrame: sendRequest writes exactly what writeMsg writes,
// for small documents (one write) and large ones (two), and the worker's
// reader reads it back.
func TestSendRequestFrame(t *testing.T) {
	for _, n := range []int{0, 1, 2000, smallFrame, smallFrame + 1, 3 * smallFrame} {
		data := bytes.Repeat([]byte{'a', 0, 0xff}, n/3+1)[:n]
		req := request{Name: "ø.txt", MIME: "text/plain", Size: int64(n)}
		var got, want bytes.Buffer
		if err := sendRequest(&got, req, data); err != nil {
			t.Fatal(err)
		}
		if err := writeMsg(&want, req, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%d bytes: frame differs from writeMsg's", n)
		}
		var back request
		body, err := readMsg(&got, &back, maxReqHeaderSize, int64(n))
		if err != nil || back != req || !bytes.Equal(body, data) {
			t.Fatalf("%d bytes: read back %+v %v", n, back, err)
		}
	}
}
