package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/docvet/docvet/bench/internal/benchkit"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/vetting"
)

var key = []byte("bench-key-0123456789abcdef")

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vetting bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vetting", flag.ContinueOnError)
	rows := fs.String("rows", "10000,100000", "comma-separated row counts")
	phase := fs.String("phase", "", "internal: export or import")
	n := fs.Int("n", 0, "internal: rows")
	file := fs.String("file", "", "internal: workbook path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *phase {
	case "export":
		return doExport(*n, *file)
	case "import":
		return doImport(*n, *file)
	case "":
	default:
		return errors.New("unknown phase")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vetbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("| rows | workbook size | export time | export peak RSS | import time | import peak RSS |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	for _, s := range strings.Split(*rows, ",") {
		count, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		path := filepath.Join(dir, fmt.Sprintf("wb-%d.xlsx", count))
		var res [2]string
		for i, ph := range []string{"export", "import"} {
			out, err := exec.CommandContext(ctx, self, "-phase", ph, "-n", strconv.Itoa(count), "-file", path).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s %d: %v\n%s", ph, count, err, out)
			}
			res[i] = strings.TrimSpace(string(out))
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %.1f MB | %s | %s |\n", count, float64(st.Size())/1e6, res[0], res[1])
	}
	return nil
}

func result(n int) search.Result {
	res := search.Result{RequestID: "req-bench", DataTypes: []string{"hr-documents", "mail"}}
	for i := range n {
		dt := "hr-documents"
		if i%4 == 0 {
			dt = "mail"
		}
		res.Hits = append(res.Hits, search.Hit{
			IndexID:        fmt.Sprintf("fileshare:%s/dept-%d/doc-%07d.pdf", dt, i%50, i),
			DataType:       dt,
			DocumentID:     fmt.Sprintf("fileshare:%s/dept-%d/doc-%07d.pdf", dt, i%50, i),
			Filename:       fmt.Sprintf("doc-%07d.pdf", i),
			MIMEType:       "application/pdf",
			FileSize:       int64(10000 + i),
			OriginalURL:    fmt.Sprintf("http://files.example/%s/doc-%07d.pdf", dt, i),
			ExtractContent: fmt.Sprintf("http://127.0.0.1:8081/content/%s/doc-%07d.pdf", dt, i),
			Status:         "ok",
			Metadata:       map[string]any{"owner": "hr", "modified": "2019-04-01T10:00:00Z", "author": map[string]any{"name": "Kari Nordmann"}},
			Matched:        []search.Matched{{Kind: search.KindEmail, Value: "kari@example.no", Count: 3}},
			Count:          3,
			Snippets: []search.Snippet{
				{Location: "page 1", Text: "Regarding the contract, please contact kari@example.no before Friday so we can close the case.", Highlights: []search.Highlight{{Start: 39, End: 54}}},
				{Location: "page 2", Text: "Kari Nordmann (kari@example.no) signed on behalf of the department.", Highlights: []search.Highlight{{Start: 0, End: 13}, {Start: 15, End: 30}}},
				{Location: "page 7", Text: "Copy sent to kari@example.no and archived.", Highlights: []search.Highlight{{Start: 13, End: 28}}},
			},
		})
	}
	return res
}

func doExport(n int, path string) error {
	res := result(n)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	start := time.Now()
	if err := vetting.Export(w, vetting.ExportInput{RequestID: "req-bench", Lang: "en", Result: res, GeneratedAt: time.Now()}, key); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("%.2f s | %s", el.Seconds(), peakRSS())
	return f.Close()
}

func doImport(n int, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	start := time.Now()
	d, err := vetting.Import(bytes.NewReader(b), int64(len(b)), vetting.ImportInput{RequestID: "req-bench"}, key)
	if err != nil {
		return err
	}
	el := time.Since(start)
	if len(d.Rows) != n {
		return fmt.Errorf("imported %d rows, want %d", len(d.Rows), n)
	}
	fmt.Printf("%.2f s | %s", el.Seconds(), peakRSS())
	return nil
}

func peakRSS() string {
	mb := benchkit.PeakRSSMB()
	if mb < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d MB", int(mb))
}
