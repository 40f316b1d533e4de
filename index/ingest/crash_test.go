package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/store"
)

// The crash test re-executes the test binary as a helper process that runs
// the pipeline over a data directory prepared by the test.
const crashHelperEnv = "DOCVET_INGEST_CRASH_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashHelperEnv); dir != "" {
		if err := crashHelper(dir); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pathFetcher serves content computed from the URL path, so the helper
// process needs no shared state: the entity names the bytes it expects.
type pathFetcher struct{}

func crashContent(url string) []byte {
	// ".../content/<id>/v<version>"
	p := strings.TrimPrefix(url, "~r")
	p = strings.TrimPrefix(p, testBase)
	id, ver, _ := strings.Cut(p, "/")
	return fmt.Appendf(nil, "document %s revision %s marker tok%s%s and some more words to index\n", id, ver, strings.ReplaceAll(id, "-", ""), ver)
}

func (pathFetcher) Fetch(ctx context.Context, rawURL, base string) (io.ReadCloser, error) {
	if _, err := extractor.AllowedURL(rawURL, base); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(crashContent(rawURL))), nil
}

func crashHelper(dir string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "docvet.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	opt := Options{
		Datasets:     []string{testDS},
		AllowedBases: func(string) []string { return []string{testBase} },
		BatchSize:    16,
		Concurrency:  4,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, nil)),
		// Each batch goes to the index in several Apply calls, so a kill
		// also lands between the parts of one batch.
		partBytes: 600,
	}
	ex := extractor.New(extractor.Options{Pdftotext: "-"})
	idx, err := OpenIndex(ctx, st, filepath.Join(dir, "index"), testIndexOpt, ex, pathFetcher{}, opt)
	if err != nil {
		return err
	}
	defer idx.Close()
	p, err := New(st, idx, ex, pathFetcher{}, opt)
	if err != nil {
		return err
	}
	_, err = p.Once(ctx)
	return err
}

// crashPut writes versions of documents to the dataset (the test's
// "source"), with ver as the revision in their content URL.
func crashPut(t *testing.T, st *store.Store, ids []string, ver int, deleted bool) {
	t.Helper()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, id := range ids {
			w := store.Write{ID: id, Deleted: deleted}
			if !deleted {
				url := fmt.Sprintf("%s%s/v%d", testBase, id, ver)
				body, _ := json.Marshal(map[string]any{
					"gdpr-data-type:data-type-id":   "hr",
					"gdpr-document:document_id":     id,
					"gdpr-document:extract-content": "~r" + url,
					"gdpr-document:original-url":    "~rhttp://files.example/" + id,
					"gdpr-document:filesize":        len(crashContent(url)),
					"gdpr-document:mime-type":       "text/plain",
				})
				w.Body = body
			}
			if _, err := tx.Put(testDS, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test starts helper processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	const n = 2000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%04d", i)
	}
	openStore := func() *store.Store {
		st, err := store.Open(ctx, filepath.Join(dir, "docvet.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := openStore()
	crashPut(t, st, ids, 1, false)
	st.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	runHelper := func(kill time.Duration) (killed bool) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kill > 0 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("helper failed: %v\n%s", err, stderr.String())
				}
				return false
			case <-time.After(kill):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return true
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("helper failed: %v\n%s", err, stderr.String())
			}
		case <-time.After(5 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatal("helper did not finish")
		}
		if strings.Contains(stderr.String(), "rebuilding") {
			t.Logf("helper rebuilt the index: %s", stderr.String())
		}
		return false
	}

	killed := 0
	live := map[string]int{} // id -> version
	for _, id := range ids {
		live[id] = 1
	}
	// Kill the helper at random moments until it was killed at least 6
	// times. Between runs the source changes: some documents get a new
	// version, some are deleted, some come back.
	for round := 0; killed < 6 && round < 30; round++ {
		delay := time.Duration(40+rng.IntN(700)) * time.Millisecond
		wasKilled := runHelper(delay)
		if wasKilled {
			killed++
		}
		if wasKilled && rng.IntN(2) == 0 {
			continue
		}
		st := openStore()
		for range 300 {
			id := ids[rng.IntN(n)]
			if _, ok := live[id]; ok && rng.IntN(3) == 0 {
				delete(live, id)
				crashPut(t, st, []string{id}, 0, true)
			} else {
				live[id] = round + 2
				crashPut(t, st, []string{id}, round+2, false)
			}
		}
		st.Close()
	}
	if killed < 3 {
		t.Fatalf("the helper was killed only %d times: make the dataset larger", killed)
	}
	runHelper(0)

	st = openStore()
	defer st.Close()
	idx, err := index.Open(filepath.Join(dir, "index"), testIndexOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	cnt, err := idx.Count()
	if err != nil {
		t.Fatal(err)
	}
	lc, err := ledgerRows(ctx, st, []string{testDS})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := st.Count(ctx, testDS)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %d times; index %d, ledger %d, live entities %d (model %d)", killed, cnt, lc, ec.Live, len(live))
	if int64(cnt) != lc || lc != ec.Live || ec.Live != int64(len(live)) {
		t.Fatalf("index %d, ledger %d, live entities %d, model %d", cnt, lc, ec.Live, len(live))
	}
	snap, err := idx.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for _, id := range ids {
		ver, isLive := live[id]
		q := query.NewTermQuery(id)
		q.SetField(index.FieldEntityID)
		hits := 0
		if err := snap.Each(ctx, q, func(index.Match) error { hits++; return nil }); err != nil {
			t.Fatal(err)
		}
		row, lerr := st.Ledger(ctx, testDS, id)
		if !isLive {
			if hits != 0 || lerr == nil {
				t.Fatalf("%s deleted but indexed %d times / in ledger", id, hits)
			}
			continue
		}
		if hits != 1 {
			t.Fatalf("%s indexed %d times", id, hits)
		}
		d, err := snap.Get(index.DocID(testDS, id))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		sum := sha256.Sum256(crashContent(fmt.Sprintf("%s%s/v%d", testBase, id, ver)))
		want := hex.EncodeToString(sum[:])
		if lerr != nil || row.SHA256 != want || d.SHA256 != want || row.Status != "ok" {
			t.Fatalf("%s: want version %d; ledger %+v (%v), index sha %s", id, ver, row, lerr, d.SHA256)
		}
		e, _ := st.Get(ctx, testDS, id)
		if row.EntitySeq != e.Seq {
			t.Fatalf("%s: ledger seq %d, entity seq %d", id, row.EntitySeq, e.Seq)
		}
	}
}
