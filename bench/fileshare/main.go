//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/sources/fileshare"
	"github.com/docvet/docvet/store"
)

const phaseEnv = "DOCVET_BENCH_FILESHARE_PHASE"

func main() {
	if phase := os.Getenv(phaseEnv); phase != "" {
		if err := child(phase, os.Getenv("DOCVET_BENCH_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, "phase", phase+":", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 100000, "number of files to generate")
	dir := flag.String("dir", "", "work directory (default: a new temporary directory)")
	keep := flag.Bool("keep", false, "keep the work directory")
	sync := flag.String("synchronous", "FULL", "SQLite synchronous mode of the state: FULL (as docvet runs) or NORMAL")
	flag.Parse()
	os.Setenv("DOCVET_BENCH_SYNC", *sync)
	if err := parent(*n, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	Phase   string          `json:"phase"`
	Seconds float64         `json:"seconds"`
	Stats   json.RawMessage `json:"stats,omitempty"`
	Pulled  int             `json:"pulled,omitempty"`
	Bytes   int64           `json:"bytes,omitempty"`
}

func parent(n int, dir string, keep bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "docvet-bench-fileshare-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	share := filepath.Join(dir, "share")
	t0 := time.Now()
	total, err := generate(share, n)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d files (%.1f MB) in %s under %s\n", n, float64(total)/1e6, time.Since(t0).Round(time.Millisecond), dir)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("go %s, %s/%s, %d CPUs, state synchronous=%s, load average at start: %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), os.Getenv("DOCVET_BENCH_SYNC"), strings.TrimSpace(string(load)))
	fmt.Printf("\n| phase | wall time | CPU (user+sys) | peak RSS | detail |\n|---|---|---|---|---|\n")
	for _, phase := range []string{"first-scan", "no-change-rescan", "change-1pct-rescan", "pull"} {
		if phase == "change-1pct-rescan" {
			if err := mutate(share, n); err != nil {
				return err
			}
		}
		res, rss, cpu, err := runChild(phase, dir)
		if err != nil {
			return err
		}
		detail := string(res.Stats)
		if phase == "pull" {
			detail = fmt.Sprintf("%d entities, %.1f MB JSON, %.0f entities/s", res.Pulled, float64(res.Bytes)/1e6, float64(res.Pulled)/res.Seconds)
		} else {
			var st sources.ScanStats
			json.Unmarshal(res.Stats, &st)
			detail = fmt.Sprintf("documents %d, read %d, changed %d, deleted %d, %.0f files/s", st.Documents, st.Read, st.Changed, st.Deleted, float64(st.Documents+st.Deleted)/res.Seconds)
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %.0f MB | %s |\n", phase, res.Seconds, cpu, float64(rss)/1024, detail)
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at end: %s\n", strings.TrimSpace(string(load)))
	return nil
}

// runChild runs one phase in a child process and returns its result, peak
// RSS in KiB and CPU seconds (the whole child, including setup).
func runChild(phase, dir string) (result, int64, float64, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, 0, 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), phaseEnv+"="+phase, "DOCVET_BENCH_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, 0, 0, fmt.Errorf("phase %s: %w", phase, err)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return result{}, 0, 0, fmt.Errorf("phase %s output: %w", phase, err)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = int64(ru.Maxrss) // KiB on Linux
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return res, rss, cpu, nil
}

// generate writes n small text files (200..2200 bytes) in directories of
// 1000 files, two levels deep, with realistic names.
func generate(root string, n int) (int64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("contract invoice salary review meeting notes customer complaint address phone email policy claim payment account report minutes offer")
	var total int64
	buf := make([]byte, 0, 4096)
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("dept-%02d", i/10000), fmt.Sprintf("year-%04d", 2000+(i/1000)%10))
		if i%1000 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return 0, err
			}
		}
		buf = buf[:0]
		size := 200 + rng.IntN(2000)
		buf = fmt.Appendf(buf, "Document %d\nCustomer: person%d@example.com, +47 %08d\n", i, rng.IntN(1e6), rng.IntN(1e8))
		for len(buf) < size {
			buf = append(buf, words[rng.IntN(len(words))]...)
			buf = append(buf, ' ')
		}
		name := fmt.Sprintf("%s-%06d.txt", words[i%len(words)], i)
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			return 0, err
		}
		total += int64(len(buf))
	}
	return total, nil
}

// mutate appends to 1% of the files and deletes another 1%.
func mutate(root string, n int) error {
	i := 0
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		i++
		switch {
		case i%100 == 1:
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.WriteString("changed\n")
			return f.Close()
		case i%100 == 2:
			return os.Remove(p)
		}
		return nil
	})
}

func child(phase, dir string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"), store.Options{Synchronous: os.Getenv("DOCVET_BENCH_SYNC")})
	if err != nil {
		return err
	}
	defer st.Close()
	share, err := fileshare.New(filepath.Join(dir, "share"), st, fileshare.Options{
		DataType:  "bench",
		PublicURL: "http://127.0.0.1:8081",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if prof := os.Getenv("DOCVET_BENCH_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof + "." + phase)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	res := result{Phase: phase}
	t0 := time.Now()
	switch phase {
	case "pull":
		res.Pulled, res.Bytes, err = pull(ctx, share)
	default:
		var stats sources.ScanStats
		stats, err = share.Rescan(ctx)
		res.Stats, _ = json.Marshal(stats)
	}
	if err != nil {
		return err
	}
	res.Seconds = time.Since(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// pull serves the share on a loopback port and reads the full JSON pull
// with a streaming decoder, as the core's puller would.
func pull(ctx context.Context, share *fileshare.Share) (int, int64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &http.Server{Handler: sources.NewHandler(share, sources.HandlerOptions{Logger: slog.New(slog.DiscardHandler)})}
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	resp, err := http.Get("http://" + ln.Addr().String() + sources.PublisherPath)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("pull: %s", resp.Status)
	}
	cr := &countReader{r: resp.Body}
	dec := json.NewDecoder(bufio.NewReaderSize(cr, 64<<10))
	if _, err := dec.Token(); err != nil {
		return 0, 0, err
	}
	n := 0
	for dec.More() {
		var d sources.Document
		if err := dec.Decode(&d); err != nil {
			return n, cr.n, err
		}
		n++
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return n, cr.n, err
	}
	return n, cr.n, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
