package delivery

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// Errors callers branch on.
var (
	// ErrKey: the subject's public key no longer meets the key policy
	// (expired or revoked since the request was filed). Permanent.
	ErrKey = errors.New("the data subject's key can no longer be used")
	// ErrRowsPending: some rows could not be delivered yet (their source
	// failed); the others are recorded and the delivery is retried.
	ErrRowsPending = errors.New("rows not delivered yet")
	// ErrNotDelivering: the request left the delivering state meanwhile.
	ErrNotDelivering = errors.New("access request is not being delivered")
)

// Texts gives the indexed document of a hit: the text that was searched
// and the hash of the bytes it was extracted from. *index.Snapshot
// implements it.
type Texts interface {
	Get(id string) (index.Doc, error)
}

// Fetcher downloads a document's bytes again from its source, under the
// same URL rules as the extractor. *extractor.Fetcher implements it.
type Fetcher interface {
	Fetch(ctx context.Context, rawURL, allowedBase string) (io.ReadCloser, error)
}

var (
	_ Texts   = (*index.Snapshot)(nil)
	_ Fetcher = (*extractor.Fetcher)(nil)
)

// Options tune a Deliverer. Zero values take defaults.
type Options struct {
	// Workers is how many rows are fetched and encrypted at once
	// (default 4).
	Workers int
	// AllowedBases returns the content bases a dataset's files may be
	// downloaded from (as for ingestion). Nil allows none.
	AllowedBases func(dataset string) []string
	// Policy is the key policy applied again at encryption time.
	Policy encrypt.Policy
	// GiveUpAfter is how long a row's downloads may keep failing
	// (timeouts, 5xx, connection errors) before the row is recorded as
	// unavailable (default 24h).
	GiveUpAfter time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Deliverer encrypts the approved rows of reviewed access requests into the
// delivery store and records them, row by row, so that a delivery stopped
// at any point resumes where it stopped and publishes every item once.
type Deliverer struct {
	st    *store.Store
	blobs *Blobs
	fetch Fetcher
	opt   Options
	// afterRow runs after each recorded row (tests stop the process there).
	afterRow func()
	mu       sync.Mutex
	failing  map[string]rowFailure // request NUL row → its failed downloads
}

// New returns a Deliverer.
func New(st *store.Store, blobs *Blobs, fetch Fetcher, opt Options) *Deliverer {
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = 24 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{st: st, blobs: blobs, fetch: fetch, opt: opt, failing: map[string]rowFailure{}}
}

// SetAfterRow installs f, called after each row is recorded (crash tests).
func (d *Deliverer) SetAfterRow(f func()) { d.afterRow = f }

// Blobs returns the delivery store.
func (d *Deliverer) Blobs() *Blobs { return d.blobs }

// Job is one request to deliver.
type Job struct {
	RequestID string
	PublicKey string // armored, from the access request
	Language  string // for the bundle's pages
	Result    *search.Result
	Texts     Texts
	// Titles maps data-type ids to their titles in Language.
	Titles map[string]string
	// Finish runs inside the transaction that records the bundle and moves
	// the request to delivered (portal token, notification, audit entry).
	Finish func(tx *store.Tx, s Summary) error
}

// Summary counts what a delivery did (over all its runs).
type Summary struct {
	Rows         int
	Delivered    int
	FileWithheld int // delivered without the file (reviewer's choice)
	Withheld     int
	Changed      int
	Unavailable  int
	Items        int
	Bytes        int64
	Bundle       store.Bundle
}

// Reasons recorded with row outcomes (safe, fixed texts).
const (
	reasonNoDecision   = "no reviewer decision"
	reasonFileWithheld = "file withheld by reviewer"
	reasonNotIndexed   = "document no longer indexed"
	reasonChanged      = "document changed since review"
	reasonGone         = "document no longer at its source"
	reasonOutside      = "extract-content is outside the source's content base"
	reasonRefused      = "the source refused the download"
	reasonKeptFailing  = "the source kept failing; given up"
)

// fetchError marks a transient download failure (source down, timeout,
// 5xx): retried until Options.GiveUpAfter, then recorded unavailable.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// rowFailure is the download history of a row whose source fails.
type rowFailure struct {
	first, next time.Time // first failure; no new attempt before next
	n           int
}

// Backoff of a failing row's downloads: doubling from retryMin to retryMax.
const (
	retryMin = 30 * time.Second
	retryMax = 30 * time.Minute
)

// noteFailure remembers a row's failed download and when to try again.
// The history is kept in memory: a restart tries every row at once and
// starts its give-up clock again.
func (d *Deliverer) noteFailure(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opt.Now()
	f := d.failing[key]
	if f.n == 0 {
		f.first = now
	}
	f.n++
	f.next = now.Add(min(retryMin<<min(f.n-1, 10), retryMax))
	d.failing[key] = f
}

// waiting reports whether a failing row's next attempt is still ahead.
func (d *Deliverer) waiting(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.failing[key]
	return ok && d.opt.Now().Before(f.next)
}

func (d *Deliverer) clearFailure(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.failing, key)
}

