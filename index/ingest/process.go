package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/docvet/docvet/extractor"
	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
	"golang.org/x/sync/errgroup"
)

// batch is a prepared batch: one slot per entity, in sequence order.
type batch struct {
	slots    []slot
	position int64 // the position to save with it (0: do not move it)
	stats    Stats
}

// slot is the outcome of one entity.
type slot struct {
	entityID string
	skip     bool // already in the ledger: nothing to write
	delete   bool // remove from index and ledger
	doc      index.Doc
	row      store.LedgerRow
	kind     outcome
	extract  time.Duration
}

type outcome int

const (
	outSkipped outcome = iota
	outDeleted
	outExtracted
	outReused
	outFetchFailed
	outInvalid
)

// errAbort marks infrastructure failures that must stop the pass without
// committing the batch (the extractor pool is gone, a worker cannot start).
var errAbort = errors.New("ingest aborted")

// item is one entity version of a batch, its document parsed once (when
// the batch is read, so its listed size can bound the batch).
type item struct {
	e    store.Entity
	d    sources.Document
	perr error // sources.ParseDocument's; deleted entities are not parsed
}

func parseItem(e store.Entity) item {
	it := item{e: e}
	if !e.Deleted {
		it.d, it.perr = sources.ParseDocument(e.AppendJSON(nil), nil)
	}
	return it
}

