package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/gopenpgp/v2/crypto"
	"github.com/xuri/excelize/v2"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/notify"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/server"
)

// The demo's data subject and request. Kari's e-mail address is on three
// documents in three folders of the sample share (hr, finance, support).
const (
	demoRequestID    = "AR-demo"
	demoSubjectName  = "Kari Nordmann"
	demoSubjectEmail = "kari.nordmann@example.no"
	demoReviewer     = "demo-reviewer"

	// The scripted review: the reviewer withholds the invoice list,
	// delivers the support ticket without its file, and replaces the
	// contract's extracted text with a summary of their own (the contract
	// file itself is delivered).
	demoWithhold     = "invoices-2023.xlsx"
	demoFileWithheld = "ticket-8812.eml"
	demoTyped        = "contract-4711.pdf"
	demoTypedText    = "Employment contract 4711 between Fjordvik AS and Kari Nordmann, signed in Bergen (summary written by the reviewer)."

	// demoWait bounds each wait for the service's background work.
	demoWait = 30 * time.Second
)

// journey runs the access request through the full service: key pair,
// request, workbook review, delivery, portal, decryption, audit.
func (d *demo) journey(ctx context.Context) error {
	if err := d.startService(ctx); err != nil {
		return err
	}
	if err := d.makeKeyPair(); err != nil {
		return err
	}
	if err := d.fileRequest(ctx); err != nil {
		return err
	}
	if err := d.review(ctx); err != nil {
		return err
	}
	link, err := d.awaitDelivery(ctx)
	if err != nil {
		return err
	}
	if err := d.subjectSide(ctx, link); err != nil {
		return err
	}
	return d.verifyAudit(ctx)
}

// startService stops the first part's HTTP server and index and starts
// the core as docvet serve runs it, over the same store and index: pullers,
// the ingestion pipeline and the request lifecycle (search, review,
// delivery, notifications) in background runners. Mail goes to files.
func (d *demo) startService(ctx context.Context) error {
	d.stopHTTP()
	if err := d.closeIndex(); err != nil {
		return fmt.Errorf("close index: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	cfg := d.coreConfig()
	cfg.Listen = ln.Addr().String()
	cfg.Delivery.PortalURL = base // the link in the subject's mail
	now := time.Duration(0)
	cfg.Notifications.SubjectDelay = &now // seed 001 waits 30 minutes
	svc, err := server.New(d.coreStore, cfg, d.log)
	if err != nil {
		ln.Close()
		return err
	}
	iopt, err := cfg.IndexOptions()
	if err != nil {
		ln.Close()
		return err
	}
	err = svc.EnableIngest(server.IngestConfig{
		IndexDir:  d.indexDir(),
		Index:     iopt,
		Extractor: d.ex,
		Fetcher:   extractor.NewFetcher(extractor.FetchOptions{}),
	})
	if err != nil {
		ln.Close()
		return err
	}
	d.mailer = &demoMailer{dir: filepath.Join(d.dir, "mail"), subject: demoSubjectEmail, sent: make(chan struct{}, 1)}
	svc.SetSenders(d.mailer, nil)

	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, ln) }()
	d.closers = append(d.closers, func() {
		stop()
		if err := <-done; err != nil {
			d.log.Error("demo: service stopped", "err", err)
		}
	})
	d.svcCfg, d.coreURL = cfg, base
	scopes := []string{server.ScopeAdmin, server.ScopePush, server.ScopeRead, server.ScopeSubjects}
	if d.adminToken, err = server.SignToken(svc.Secret(), "docvet-demo", scopes, time.Hour, time.Now()); err != nil {
		return err
	}
	// The reviewer's token names them ("sub"): uploads are recorded with it.
	if d.reviewerToken, err = server.SignToken(svc.Secret(), demoReviewer, []string{server.ScopeSubjects}, time.Hour, time.Now()); err != nil {
		return err
	}
	// Requests are searched once the index is open; waiting here keeps
	// the request from waiting for the runner's retry.
	if err := waitFor(ctx, demoWait, "the index to open", func() (bool, error) { return svc.Index() != nil, nil }); err != nil {
		return err
	}
	d.say("")
	d.say("8. The core restarts as the full service (what docvet serve runs) on %s: the same store and index,", base)
	d.say("   pullers, ingestion and the request lifecycle in background runners; mail is written to %s", d.mailer.dir)
	return nil
}