// giveUp reports whether a row has failed for longer than GiveUpAfter
// (counted from its first failure since this process started).
func (d *Deliverer) giveUp(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.failing[key]
	return ok && d.opt.Now().Sub(f.first) >= d.opt.GiveUpAfter
}

// Failing returns how many rows of a request are waiting for their source
// (downloads that failed and will be retried).
func (d *Deliverer) Failing(requestID string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k := range d.failing {
		if strings.HasPrefix(k, requestID+"\x00") {
			n++
		}
	}
	return n
}

// Deliver delivers every row of the job's snapshot not yet recorded, then
// builds the bundle and, in one transaction, records it, moves the request
// to delivered and runs job.Finish. An error leaves the request
// delivering: calling Deliver again resumes it.
func (d *Deliverer) Deliver(ctx context.Context, job Job) (Summary, error) {
	now := d.opt.Now()
	rcpt, err := encrypt.NewRecipient(job.PublicKey, now, d.opt.Policy)
	if err != nil {
		return Summary{}, fmt.Errorf("%w: %v", ErrKey, err)
	}
	decisions := map[string]*Decision{}
	if err := d.st.Decisions(ctx, job.RequestID, func(sd store.Decision) error {
		var dec Decision
		if err := json.Unmarshal(sd.Decision, &dec); err != nil {
			return fmt.Errorf("decode decision: %w", err)
		}
		if dec.IndexID != "" {
			decisions[dec.IndexID] = &dec
		}
		return nil
	}); err != nil {
		return Summary{}, err
	}
	done := map[string]bool{}
	if err := d.st.DeliveryRows(ctx, job.RequestID, func(r store.DeliveryRow) error {
		done[r.RowID] = true
		return nil
	}); err != nil {
		return Summary{}, err
	}

	// Rows fail on their own: one document whose source keeps failing must
	// not hold back the others, which are recorded as they finish.
	var g errgroup.Group
	g.SetLimit(d.opt.Workers)
	var (
		mu       sync.Mutex
		written  int
		failing  int
		firstErr error
	)
	for i := range job.Result.Hits {
		h := &job.Result.Hits[i]
		if done[h.IndexID] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		dec := decisions[h.IndexID]
		key := job.RequestID + "\x00" + h.IndexID
		if d.waiting(key) {
			mu.Lock()
			failing++
			if firstErr == nil {
				firstErr = errors.New("source failed; waiting before the next attempt")
			}
			mu.Unlock()
			continue
		}
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			row, items, err := d.row(ctx, rcpt, job, h, dec)
			var fe *fetchError
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.As(err, &fe) && d.giveUp(key):
				row.Outcome, row.Reason, items = store.OutcomeUnavailable, reasonKeptFailing, nil
			default:
				d.noteFailure(key)
				mu.Lock()
				failing++
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return nil
			}
			err = d.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
				cur, err := tx.RequestState(job.RequestID)
				if err != nil {
					return err
				}
				if cur.State != store.RequestDelivering {
					return ErrNotDelivering
				}
				return tx.PutDeliveryRow(row, items)
			})
			if errors.Is(err, store.ErrExists) {
				err = nil // another run recorded it first; our blobs are swept
			}
			if err == nil {
				d.clearFailure(key)
				mu.Lock()
				written++
				mu.Unlock()
				if d.afterRow != nil {
					d.afterRow()
				}
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Summary{}, err
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	if failing > 0 {
		return Summary{}, fmt.Errorf("%w: %d rows (first: %v); %d recorded in this run", ErrRowsPending, failing, firstErr, written)
	}
	sum, err := d.finish(ctx, job)
	if err != nil {
		return Summary{}, err
	}
	d.opt.Logger.Info("delivery: delivered", "rows_this_run", written, "rows", sum.Rows, "delivered", sum.Delivered,
		"withheld", sum.Withheld, "changed", sum.Changed, "unavailable", sum.Unavailable, "items", sum.Items, "bytes", sum.Bytes)
	return sum, nil
}

