package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docvet/docvet/extractor"
)

type format struct {
	dir    string
	anchor string
	cmd    func(file string) *exec.Cmd
}

const pyEmail = `import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
for p in m.walk():
    if p.get_content_maintype() == 'text':
        try: p.get_content()
        except Exception: pass
`

var formats = []format{
	{"pdf", "pdftotext", func(f string) *exec.Cmd { return exec.Command("pdftotext", "-enc", "UTF-8", f, "-") }},
	{"docx", "docx2txt", func(f string) *exec.Cmd { return exec.Command("docx2txt", f, "-") }},
	{"xlsx", "xlsx2csv", func(f string) *exec.Cmd { return exec.Command("xlsx2csv", "-a", f) }},
	{"eml", "python3", func(f string) *exec.Cmd { return exec.Command("python3", "-c", pyEmail, f) }},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/extract:", err)
		os.Exit(1)
	}
}

func run() error {
	docvet := flag.String("docvet", "", "path to a built docvet binary (required: workers are its extract-worker)")
	corpusDir := flag.String("corpus", "../shared/corpus", "corpus directory")
	runs := flag.Int("runs", 3, "runs per measurement; the median is reported")
	workers := flag.String("workers", "1,2,4", "worker counts to measure")
	flag.Parse()
	if *docvet == "" {
		return errors.New("-docvet is required (go build -o /tmp/docvet ./cmd/docvet)")
	}
	var counts []int
	for _, w := range strings.Split(*workers, ",") {
		var n int
		if _, err := fmt.Sscan(w, &n); err != nil || n < 1 {
			return fmt.Errorf("bad -workers %q", *workers)
		}
		counts = append(counts, n)
	}
	fmt.Printf("| format | files | MB | tool | median s | files/s | MB/s | docvet/anchor |\n|---|---|---|---|---|---|---|---|\n")
	for _, f := range formats {
		files, bytes, err := list(filepath.Join(*corpusDir, f.dir))
		if err != nil {
			return err
		}
		mb := float64(bytes) / 1e6
		anchorRate := 0.0
		if _, err := exec.LookPath(f.anchor); err == nil {
			secs := median(*runs, func() time.Duration { return timeAnchor(f, files) })
			anchorRate = float64(len(files)) / secs
			fmt.Printf("| %s | %d | %.2f | %s (1 process/file) | %.3f | %.1f | %.2f | 1.00x |\n", f.dir, len(files), mb, f.anchor, secs, anchorRate, mb/secs)
		} else {
			fmt.Printf("| %s | %d | %.2f | %s | not installed | | | |\n", f.dir, len(files), mb, f.anchor)
		}
		for _, n := range counts {
			var runErr error
			secs := median(*runs, func() time.Duration {
				d, err := timeDocvet(*docvet, n, files)
				if err != nil {
					runErr = err
				}
				return d
			})
			if runErr != nil {
				return runErr
			}
			ratio := ""
			if anchorRate > 0 {
				ratio = fmt.Sprintf("%.2fx", float64(len(files))/secs/anchorRate)
			}
			fmt.Printf("| %s | %d | %.2f | docvet, %d worker(s) | %.3f | %.1f | %.2f | %s |\n", f.dir, len(files), mb, n, secs, float64(len(files))/secs, mb/secs, ratio)
		}
	}
	return nil
}

func list(dir string) ([]string, int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var files []string
	var total int64
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, 0, err
		}
		files = append(files, filepath.Join(dir, e.Name()))
		total += info.Size()
	}
	sort.Strings(files)
	return files, total, nil
}

func median(runs int, f func() time.Duration) float64 {
	var ds []time.Duration
	for range max(runs, 1) {
		ds = append(ds, f())
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Seconds()
}

func timeAnchor(f format, files []string) time.Duration {
	start := time.Now()
	for _, file := range files {
		cmd := f.cmd(file)
		cmd.Stdout, cmd.Stderr = nil, nil
		_ = cmd.Run() // a failing anchor still costs its time
	}
	return time.Since(start)
}

// timeDocvet extracts every file through a fresh pool of n workers (pool
// start-up included, as a crawl would pay it) with n files in flight.
func timeDocvet(docvet string, n int, files []string) (time.Duration, error) {
	start := time.Now()
	pool, err := extractor.NewPool(extractor.PoolOptions{Size: n, Command: []string{docvet, "extract-worker"}})
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(n)
	for _, file := range files {
		g.Go(func() error {
			fh, err := os.Open(file)
			if err != nil {
				return err
			}
			defer fh.Close()
			_, err = pool.Extract(ctx, fh, extractor.Hint{Name: filepath.Base(file)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