// makeKeyPair generates the subject's OpenPGP key pair (X25519), as a
// subject would with gpg or their mail client.
func (d *demo) makeKeyPair() error {
	key, err := crypto.GenerateKey(demoSubjectName, demoSubjectEmail, "x25519", 0)
	if err != nil {
		return fmt.Errorf("generate key pair: %w", err)
	}
	defer key.ClearPrivateParams()
	pub, err := key.GetArmoredPublicKey()
	if err != nil {
		return err
	}
	priv, err := key.Armor()
	if err != nil {
		return err
	}
	info, err := encrypt.CheckPublicKey(pub, time.Now(), encrypt.Policy{})
	if err != nil {
		return fmt.Errorf("generated key refused by the key policy: %w", err)
	}
	dir := filepath.Join(d.dir, "subject")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.keyFile = filepath.Join(dir, "private.asc")
	if err := os.WriteFile(d.keyFile, []byte(priv), 0o600); err != nil {
		return err
	}
	pubFile := filepath.Join(dir, "public.asc")
	if err := os.WriteFile(pubFile, []byte(pub), 0o644); err != nil {
		return err
	}
	d.say("9. %s generated an OpenPGP key pair (Curve25519: %s primary key, %s encryption subkey; no passphrase, demo only):",
		demoSubjectName, info.Algorithm, info.Encryption.Algorithm)
	d.say("     public key   %s", pubFile)
	d.say("     private key  %s", d.keyFile)
	return nil
}

// reqStatus is GET /api/access-requests/{id}.
type reqStatus = server.RequestStatus

// waitState polls the request's status until it reaches state (or failed).
func (d *demo) waitState(ctx context.Context, state string) (reqStatus, error) {
	var st reqStatus
	err := waitFor(ctx, demoWait, "access request to reach "+state, func() (bool, error) {
		st = reqStatus{}
		if err := d.call(ctx, http.MethodGet, "/api/access-requests/"+demoRequestID, nil, &st); err != nil {
			return false, err
		}
		if st.State == "failed" {
			return false, fmt.Errorf("access request failed: %s", st.Reason)
		}
		return st.State == state, nil
	})
	return st, err
}

// fileRequest pushes the access request to the receiver, as the GDPR
// portal (or docvet request create) does, and waits for its search.
func (d *demo) fileRequest(ctx context.Context) error {
	pub, err := os.ReadFile(filepath.Join(d.dir, "subject", "public.asc"))
	if err != nil {
		return err
	}
	ent := map[string]any{
		search.PropAccessRequestID: demoRequestID,
		search.PropUserID:          "employee-1001",
		search.PropContactInfo:     demoSubjectEmail,
		search.PropContactInfoType: string(search.ContactEmail),
		search.PropPublicKey:       string(pub),
		search.PropLang:            "en",
		search.PropTitle:           "Access request of " + demoSubjectName + " (demo)",
	}
	var res struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := d.call(ctx, http.MethodPost, "/api/receivers/gdpr-access-request-in/entities", []any{ent}, &res); err != nil {
		return fmt.Errorf("file access request: %w", err)
	}
	if res.Accepted != 1 {
		return fmt.Errorf("access request refused: %+v", res.Rejected)
	}
	st, err := d.waitState(ctx, "awaiting-review")
	if err != nil {
		return err
	}
	d.say("10. Access request %s for %s (contact %s) pushed to /api/receivers/gdpr-access-request-in/entities;", demoRequestID, demoSubjectName, demoSubjectEmail)
	d.say("    searched in one index snapshot, it reached awaiting-review with %d hits:", st.Hits)
	types := slices.Sorted(maps.Keys(st.HitsPerType))
	for _, dt := range types {
		d.say("      %-16s %d hits", dt, st.HitsPerType[dt])
	}
	return nil
}

