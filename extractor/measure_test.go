package extractor

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSandboxMeasure prints how far a runaway allocation gets under each
// memory mechanism (numbers for BENCHMARKS.md). Run with
// DOCVET_MEASURE=1 go test -run TestSandboxMeasure -v ./extractor/
func TestSandboxMeasure(t *testing.T) {
	if os.Getenv("DOCVET_MEASURE") == "" {
		t.Skip("set DOCVET_MEASURE=1 to measure the sandbox")
	}
	for _, mode := range []string{"rlimit", "nolimit"} {
		for _, limit := range []int64{256 << 20, 1 << 30} {
			opt := testPoolOptions(mode)
			opt.Size, opt.MemoryLimit = 1, limit
			p, err := NewPool(opt)
			if err != nil {
				t.Fatal(err)
			}
			w, err := p.start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, failure, err := p.run(context.Background(), w, request{MIME: TestMIMEOOM, Size: 1}, []byte("x"))
			w.kill()
			ru, _ := w.cmd.ProcessState.SysUsage().(*syscall.Rusage)
			t.Logf("mode=%-7s limit=%-8s watch=%v: %q err=%v after %v, child max RSS %d MiB",
				mode, humanBytes(limit), p.opt.WatchInterval, failure, err, time.Since(start).Round(time.Millisecond), ru.Maxrss>>10)
			p.Close()
		}
	}
}