// row works out one hit's outcome and encrypts its items. Blobs are
// committed to the delivery store before the row is recorded; a crash in
// between leaves unreferenced blobs for the sweep.
func (d *Deliverer) row(ctx context.Context, rcpt *encrypt.Recipient, job Job, h *search.Hit, dec *Decision) (store.DeliveryRow, []store.DeliveryItem, error) {
	row := store.DeliveryRow{RequestID: job.RequestID, RowID: h.IndexID, DataType: h.DataType}
	outcome := func(o, reason string) (store.DeliveryRow, []store.DeliveryItem, error) {
		row.Outcome, row.Reason = o, reason
		return row, nil, nil
	}
	if dec == nil {
		return outcome(store.OutcomeWithheld, reasonNoDecision)
	}
	if dec.Withheld {
		return outcome(store.OutcomeWithheld, "")
	}
	text, textSource := dec.Text, "reviewer"
	if !dec.HasText {
		doc, err := job.Texts.Get(h.IndexID)
		if errors.Is(err, index.ErrNotFound) {
			return outcome(store.OutcomeChanged, reasonNotIndexed)
		}
		if err != nil {
			return row, nil, fmt.Errorf("indexed text: %w", err)
		}
		if doc.SHA256 != h.SHA256 {
			return outcome(store.OutcomeChanged, reasonChanged)
		}
		text, textSource = doc.Text, "extracted"
	}
	name := itemName(h)
	var items []store.DeliveryItem
	var blobs []*BlobWriter
	abort := func() {
		for _, b := range blobs {
			b.Abort()
		}
	}
	wantFile := !dec.FileWithheld && h.ExtractContent != ""
	if wantFile {
		bw, size, o, reason, err := d.encryptFile(ctx, rcpt, h, name)
		if err != nil {
			return row, nil, err
		}
		if o != "" {
			return outcome(o, reason)
		}
		blobs = append(blobs, bw)
		items = append(items, store.DeliveryItem{ItemID: newItemID(), Kind: store.ItemFile, Size: size})
	}
	rec := record{
		DataType: h.DataType, DataTypeTitle: job.Titles[h.DataType], DocumentID: h.DocumentID,
		Filename: h.Filename, MIMEType: h.MIMEType, FileSize: h.FileSize, SHA256: h.SHA256,
		Metadata: ApplyMetadata(h.Metadata, dec.Metadata), Text: text, TextSource: textSource,
		FileDelivered: wantFile, FileWithheld: dec.FileWithheld, DeliveredAt: d.opt.Now().UTC().Truncate(time.Second),
	}
	bw, size, err := d.encryptRecord(rcpt, rec, name+".json")
	if err != nil {
		abort()
		return row, nil, err
	}
	blobs = append(blobs, bw)
	items = append(items, store.DeliveryItem{ItemID: newItemID(), Kind: store.ItemRecord, Size: size})
	for i, b := range blobs {
		addr, _, err := b.Commit()
		if err != nil {
			abort()
			return row, nil, err
		}
		items[i].Blob = addr
	}
	row.Outcome = store.OutcomeDelivered
	if dec.FileWithheld && h.ExtractContent != "" {
		row.Reason = reasonFileWithheld
	}
	return row, items, nil
}

// Buffers reused across rows (a delivery of 1,000 rows allocated ~1 MB per
// row without them).
var (
	writers  = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}
	copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
)