// review downloads the vetting workbook, applies the scripted reviewer
// edits and uploads the result.
func (d *demo) review(ctx context.Context) error {
	dir := filepath.Join(d.dir, "review")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	wbPath := "/api/access-requests/" + demoRequestID + "/workbook"
	b, err := d.raw(ctx, http.MethodGet, wbPath, d.reviewerToken, "", nil)
	if err != nil {
		return fmt.Errorf("download workbook: %w", err)
	}
	in := filepath.Join(dir, demoRequestID+".xlsx")
	if err := os.WriteFile(in, b, 0o600); err != nil {
		return err
	}
	out := filepath.Join(dir, demoRequestID+"-reviewed.xlsx")
	if err := editWorkbook(in, out, demoDataType); err != nil {
		return err
	}
	up, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	b, err = d.raw(ctx, http.MethodPost, wbPath, d.reviewerToken,
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", bytes.NewReader(up))
	if err != nil {
		return fmt.Errorf("upload reviewed workbook: %w", err)
	}
	var res server.WorkbookResult
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	d.say("11. The reviewer downloaded the vetting workbook: %s", in)
	d.say("    and edited it as a reviewer would in Excel (scripted with excelize):")
	d.say("      %-18s deleted its row                -> withheld: nothing of it is delivered", demoWithhold)
	d.say("      %-18s cleared its extract-content    -> delivered without the file (metadata and text only)", demoFileWithheld)
	d.say("      %-18s typed text into its text cell  -> the file and the reviewer's text instead of the extracted text", demoTyped)
	d.say("    Uploaded %s: accepted %d rows (%d kept, %d withheld, %d file withheld, %d with replacement text); request %s",
		out, res.Rows, res.Kept, res.Withheld, res.FileWithheld, res.Text, res.State)
	return nil
}

// editWorkbook applies the demo's review to the data sheet of dataType,
// finding rows by file name and columns by header.
func editWorkbook(in, out, dataType string) error {
	f, err := excelize.OpenFile(in)
	if err != nil {
		return fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()
	rows, err := f.GetRows(dataType)
	if err != nil {
		return fmt.Errorf("workbook sheet %s: %w", dataType, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("workbook sheet %s is empty", dataType)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i + 1
	}
	for _, h := range []string{"row-id", "filename", "extract-content", "text"} {
		if col[h] == 0 {
			return fmt.Errorf("workbook sheet %s has no %s column", dataType, h)
		}
	}
	rowOf := map[string]int{}
	for i, r := range rows[1:] {
		if c := col["filename"] - 1; c < len(r) {
			rowOf[path.Base(r[c])] = i + 2
		}
	}
	for _, name := range []string{demoWithhold, demoFileWithheld, demoTyped} {
		if rowOf[name] == 0 {
			return fmt.Errorf("workbook has no row for %s", name)
		}
	}
	cell := func(name string, row int) string {
		ref, _ := excelize.CoordinatesToCellName(col[name], row)
		return ref
	}
	if err := f.SetCellValue(dataType, cell("extract-content", rowOf[demoFileWithheld]), ""); err != nil {
		return err
	}
	if err := f.SetCellStr(dataType, cell("text", rowOf[demoTyped]), demoTypedText); err != nil {
		return err
	}
	// Last: deleting a row moves the rows below it up.
	if err := f.RemoveRow(dataType, rowOf[demoWithhold]); err != nil {
		return err
	}
	return f.SaveAs(out)
}

// awaitDelivery waits for the delivery and the subject's mail and returns
// the portal link from that mail.
func (d *demo) awaitDelivery(ctx context.Context) (string, error) {
	st, err := d.waitState(ctx, "delivered")
	if err != nil {
		return "", err
	}
	if st.Delivery == nil {
		return "", errors.New("delivered request has no delivery counts")
	}
	dl := st.Delivery
	store := d.svcCfg.DeliveryDir()
	files, size, err := d.checkDeliveryStore(store)
	if err != nil {
		return "", err
	}
	if _, err := d.mailer.wait(ctx, "reviewer"); err != nil {
		return "", err
	}
	subj, err := d.mailer.wait(ctx, "subject")
	if err != nil {
		return "", err
	}
	link := regexp.MustCompile(regexp.QuoteMeta(d.svcCfg.Delivery.PortalURL) + `/portal/[A-Za-z0-9_-]+`).FindString(subj.text)
	if link == "" {
		return "", errors.New("the subject's mail carries no portal link")
	}
	d.say("12. All data types with hits decided: the request was reviewed and delivered at once:")
	d.say("    %d rows: %d delivered (%d of them without the file), %d withheld, %d changed since review, %d unavailable;",
		dl.Rows, dl.Delivered, dl.FileWithheld, dl.Withheld, dl.Changed, dl.Unavailable)
	d.say("    %d encrypted items (%d bytes) and a bundle of %d bytes, each file re-downloaded from the source,", dl.Items, dl.Bytes, dl.BundleBytes)
	d.say("    its SHA-256 checked against the reviewed one and encrypted as a stream to the subject's key.")
	d.say("    delivery store  %s (%d files, %d bytes, content-addressed; no plaintext: checked)", store, files, size)
	d.say("    mail written:")
	for _, m := range d.mailer.list() {
		d.say("      %-8s %s  to %s: %q", m.kind, m.path, strings.Join(m.to, ", "), m.subject)
	}
	d.say("    portal link in the subject's mail: %s", link)
	return link, nil
}

// checkDeliveryStore counts the delivery store's files and checks that
// none holds the subject's address or the delivered file in clear.
func (d *demo) checkDeliveryStore(dir string) (files int, size int64, err error) {
	original, err := os.ReadFile(filepath.Join(d.shareDir, "hr", "2019", demoTyped))
	if err != nil {
		return 0, 0, err
	}
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(demoSubjectEmail)) || bytes.Contains(b, original) {
			return fmt.Errorf("delivery store file %s holds plaintext", p)
		}
		files++
		size += int64(len(b))
		return nil
	})
	return files, size, err
}