// prepare decides, downloads and extracts every entity of a batch, at most
// Concurrency at a time. prev, when non-nil, holds the ledger rows of a
// retry batch (the ledger is not consulted to skip them); otherwise the
// ledger rows of the whole batch are read in one query.
func (p *Pipeline) prepare(ctx context.Context, ds string, items []item, prev map[string]store.LedgerRow) (*batch, error) {
	b := &batch{slots: make([]slot, len(items))}
	retry := prev != nil
	if !retry && !p.rebuild {
		ids := make([]string, 0, len(items))
		for i := range items {
			if !items[i].e.Deleted {
				ids = append(ids, items[i].e.ID)
			}
		}
		var err error
		if prev, err = p.st.LedgerBatch(ctx, ds, ids); err != nil {
			return nil, err
		}
	}
	snap := &lazySnapshot{idx: p.idx}
	defer snap.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opt.Concurrency)
	for i := range items {
		g.Go(func() error {
			var pr *store.LedgerRow
			if r, ok := prev[items[i].e.ID]; ok {
				pr = &r
			}
			return p.entity(gctx, ds, &items[i], pr, retry, snap, &b.slots[i])
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range b.slots {
		s := &b.slots[i]
		b.stats.Entities++
		b.stats.ExtractTime += s.extract
		switch s.kind {
		case outSkipped:
			b.stats.Skipped++
		case outDeleted:
			b.stats.Deleted++
		case outExtracted:
			b.stats.Extracted++
		case outReused:
			b.stats.Reused++
		case outFetchFailed:
			b.stats.FetchFailed++
		case outInvalid:
			b.stats.Invalid++
		}
	}
	return b, nil
}

// entity fills s for one entity version. prev is its ledger row (nil:
// none); retry says the entity is a retry of a failure (never skipped).
func (p *Pipeline) entity(ctx context.Context, ds string, it *item, prev *store.LedgerRow, retry bool, snap *lazySnapshot, s *slot) error {
	e := &it.e
	s.entityID = e.ID
	if e.Deleted {
		s.delete, s.kind = true, outDeleted
		return nil
	}
	// A Retry row is never trusted, even for this very version: it is a
	// failure, or a row an abandoned rebuild rewrote (abandonRebuild).
	if !retry && !p.rebuild && prev != nil && prev.EntitySeq == e.Seq && prev.ExtractorVersion == p.opt.ExtractorVersion && !prev.Retry {
		s.skip, s.kind = true, outSkipped
		return nil
	}
	if p.rebuild {
		prev = nil // nothing indexed to compare with or fall back on
	}
	d, err := it.d, it.perr
	row := store.LedgerRow{Source: ds, EntityID: e.ID, EntitySeq: e.Seq, ExtractorVersion: p.opt.ExtractorVersion}
	if err != nil {
		var ve *sources.ValidationError
		reason := "invalid entity"
		if errors.As(err, &ve) {
			reason = "invalid entity: " + strings.Join(ve.Problems, "; ")
		}
		row.DataType, row.Status, row.Reason = d.DataTypeID, StatusInvalid, reason
		s.row, s.kind = row, outInvalid
		s.doc = index.Doc{Source: ds, EntityID: e.ID, DataType: d.DataTypeID, Status: StatusInvalid}
		return nil
	}
	row.DataType, row.Size = d.DataTypeID, d.FileSize
	s.doc = docOf(ds, &d)

	t0 := time.Now()
	defer func() { s.extract = time.Since(t0) }()
	res, ferr := p.download(ctx, ds, &d, prev, snap)
	if res.abort != nil {
		return res.abort
	}
	if ferr != "" {
		row.Status, row.Reason, row.Retry = StatusFetchFailed, ferr, true
		row.Attempts = 1
		if prev != nil && prev.Retry {
			row.Attempts = prev.Attempts + 1
		}
		if prev != nil {
			// Keep what was indexed before findable, under the failure status.
			if old, ok := snap.get(index.DocID(ds, e.ID)); ok && old.SHA256 != "" {
				s.doc.Text, s.doc.Segments, s.doc.SHA256 = old.Text, old.Segments, old.SHA256
				row.SHA256 = old.SHA256
			}
		}
		s.doc.Status = StatusFetchFailed
		s.row, s.kind = row, outFetchFailed
		return nil
	}
	row.SHA256, row.Size = res.sha, res.size
	row.Status, row.Reason, row.Chars = res.status, res.reason, res.chars
	s.doc.SHA256, s.doc.Status, s.doc.Text, s.doc.Segments = res.sha, res.status, res.text, res.segments
	s.kind = outExtracted
	if res.reused {
		s.kind = outReused
	}
	if res.size != d.FileSize {
		// The bytes changed between listing and download: index what we
		// got, but flag it and come back for the listed version.
		row.Status, row.Retry = StatusFetchFailed, true
		row.Reason = fmt.Sprintf("downloaded %d bytes but the listing says %d: changed during download", res.size, d.FileSize)
		row.Attempts = 1
		if prev != nil && prev.Retry {
			row.Attempts = prev.Attempts + 1
		}
		s.doc.Status = StatusFetchFailed
		s.kind = outFetchFailed
	}
	s.row = row
	return nil
}

// docOf maps a document entity to the index properties (all but metadata).
func docOf(ds string, d *sources.Document) index.Doc {
	return index.Doc{
		Source:         ds,
		EntityID:       d.ID,
		DataType:       d.DataTypeID,
		DocumentID:     d.DocumentID,
		MIMEType:       d.MIMEType,
		Filename:       d.Filename,
		OriginalURL:    d.OriginalURL.String(),
		ExtractContent: d.ExtractContent.String(),
		FileSize:       d.FileSize,
	}
}

// extracted is the outcome of download.
type extracted struct {
	sha, status, reason, text string
	segments                  []doctext.Segment
	size, chars               int64
	reused                    bool
	abort                     error
}

// download fetches the document and extracts it, or reuses the indexed
// text when the bytes hash the same as what is indexed. It returns a
// non-empty failure reason for a failed download.
func (p *Pipeline) download(ctx context.Context, ds string, d *sources.Document, prev *store.LedgerRow, snap *lazySnapshot) (extracted, string) {
	url := d.ExtractContent.String()
	base := p.baseFor(ds, url)
	rc, err := p.fetch.Fetch(ctx, url, base)
	if err != nil {
		if ctx.Err() != nil {
			return extracted{abort: ctx.Err()}, ""
		}
		return extracted{}, fetchReason(err)
	}
	defer rc.Close()
	var r io.Reader = rc

	// Reuse candidate: an extraction of this extractor version is indexed.
	if prev != nil && prev.ExtractorVersion == p.opt.ExtractorVersion && isExtraction(prev.Status) && prev.SHA256 != "" {
		buf, complete, err := readUpTo(rc, p.opt.ReuseMaxBytes)
		if err != nil {
			if ctx.Err() != nil {
				return extracted{abort: ctx.Err()}, ""
			}
			return extracted{}, fetchReason(err)
		}
		if complete {
			sum := sha256.Sum256(buf)
			sha := hex.EncodeToString(sum[:])
			if sha == prev.SHA256 {
				if old, ok := snap.get(index.DocID(ds, d.ID)); ok && old.SHA256 == sha && old.Status == prev.Status {
					return extracted{sha: sha, status: old.Status, reason: prev.Reason, text: old.Text,
						segments: old.Segments, size: int64(len(buf)), chars: prev.Chars, reused: true}, ""
				}
			}
			r = bytes.NewReader(buf)
		} else {
			r = io.MultiReader(bytes.NewReader(buf), rc)
		}
	}
	res, err := p.ex.Extract(ctx, r, extractor.Hint{Name: d.Filename, MIME: d.MIMEType})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return extracted{abort: ctx.Err()}, ""
		case errors.Is(err, extractor.ErrInputRead):
			return extracted{}, fetchReason(err)
		default:
			return extracted{abort: fmt.Errorf("%w: extract: %w", errAbort, err)}, ""
		}
	}
	return extracted{sha: res.SHA256, status: string(res.Status), reason: res.Reason, text: res.Text,
		segments: res.Segments, size: res.Size, chars: res.Chars}, ""
}

