package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/gopenpgp/v2/crypto"
	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/notify/smtptest"
	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// The lifecycle crash test: a child process (this test binary in the mode
// DOCVET_LIFECYCLE_CHILD) runs docvet serve built as runServe builds it,
// plus a step hook that SIGKILLs the process at the n-th occurrence of one
// lifecycle step. The parent drives the journey over HTTP until the child
// dies, restarts it without the hook, drives on until the request is
// delivered and the subject told, and then checks in the store that every
// approved row was delivered, and every item published, exactly once.

// Environment of the child mode.
const (
	lcEnvChild  = "DOCVET_LIFECYCLE_CHILD"  // "<step>:<n>", or "-" for no kill
	lcEnvConfig = "DOCVET_LIFECYCLE_CONFIG" // the YAML configuration
	lcEnvAddr   = "DOCVET_LIFECYCLE_ADDR"   // file the child writes its listen address to
)

// lifecycleChild is the child's main: docvet serve as runServe wires it
// (configuration, store, server, worker pool, ingestion), plus the kill
// hook, listening on 127.0.0.1:0 and writing the address to a file.
func lifecycleChild(spec string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "lifecycle child:", err)
		return 3
	}
	killStep, killAt := "", 0
	if spec != "-" {
		s, n, ok := strings.Cut(spec, ":")
		var err error
		if killAt, err = strconv.Atoi(n); !ok || err != nil || killAt < 1 {
			return fail(fmt.Errorf("bad %s %q", lcEnvChild, spec))
		}
		killStep = s
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := serveConfig(flag.NewFlagSet("child", flag.ContinueOnError), os.Getenv(lcEnvConfig), "", "")
	if err != nil {
		return fail(err)
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	srv, err := server.New(st, cfg, log)
	if err != nil {
		return fail(err)
	}
	iopt, err := indexOptions(cfg)
	if err != nil {
		return fail(err)
	}
	pool, err := extractor.NewPool(poolOptions(cfg, 0))
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	if err := srv.EnableIngest(server.IngestConfig{IndexDir: indexDir(cfg), Index: iopt, Extractor: pool,
		Fetcher: extractor.NewFetcher(extractor.FetchOptions{})}); err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	seen := 0
	srv.SetStepHook(func(step string) {
		if step != killStep {
			return
		}
		mu.Lock()
		seen++
		n := seen
		mu.Unlock()
		if n == killAt {
			fmt.Fprintf(os.Stderr, "lifecycle child: killing myself at %s #%d\n", step, n)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way: commit nothing more
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	addrFile := os.Getenv(lcEnvAddr)
	if err := os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		return fail(err)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return fail(err)
	}
	return 0
}

// lcDoc is one document of the test share.
type lcDoc struct {
	id, name, mime string
	body           []byte
}

// lcHarness is the parent's side: content server, mail relay, data
// directory, tokens and the subject's key.
type lcHarness struct {
	t                         *testing.T
	dir, dataDir, cfg, addrFn string
	content                   *httptest.Server
	mail                      *smtptest.Server
	docs                      []lcDoc
	tokens                    map[string]string
	reviewer                  string
	pubKey, privKeyFile       string
	reqID, subject            string
}

func newLCHarness(t *testing.T, docs []lcDoc) *lcHarness {
	t.Helper()
	h := &lcHarness{t: t, dir: t.TempDir(), docs: docs, tokens: map[string]string{},
		reqID: "AR-crash-1", subject: "kari.nordmann@example.org"}
	h.dataDir = filepath.Join(h.dir, "data")
	h.cfg = filepath.Join(h.dir, "docvet.yaml")
	h.addrFn = filepath.Join(h.dir, "addr")
	files := map[string][]byte{}
	for _, d := range docs {
		files[d.name] = d.body
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /content/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	h.content = httptest.NewServer(mux)
	t.Cleanup(h.content.Close)
	h.mail = smtptest.NewServer(t, smtptest.WithoutSTARTTLS())
	cfg := fmt.Sprintf(`data_dir: %s
listen: 127.0.0.1:0
shutdown_timeout: 5s
push:
  content_bases:
    - %s/content/
index:
  workers: 1
  concurrency: 2
  poll_interval: 1h
  document_timeout: 20s
delivery:
  workers: 1
  portal_url: https://portal.example/
notifications:
  subject_delay: 0s
  smtp:
    host: 127.0.0.1
    port: %d
    tls: none
    from: docvet@example.org
`, h.dataDir, h.content.URL, h.mail.Port())
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The secret exists before the first start, so the parent can sign
	// tokens; the child loads it.
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret, err := server.LoadOrCreateSecret(filepath.Join(h.dataDir, "jwt.secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range server.Scopes() {
		if h.tokens[sc], err = server.SignToken(secret, "operator", []string{sc}, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if h.reviewer, err = server.SignToken(secret, "reviewer-1", []string{server.ScopeSubjects}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.GenerateKey("Kari Nordmann", h.subject, "x25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.pubKey, err = k.GetArmoredPublicKey(); err != nil {
		t.Fatal(err)
	}
	priv, err := k.Armor()
	if err != nil {
		t.Fatal(err)
	}
	h.privKeyFile = filepath.Join(h.dir, "private.asc")
	if err := os.WriteFile(h.privKeyFile, []byte(priv), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// lcChild is one run of the child process.
type lcChild struct {
	cmd    *exec.Cmd
	exited chan struct{}
	base   string
	errLog string
}

// start runs the child with spec ("step:n" or "-") and waits until it
// listens.
func (h *lcHarness) start(spec string) *lcChild {
	h.t.Helper()
	os.Remove(h.addrFn)
	c := &lcChild{exited: make(chan struct{}), errLog: filepath.Join(h.dir, fmt.Sprintf("child-%d.log", time.Now().UnixNano()))}
	logf, err := os.Create(c.errLog)
	if err != nil {
		h.t.Fatal(err)
	}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), lcEnvChild+"="+spec, lcEnvConfig+"="+h.cfg, lcEnvAddr+"="+h.addrFn)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	h.t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(h.addrFn); err == nil {
			c.base = "http://" + string(b)
			return c
		}
		select {
		case <-c.exited:
			h.t.Fatalf("child exited before listening: %s", h.tail(c))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("child does not listen: %s", h.tail(c))
		}
	}
}

func (h *lcHarness) tail(c *lcChild) string {
	b, _ := os.ReadFile(c.errLog)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// stop ends the child with SIGTERM (a clean shutdown).
func (h *lcHarness) stop(c *lcChild) {
	h.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		h.t.Fatalf("child did not stop on SIGTERM: %s", h.tail(c))
	}
	if !c.cmd.ProcessState.Success() {
		h.t.Fatalf("child stopped with %v: %s", c.cmd.ProcessState, h.tail(c))
	}
}

// errDied: the child died during the call.
var errDied = errors.New("child died")

// call sends one request to the child. A transport error is the child
// dying (errDied once it has exited) or a test failure.
func (h *lcHarness) call(c *lcChild, method, path, token, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	res, err := cl.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err != nil {
		select {
		case <-c.exited:
			return 0, nil, errDied
		case <-time.After(10 * time.Second):
			h.t.Fatalf("%s %s: %v (child still running)", method, path, err)
		}
	}
	return res.StatusCode, b, nil
}

func (h *lcHarness) push(c *lcChild, receiver string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	code, body, err := h.call(c, "POST", "/api/receivers/"+receiver+"/entities", h.tokens[server.ScopePush], "application/json", b)
	if err != nil {
		return err
	}
	if code != 200 {
		h.t.Fatalf("push to %s: %d %s", receiver, code, body)
	}
	return nil
}

// lcStatus is the part of GET /api/access-requests/{id} the test reads.
type lcStatus struct {
	State         string `json:"state"`
	Reason        string `json:"reason"`
	Hits          int    `json:"hits"`
	Notifications []struct {
		Kind string     `json:"kind"`
		Sent *time.Time `json:"sent_at"`
	} `json:"notifications"`
}

// drive runs the journey against c, from wherever the data directory
// stands, until the request is delivered and the subject's notification
// is marked sent (nil) or the child dies (errDied). Every action is
// idempotent, so a restarted child is driven with the same sequence.
func (h *lcHarness) drive(c *lcChild) error {
	t := h.t
	if err := h.push(c, "gdpr-data-type-in", map[string]any{"gdpr-data-type:data-type-id": "hr",
		"gdpr-data-type:level": "Personal", "gdpr-data-type:contact": "reviewer@example.org"}); err != nil {
		return err
	}
	var ents []map[string]any
	for _, d := range h.docs {
		ents = append(ents, map[string]any{
			"_id":                           d.id,
			"gdpr-data-type:data-type-id":   "hr",
			"gdpr-document:document_id":     d.id,
			"gdpr-document:extract-content": "~r" + h.content.URL + "/content/" + d.name,
			"gdpr-document:original-url":    "~rsmb://fileserver/share/" + d.name,
			"gdpr-document:filesize":        len(d.body),
			"gdpr-document:mime-type":       d.mime,
			"gdpr-document:filename":        d.name,
		})
	}
	if err := h.push(c, "custom-documents", ents); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b, err := h.call(c, "GET", "/api/status", h.tokens[server.ScopeRead], "", nil)
		if err != nil {
			return err
		}
		var s struct {
			Index struct {
				State   string `json:"state"`
				Pending int64  `json:"pending"`
				Sources map[string]struct {
					Documents int `json:"documents"`
				} `json:"sources"`
			} `json:"index"`
		}
		if code == 200 && json.Unmarshal(b, &s) == nil && s.Index.State == "running" && s.Index.Pending == 0 &&
			s.Index.Sources["custom-documents"].Documents == len(h.docs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("documents not indexed: %d %s", code, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.push(c, "gdpr-access-request-in", map[string]any{
		"gdpr-access-request:access-request-id": h.reqID,
		"gdpr-access-request:user-id":           "u-kari",
		"gdpr-access-request:contactinfo":       h.subject,
		"gdpr-access-request:public-key":        h.pubKey,
		"gdpr-access-request:identifiers":       []string{"james@makita.skynet"},
	}); err != nil {
		return err
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		code, b, err := h.call(c, "GET", "/api/access-requests/"+h.reqID, h.tokens[server.ScopeSubjects], "", nil)
		if err != nil {
			return err
		}
		var s lcStatus
		if code != 200 || json.Unmarshal(b, &s) != nil {
			t.Fatalf("status: %d %s", code, b)
		}
		switch s.State {
		case store.RequestFailed:
			t.Fatalf("request failed: %s", b)
		case store.RequestAwaitingReview:
			if err := h.review(c); err != nil {
				return err
			}
			continue
		case store.RequestDelivered:
			for _, n := range s.Notifications {
				if n.Kind == store.NotifySubject && n.Sent != nil {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("request not delivered and notified within 60s: %s\nchild log: %s", b, h.tail(c))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// review downloads the workbook, withholds gamma (deletes its row) and
// beta's file (clears extract-content), types text for the e-mail, and
// uploads it as the reviewer.
func (h *lcHarness) review(c *lcChild) error {
	t := h.t
	code, b, err := h.call(c, "GET", "/api/access-requests/"+h.reqID+"/workbook", h.reviewer, "", nil)
	if err != nil {
		return err
	}
	if code != 200 {
		t.Fatalf("workbook: %d %s", code, b)
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("hr")
	if err != nil || len(rows) != len(h.docs)+1 {
		t.Fatalf("workbook sheet hr: %d rows (%v), want a header and %d hits", len(rows), err, len(h.docs))
	}
	col := func(name string) int {
		i := slices.Index(rows[0], name)
		if i < 0 {
			t.Fatalf("no column %s in %q", name, rows[0])
		}
		return i + 1
	}
	rowOf := func(doc string) int {
		c := col("document-id") - 1
		for i, r := range rows {
			if c < len(r) && r[c] == doc {
				return i + 1
			}
		}
		t.Fatalf("no row for %s", doc)
		return 0
	}
	cell := func(column, doc string) string {
		n, _ := excelize.CoordinatesToCellName(col(column), rowOf(doc))
		return n
	}
	if err := f.SetCellValue("hr", cell("extract-content", "beta"), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.SetCellStr("hr", cell("text", "mail"), "Redacted message."); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveRow("hr", rowOf("gamma")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := f.Write(&out); err != nil {
		t.Fatal(err)
	}
	code, b, err = h.call(c, "POST", "/api/access-requests/"+h.reqID+"/workbook", h.reviewer, "application/octet-stream", out.Bytes())
	if err != nil {
		return err
	}
	if code != 200 {
		t.Fatalf("upload: %d %s", code, b)
	}
	return nil
}

func TestKillAtEachStep(t *testing.T) {
	eml, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "corpus", "eml", "enmime_attachment.eml"))
	if err != nil {
		t.Skipf("needs ../shared/corpus: %v", err)
	}
	const who = "james@makita.skynet" // the e-mail's sender: the subject's second address
	docs := []lcDoc{
		{id: "alpha", name: "alpha.txt", mime: "text/plain", body: []byte("Contract for " + who + ", signed.\n")},
		{id: "beta", name: "beta.txt", mime: "text/plain", body: []byte("Payslip sent to kari.nordmann@example.org.\n")},
		{id: "gamma", name: "gamma.txt", mime: "text/plain", body: []byte("Meeting notes naming kari.nordmann@example.org and others.\n")},
		{id: "mail", name: "mail.eml", mime: "message/rfc822", body: eml},
	}
	cases := []struct {
		step                  string
		n                     int
		reviewerMails, subjMl int
	}{
		{"received", 1, 1, 1},
		{"searched", 1, 1, 1},
		{"awaiting-review", 1, 1, 1},
		{"reviewed", 1, 1, 1},
		{"delivering", 1, 1, 1},
		{"delivery.row", 2, 1, 1},
		{"delivered", 1, 1, 1},
		// The reviewers' notification is the first sent, the subject's
		// the second: killed after the relay took it and before it is
		// marked, it is sent again (at least once).
		{"notification.sent", 2, 1, 2},
		// The same window for the reviewers' notification.
		{"notification.sent", 1, 2, 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s#%d", tc.step, tc.n), func(t *testing.T) {
			h := newLCHarness(t, docs)
			c := h.start(fmt.Sprintf("%s:%d", tc.step, tc.n))
			if err := h.drive(c); !errors.Is(err, errDied) {
				t.Fatalf("the child was not killed at %s #%d (drive: %v): %s", tc.step, tc.n, err, h.tail(c))
			}
			ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL: %s", c.cmd.ProcessState, h.tail(c))
			}
			if !strings.Contains(h.tail(c), "killing myself at "+tc.step) {
				t.Fatalf("child was not killed by its hook: %s", h.tail(c))
			}
			c = h.start("-")
			if err := h.drive(c); err != nil {
				t.Fatalf("after restart: %v: %s", err, h.tail(c))
			}
			h.stop(c)
			h.check(tc.reviewerMails, tc.subjMl)
			if t.Failed() {
				t.Logf("restarted child's log: %s", h.tail(c))
			}
		})
	}
}

// check verifies the finished delivery in the stopped child's data
// directory: exactly-once rows and items, the bundle, the blobs, the
// mails and the audit chain.
func (h *lcHarness) check(reviewerMails, subjectMails int) {
	t := h.t
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(h.dataDir, "docvet.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	rs, err := st.RequestState(ctx, h.reqID)
	if err != nil || rs.State != store.RequestDelivered {
		t.Fatalf("request state %+v %v", rs, err)
	}

	// One row per hit, each with its one outcome.
	outcomes := map[string]int{}
	rowIDs := map[string]bool{}
	if err := st.DeliveryRows(ctx, h.reqID, func(r store.DeliveryRow) error {
		if rowIDs[r.RowID] {
			t.Errorf("row %s recorded twice", r.RowID)
		}
		rowIDs[r.RowID] = true
		outcomes[r.Outcome]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rowIDs) != 4 || outcomes[store.OutcomeDelivered] != 3 || outcomes[store.OutcomeWithheld] != 1 {
		t.Errorf("delivery rows %v (%d rows): want 4 rows, 3 delivered, 1 withheld", outcomes, len(rowIDs))
	}
	// Items: a record for every delivered row, a file where it was kept.
	type rowItems struct{ record, file int }
	perRow := map[string]*rowItems{}
	items := map[string]store.DeliveryItem{}
	if err := st.DeliveryItems(ctx, h.reqID, func(it store.DeliveryItem) error {
		ri := perRow[it.RowID]
		if ri == nil {
			ri = &rowItems{}
			perRow[it.RowID] = ri
		}
		switch it.Kind {
		case store.ItemRecord:
			ri.record++
		case store.ItemFile:
			ri.file++
		}
		if _, dup := items[it.ItemID]; dup {
			t.Errorf("item id %s twice", it.ItemID)
		}
		items[it.ItemID] = it
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	files := 0
	for row, ri := range perRow {
		if !rowIDs[row] {
			t.Errorf("items of row %s, which has no recorded outcome", row)
		}
		if ri.record != 1 || ri.file > 1 {
			t.Errorf("row %s has %d records and %d files", row, ri.record, ri.file)
		}
		files += ri.file
	}
	if len(perRow) != 3 || files != 2 || len(items) != 5 {
		t.Errorf("%d rows with items, %d files, %d items: want 3 rows, 2 files (alpha, mail), 5 items", len(perRow), files, len(items))
	}

	// Blobs: every referenced one is present and intact; unreferenced ones
	// (a kill between writing a blob and recording it) are only counted.
	b, err := st.Bundle(ctx, h.reqID)
	if err != nil {
		t.Fatal(err)
	}
	deliveryDir := filepath.Join(h.dataDir, "delivery")
	referenced := map[string]bool{b.Blob: true}
	for _, it := range items {
		referenced[it.Blob] = true
	}
	present := map[string]bool{}
	tmp := 0
	err = filepath.WalkDir(deliveryDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Base(filepath.Dir(p)) == "tmp" {
			tmp++
			return nil
		}
		present[d.Name()] = true
		if referenced[d.Name()] {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Name() {
				t.Errorf("blob %s does not hash to its address", d.Name())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr := range referenced {
		if !present[addr] {
			t.Errorf("referenced blob %s is missing from the delivery store", addr)
		}
	}
	orphans := 0
	for addr := range present {
		if !referenced[addr] {
			orphans++
		}
	}
	t.Logf("delivery store: %d referenced blobs, %d unreferenced (left for the sweep), %d temporary files", len(referenced), orphans, tmp)

	// The bundle holds exactly the items, and all decrypt with docvet
	// decrypt to the originals.
	bundlePath := ""
	filepath.WalkDir(deliveryDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == b.Blob {
			bundlePath = p
		}
		return err
	})
	zr, err := zip.OpenReader(bundlePath)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	inZip := map[string]bool{}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, ".pgp") {
			id := strings.TrimSuffix(filepath.Base(zf.Name), ".pgp")
			if inZip[id] || items[id].ItemID == "" {
				t.Errorf("bundle entry %s: duplicate or not a recorded item", zf.Name)
			}
			inZip[id] = true
		}
	}
	zr.Close()
	if len(inZip) != len(items) {
		t.Errorf("bundle holds %d items, the store %d", len(inZip), len(items))
	}
	out := filepath.Join(h.dir, "decrypted")
	var so, se bytes.Buffer
	if err := runDecrypt(ctx, []string{"--key", h.privKeyFile, "-o", out, bundlePath}, &so, &se); err != nil {
		t.Fatalf("docvet decrypt: %v: %s", err, se.String())
	}
	var got []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".html") {
			rel, _ := filepath.Rel(out, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(got)
	want := []string{"hr/alpha.txt", "hr/alpha.txt.json", "hr/beta.txt.json", "hr/mail.eml", "hr/mail.eml.json"}
	if !slices.Equal(got, want) {
		t.Errorf("decrypted bundle %q, want %q", got, want)
	}
	for _, d := range h.docs {
		if d.id == "alpha" || d.id == "mail" {
			if b, err := os.ReadFile(filepath.Join(out, "hr", d.name)); err != nil || !bytes.Equal(b, d.body) {
				t.Errorf("decrypted %s differs from the original (%v)", d.name, err)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "hr", "mail.eml.json")); err != nil || !bytes.Contains(b, []byte(`"Redacted message."`)) {
		t.Errorf("mail record lacks the reviewer's text: %s %v", b, err)
	}

	// Mails: reviewers once; the subject at least once, twice only when
	// killed between sending and marking.
	toSubject, toReviewer := 0, 0
	for _, m := range h.mail.Messages() {
		switch {
		case slices.Contains(m.To, h.subject):
			toSubject++
		case slices.Contains(m.To, "reviewer@example.org"):
			toReviewer++
		default:
			t.Errorf("mail to %v", m.To)
		}
	}
	if toSubject != subjectMails || toReviewer != reviewerMails {
		t.Errorf("mails: %d to the subject (want %d), %d to the reviewer (want %d)", toSubject, subjectMails, toReviewer, reviewerMails)
	}

	// Audit: one entry per lifecycle event, and the chain verifies.
	events := map[string]int{}
	if err := st.AuditLog(ctx, 0, "", func(e store.AuditEvent) error { events[e.Event]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for ev, n := range map[string]int{"request.received": 1, "request.searched": 1, "request.awaiting-review": 1, "workbook.upload": 1,
		"request.reviewed": 1, "delivery.started": 1, "delivery.delivered": 1, "notification.sent": 2} {
		if events[ev] != n {
			t.Errorf("audit has %d %s entries, want %d (all: %v)", events[ev], ev, n, events)
		}
	}
	st.Close()
	closed = true
	so.Reset()
	se.Reset()
	if err := runAudit(ctx, []string{"verify", "--config", h.cfg}, &so, &se); err != nil || !strings.Contains(so.String(), "audit log intact") {
		t.Errorf("docvet audit verify: %v %s %s", err, so.String(), se.String())
	}
}