// subjectSide opens the portal, downloads the bundle and decrypts it with
// the subject's private key, as "docvet decrypt" does.
func (d *demo) subjectSide(ctx context.Context, link string) error {
	dir := filepath.Join(d.dir, "subject")
	pageFile := filepath.Join(dir, "portal.html")
	if _, err := download(ctx, link, pageFile); err != nil {
		return fmt.Errorf("portal page: %w", err)
	}
	page, err := os.ReadFile(pageFile)
	if err != nil {
		return err
	}
	// The page links items relative to itself: "<token>/items/<id>".
	items := bytes.Count(page, []byte("/items/"))
	bundle := filepath.Join(dir, "bundle.zip")
	bb, err := download(ctx, link+"/bundle", bundle)
	if err != nil {
		return fmt.Errorf("portal bundle: %w", err)
	}
	out := filepath.Join(dir, "decrypted")
	var stdout, stderr bytes.Buffer
	if err := runDecrypt(ctx, []string{"--key", d.keyFile, bundle, "-o", out}, &stdout, &stderr); err != nil {
		return fmt.Errorf("decrypt bundle: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if rel, err := filepath.Rel(out, l); err == nil && l != "" {
			names = append(names, filepath.ToSlash(rel))
		}
	}
	slices.Sort(names)
	d.say("13. The subject opened the portal link: a page listing %d encrypted items and the bundle, saved as %s", items, pageFile)
	d.say("    and downloaded the bundle (%d bytes): %s", bb, bundle)
	d.say("    docvet decrypt --key %s %s -o %s wrote:", d.keyFile, bundle, out)
	var file string
	for _, n := range names {
		d.say("      %s", n)
		if path.Base(n) == demoTyped {
			file = filepath.Join(out, filepath.FromSlash(n))
		}
	}
	if file == "" {
		return fmt.Errorf("the bundle holds no %s", demoTyped)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	want, err := os.ReadFile(filepath.Join(d.shareDir, "hr", "2019", demoTyped))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("decrypted %s differs from the share's file", demoTyped)
	}
	sum := sha256.Sum256(got)
	d.say("    %s is byte-identical to the share's hr/2019/%s (sha256 %.16s…);", demoTyped, demoTyped, hex.EncodeToString(sum[:]))
	var rec struct {
		Text       string `json:"text"`
		TextSource string `json:"text_source"`
	}
	if b, err := os.ReadFile(file + ".json"); err == nil && json.Unmarshal(b, &rec) == nil {
		d.say("    its record %s.json carries the %s's text: %q", demoTyped, rec.TextSource, rec.Text)
	}
	return nil
}