// isExtraction reports whether a ledger status came from the extractor.
func isExtraction(status string) bool {
	switch doctext.Status(status) {
	case doctext.StatusOK, doctext.StatusPartial, doctext.StatusEmpty, doctext.StatusEncrypted,
		doctext.StatusUnsupported, doctext.StatusFailed:
		return true
	}
	return false
}

// baseFor returns the content base of dataset ds that url may be fetched
// under (extractor.BaseFor).
func (p *Pipeline) baseFor(ds, url string) string {
	if p.opt.AllowedBases == nil {
		return ""
	}
	return extractor.BaseFor(url, p.opt.AllowedBases(ds))
}

// fetchReason maps a download error to a fixed, safe reason: transport
// errors quote the URL (file paths), which must not reach the ledger
// reason shown to operators as-is, nor logs.
func fetchReason(err error) string {
	var hs *extractor.HTTPStatusError
	var ne net.Error
	switch {
	case errors.As(err, &hs):
		return fmt.Sprintf("source answered http status %d", hs.Code)
	case errors.Is(err, extractor.ErrNotAllowed):
		return "extract-content is outside the source's content base"
	case errors.Is(err, extractor.ErrRedirect):
		return "source answered with a redirect (refused)"
	case errors.Is(err, extractor.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "download timed out"
	case errors.Is(err, extractor.ErrTooLarge):
		return "download larger than the size cap"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "download cut short"
	case errors.As(err, &ne):
		return "source unreachable"
	}
	return "download failed"
}

// readUpTo reads r until EOF or until more than max bytes were read. It
// returns what it read and whether that is all of r.
func readUpTo(r io.Reader, max int64) ([]byte, bool, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, false, err
	}
	return buf.Bytes(), n <= max, nil
}

// lazySnapshot opens one index snapshot per batch on first use.
type lazySnapshot struct {
	idx  *index.Index
	once sync.Once
	s    *index.Snapshot
	err  error
}

func (l *lazySnapshot) get(id string) (index.Doc, bool) {
	l.once.Do(func() { l.s, l.err = l.idx.Snapshot() })
	if l.err != nil {
		return index.Doc{}, false
	}
	d, err := l.s.Get(id)
	return d, err == nil
}

func (l *lazySnapshot) close() {
	if l.s != nil {
		_ = l.s.Close()
	}
}