// record is the JSON delivered for every approved row.
type record struct {
	DataType      string         `json:"data_type"`
	DataTypeTitle string         `json:"data_type_title,omitempty"`
	DocumentID    string         `json:"document_id"`
	Filename      string         `json:"filename,omitempty"`
	MIMEType      string         `json:"mime_type,omitempty"`
	FileSize      int64          `json:"filesize,omitempty"`
	SHA256        string         `json:"sha256,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
	Text          string         `json:"text"`
	TextSource    string         `json:"text_source"` // "extracted" or "reviewer"
	FileDelivered bool           `json:"file_delivered"`
	FileWithheld  bool           `json:"file_withheld,omitempty"`
	DeliveredAt   time.Time      `json:"delivered_at"`
}

// encryptRecord encrypts the row's record into a new blob (not committed).
func (d *Deliverer) encryptRecord(rcpt *encrypt.Recipient, rec record, filename string) (*BlobWriter, int64, error) {
	bw, err := d.blobs.Create()
	if err != nil {
		return nil, 0, err
	}
	buf := writers.Get().(*bufio.Writer)
	defer writers.Put(buf)
	buf.Reset(bw)
	enc, err := rcpt.Encrypt(buf, filename, rec.DeliveredAt)
	if err == nil {
		je := json.NewEncoder(enc)
		je.SetEscapeHTML(false)
		je.SetIndent("", "  ")
		err = je.Encode(rec)
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		bw.Abort()
		return nil, 0, fmt.Errorf("encrypt record: %w", err)
	}
	return bw, bw.n, nil
}

// encryptFile downloads the hit's file again and encrypts it as it
// streams into a new blob, hashing the plaintext on the way. The blob is
// kept (not committed) only when the hash equals the reviewed one. A
// permanent problem is returned as an outcome and reason; a transient one
// (source down, timeout) as an error, so the delivery is retried.
func (d *Deliverer) encryptFile(ctx context.Context, rcpt *encrypt.Recipient, h *search.Hit, name string) (*BlobWriter, int64, string, string, error) {
	body, err := d.fetch.Fetch(ctx, h.ExtractContent, d.baseFor(h.Source, h.ExtractContent))
	if err != nil {
		var hs *extractor.HTTPStatusError
		switch {
		case errors.As(err, &hs) && (hs.Code == 404 || hs.Code == 410):
			return nil, 0, store.OutcomeUnavailable, reasonGone, nil
		case errors.As(err, &hs) && (hs.Code == 401 || hs.Code == 403 || (hs.Code >= 300 && hs.Code < 400)):
			return nil, 0, store.OutcomeUnavailable, fmt.Sprintf("%s (http %d)", reasonRefused, hs.Code), nil
		case errors.Is(err, extractor.ErrNotAllowed):
			return nil, 0, store.OutcomeUnavailable, reasonOutside, nil
		case errors.Is(err, extractor.ErrTooLarge):
			return nil, 0, store.OutcomeChanged, reasonChanged, nil
		}
		return nil, 0, "", "", &fetchError{fmt.Errorf("download: %w", safeFetchErr(err))}
	}
	defer body.Close()
	bw, err := d.blobs.Create()
	if err != nil {
		return nil, 0, "", "", err
	}
	sum := sha256.New()
	var src io.Reader = body
	if h.FileSize > 0 {
		src = io.LimitReader(body, h.FileSize+1) // a longer file has changed
	}
	buf := writers.Get().(*bufio.Writer)
	defer writers.Put(buf)
	buf.Reset(bw)
	enc, err := rcpt.Encrypt(buf, name, d.opt.Now())
	var n int64
	if err == nil {
		cb := copyBufs.Get().(*[]byte)
		n, err = io.CopyBuffer(enc, io.TeeReader(src, sum), *cb)
		copyBufs.Put(cb)
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		bw.Abort()
		if errors.Is(err, extractor.ErrTooLarge) {
			return nil, 0, store.OutcomeChanged, reasonChanged, nil
		}
		if errors.Is(err, errBlobWrite) {
			return nil, 0, "", "", err
		}
		return nil, 0, "", "", &fetchError{fmt.Errorf("download and encrypt: %w", safeFetchErr(err))}
	}
	if hex.EncodeToString(sum.Sum(nil)) != strings.ToLower(h.SHA256) || (h.FileSize > 0 && n != h.FileSize) {
		bw.Abort()
		return nil, 0, store.OutcomeChanged, reasonChanged, nil
	}
	return bw, bw.n, "", "", nil
}

// safeFetchErr drops what a transport error says about the URL (file
// paths carry names): the sentinel kind is kept for errors.Is.
func safeFetchErr(err error) error {
	for _, s := range []error{extractor.ErrTimeout, context.Canceled, context.DeadlineExceeded, extractor.ErrHTTPStatus} {
		if errors.Is(err, s) {
			var hs *extractor.HTTPStatusError
			if errors.As(err, &hs) {
				return hs
			}
			return s
		}
	}
	return errors.New("source unreachable")
}

// baseFor returns the content base of dataset ds that url may be fetched
// under (extractor.BaseFor).
func (d *Deliverer) baseFor(ds, url string) string {
	if d.opt.AllowedBases == nil {
		return ""
	}
	return extractor.BaseFor(url, d.opt.AllowedBases(ds))
}

// itemName is the filename inside the encrypted item: the document's file
// name, or its document id when it has none, reduced to a base name the
// subject's tools can write safely: no path, no control or bidirectional
// formatting characters (which can disguise an extension), no leading dot
// (a hidden or dot file such as .bashrc).
func itemName(h *search.Hit) string {
	n := h.Filename
	if n == "" {
		n = h.DocumentID
	}
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f, r >= 0x80 && r < 0xa0:
			return -1
		case r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			return -1
		}
		return r
	}, n)
	n = strings.TrimSpace(n)
	n = strings.TrimLeft(n, ".")
	if n == "" || n == "/" {
		n = "document"
	}
	return n
}

// newItemID returns a random 128-bit item id: it appears in portal URLs
// and the bundle, so it must say nothing about the document.
func newItemID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