// download GETs url (no credentials: the portal token is in the path)
// into file and returns its size.
func download(ctx context.Context, url, file string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET portal: %s", resp.Status)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// verifyAudit checks the audit log's hash chain and shows the request's
// events.
func (d *demo) verifyAudit(ctx context.Context) error {
	var v server.AuditVerification
	if err := d.call(ctx, http.MethodGet, "/api/admin/audit/verify", nil, &v); err != nil {
		return err
	}
	if !v.OK {
		return fmt.Errorf("audit log broken: %s", v.Error)
	}
	var log struct {
		Entries []struct {
			Event string `json:"event"`
		} `json:"entries"`
	}
	if err := d.call(ctx, http.MethodGet, "/api/admin/audit?request="+demoRequestID, nil, &log); err != nil {
		return err
	}
	var events []string
	for _, e := range log.Entries {
		if len(events) == 0 || events[len(events)-1] != e.Event {
			events = append(events, e.Event)
		}
	}
	d.say("14. Audit log intact: %d hash-chained entries, head %.16s… (GET /api/admin/audit/verify)", v.Entries, v.Head)
	d.say("    the request's events (subject identifiers hashed): %s", strings.Join(events, ", "))
	return nil
}

// whereNext prints the artefacts and the commands to try next.
func (d *demo) whereNext() {
	sub := filepath.Join(d.dir, "subject")
	d.say("")
	d.say("Where to look next:")
	d.say("  core database      %s (datasets, ledger, requests, decisions, audit log)", filepath.Join(d.dir, "data", "docvet.db"))
	d.say("  search index       %s", d.indexDir())
	d.say("  source state       %s", filepath.Join(d.dir, "source", "state.db"))
	d.say("  delivery store     %s", d.svcCfg.DeliveryDir())
	d.say("  mail               %s", d.mailer.dir)
	d.say("  workbooks          %s, %s", filepath.Join(d.dir, "review", demoRequestID+".xlsx"), filepath.Join(d.dir, "review", demoRequestID+"-reviewed.xlsx"))
	d.say("  subject            %s (key pair, portal.html, bundle.zip, decrypted/)", sub)
	d.say("  run it yourself    docvet source fileshare --root %s --data-type %s", d.shareDir, demoDataType)
	d.say("                     docvet serve --config docvet.example.yaml")
	d.say("  extract one file   docvet extract %s", filepath.Join(d.shareDir, "hr", "2019", demoTyped))
	d.say("  access requests    docvet request create ... and docvet vet export|import against docvet serve (README)")
	d.say("  audit log          docvet audit verify --data-dir %s", filepath.Join(d.dir, "data"))
	d.say("  decrypt            docvet decrypt --key %s %s -o DIR", filepath.Join(sub, "private.asc"), filepath.Join(sub, "bundle.zip"))
}

// waitFor polls cond every 50 ms until it holds, fails, or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: timed out after %s waiting for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoMailer is the demo's mail relay: each message becomes a text file
// NN-<kind>.txt (kind "subject" for mail to the data subject, else
// "reviewer").
type demoMailer struct {
	dir     string
	subject string
	sent    chan struct{} // signalled after each message

	mu   sync.Mutex
	msgs []demoMail
}

type demoMail struct {
	kind, path, subject, text string
	to                        []string
}

var _ server.Mailer = (*demoMailer)(nil)

func (m *demoMailer) Send(ctx context.Context, msg notify.Message) error {
	kind := "reviewer"
	if slices.Contains(msg.To, m.subject) {
		kind = "subject"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(m.dir, fmt.Sprintf("%02d-%s.txt", len(m.msgs)+1, kind))
	body := fmt.Sprintf("To: %s\nSubject: %s\n\n%s\n", strings.Join(msg.To, ", "), msg.Subject, msg.Text)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		return err
	}
	m.msgs = append(m.msgs, demoMail{kind: kind, path: p, subject: msg.Subject, text: msg.Text, to: slices.Clone(msg.To)})
	select {
	case m.sent <- struct{}{}:
	default:
	}
	return nil
}

func (m *demoMailer) list() []demoMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// wait returns the first mail of kind, waiting for it.
func (m *demoMailer) wait(ctx context.Context, kind string) (demoMail, error) {
	t := time.NewTimer(demoWait)
	defer t.Stop()
	for {
		for _, x := range m.list() {
			if x.kind == kind {
				return x, nil
			}
		}
		select {
		case <-ctx.Done():
			return demoMail{}, ctx.Err()
		case <-t.C:
			return demoMail{}, fmt.Errorf("demo: no %s mail within %s", kind, demoWait)
		case <-m.sent:
		}
	}
}
