package fileshare

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docvet/docvet/extractor/sniff"
	"github.com/docvet/docvet/sources"
	"github.com/docvet/docvet/store"
)

// ErrEmptyRoot is returned by Rescan when the root is empty but documents
// are known: probably an unmounted share. Nothing is deleted.
var ErrEmptyRoot = errors.New("fileshare: the root is empty but documents are known (is the share mounted?); nothing was deleted")

// Run rescans at once and then every interval (interval <= 0: only once)
// until ctx is done. Scan failures are logged, not returned; a tick that
// finds a rescan running (e.g. one started by POST /rescan) is skipped.
func (s *Share) Run(ctx context.Context, interval time.Duration) error {
	s.rescanLogged(ctx)
	if interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.rescanLogged(ctx)
		}
	}
}

// rescanLogged runs a rescan whose outcome only goes to the log (Rescan
// logs its own summary and errors).
func (s *Share) rescanLogged(ctx context.Context) {
	if _, err := s.Rescan(ctx); errors.Is(err, sources.ErrRescanRunning) {
		s.log.Info("periodic rescan skipped: one is already running")
	}
}

// Rescan implements sources.Source: a full walk of the root. Unchanged
// files (same fingerprint) are only marked; new and changed ones are read,
// hashed and sniffed; after a complete walk everything unmarked is published
// as deleted. On any error that makes the walk incomplete (root unreadable,
// context cancelled, empty root) no deletion is published; the changes found
// so far are kept (they are true).
func (s *Share) Rescan(ctx context.Context) (sources.ScanStats, error) {
	select {
	case s.scanning <- struct{}{}:
	default:
		return sources.ScanStats{}, sources.ErrRescanRunning
	}
	defer func() { <-s.scanning }()
	sc := &scan{s: s, ctx: ctx}
	sc.stats.Started = time.Now()
	err := sc.run()
	sc.stats.Duration = time.Since(sc.stats.Started)
	st := sc.stats
	attrs := []any{"duration_ms", st.Duration.Milliseconds(), "complete", st.Complete,
		"documents", st.Documents, "unchanged", st.Unchanged, "read", st.Read, "bytes_read", st.BytesRead,
		"changed", st.Changed, "deleted", st.Deleted, "symlinks", st.Symlinks, "hidden", st.Hidden,
		"special", st.Special, "bad_names", st.BadNames, "unreadable", st.Unreadable, "kept", st.Kept}
	if err != nil {
		attrs = append(attrs, "err", sources.SafeError(err))
		if ctx.Err() != nil {
			s.log.Info("rescan stopped; no deletions published", attrs...)
		} else {
			s.log.Error("rescan incomplete; no deletions published", attrs...)
		}
		return st, err
	}
	s.log.Info("rescan done", attrs...)
	return st, nil
}

type scan struct {
	s       *Share
	ctx     context.Context
	root    *os.Root
	mark    int64
	stats   sources.ScanStats
	entries int64       // directory entries seen at all (for the empty-root guard)
	batch   []candidate // regular files waiting to be checked and written
	known   knownIndex  // digests of the stored fingerprints, see loadKnown
	// protect lists keys (files or directory prefixes) that could not be
	// checked: their known documents are kept alive rather than swept.
	protect []string
}

type candidate struct {
	key string
	fi  fs.FileInfo
}

// outcome of checking one candidate.
type outcome struct {
	kind      int // outMark, outPut, outKeep, outGone
	body      json.RawMessage
	aux       string
	read      bool
	bytes     int64
	unchanged bool
}

const (
	outGone = iota // vanished since the walk saw it: will be swept
	outMark        // unchanged: mark only
	outPut         // new, changed or re-rendered: Put
	outKeep        // could not be read: keep the known version
)

func (sc *scan) run() error {
	s := sc.s
	root, err := os.OpenRoot(s.root)
	if err != nil {
		return fmt.Errorf("open root: %w", err)
	}
	defer root.Close()
	sc.root = root
	if err := s.st.Update(sc.ctx, func(tx *store.Tx) error {
		var err error
		sc.mark, err = tx.NextSeq()
		return err
	}); err != nil {
		return err
	}
	if err := sc.loadKnown(); err != nil {
		return err
	}
	// The root itself failing is fatal: we saw nothing.
	if err := sc.walk(root, "", 0); err != nil {
		return err
	}
	if err := sc.flush(); err != nil {
		return err
	}
	if err := sc.ctx.Err(); err != nil {
		return err
	}
	if sc.entries == 0 && !s.opt.AllowEmptyRoot {
		c, err := s.st.Count(sc.ctx, s.dataset)
		if err != nil {
			return err
		}
		if c.Live > 0 {
			return ErrEmptyRoot
		}
	}
	if err := sc.keepProtected(); err != nil {
		return err
	}
	err = s.st.Update(sc.ctx, func(tx *store.Tx) error {
		ids, err := tx.Sweep(s.dataset, sc.mark)
		sc.stats.Deleted = int64(len(ids))
		return err
	})
	if err != nil {
		sc.stats.Deleted = 0
		return err
	}
	sc.stats.Complete = true
	return nil
}

// walk lists dir (whose slash path under the root is rel) and recurses.
// An error reading dir itself is returned; errors below it are counted and
// their subtrees protected.
func (sc *scan) walk(dir *os.Root, rel string, depth int) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, rerr := d.Readdirnames(256)
		for _, name := range names {
			if err := sc.ctx.Err(); err != nil {
				return err
			}
			if err := sc.entry(dir, rel, name, depth); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// entry handles one directory entry. Only store or context errors are
// returned; file-system problems are counted.
func (sc *scan) entry(dir *os.Root, rel, name string, depth int) error {
	sc.entries++
	if strings.HasPrefix(name, ".") {
		sc.stats.Hidden++
		return nil
	}
	key := name
	if rel != "" {
		key = rel + "/" + name
	}
	if !sources.ValidName(name) || len(key) > 4096 {
		sc.stats.BadNames++
		return nil
	}
	fi, err := dir.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // vanished: swept like any deletion
	case err != nil:
		sc.unreadable(key, err)
		return nil
	}
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		sc.stats.Symlinks++
	case m.IsDir():
		if depth >= maxDepth {
			sc.unreadable(key, errors.New("directory nesting too deep"))
			return nil
		}
		child, err := dir.OpenRoot(name)
		if err == nil && sc.s.failHook != nil {
			if err = sc.s.failHook(key); err != nil {
				child.Close()
			}
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				sc.unreadable(key, err)
			}
			return nil
		}
		defer child.Close()
		if cfi, err := child.Stat("."); err != nil || !os.SameFile(fi, cfi) {
			sc.unreadable(key, errNotSame)
			return nil
		}
		if err := sc.walk(child, key, depth+1); err != nil {
			if ctxErr := sc.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			sc.unreadable(key, err)
		}
	case m.IsRegular():
		sc.batch = append(sc.batch, candidate{key: key, fi: fi})
		if len(sc.batch) >= sc.s.opt.BatchSize {
			return sc.flush()
		}
	default:
		sc.stats.Special++
	}
	return nil
}

// unreadable counts a file or directory that could not be checked and keeps
// whatever was known under it.
func (sc *scan) unreadable(key string, err error) {
	sc.stats.Unreadable++
	sc.protect = append(sc.protect, key)
	sc.s.log.Warn("rescan: skipped an unreadable entry", "err", sources.SafeError(err))
}

// flush checks the batched files (reading the new and changed ones, with
// bounded concurrency) and writes the batch in one transaction.
func (sc *scan) flush() error {
	if len(sc.batch) == 0 {
		return nil
	}
	batch := sc.batch
	out := make([]outcome, len(batch))
	g, ctx := errgroup.WithContext(sc.ctx)
	g.SetLimit(sc.s.opt.Workers)
	for i := range batch {
		g.Go(func() error {
			o, err := sc.check(ctx, batch[i])
			out[i] = o
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s := sc.s
	err := s.st.Update(sc.ctx, func(tx *store.Tx) error {
		for i, c := range batch {
			o := out[i]
			id := s.ID(c.key)
			switch o.kind {
			case outMark:
				ok, err := tx.Mark(s.dataset, id, sc.mark)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("fileshare: document %d of the batch vanished from the store", i)
				}
			case outPut:
				r, err := tx.Put(s.dataset, store.Write{ID: id, Body: o.body, Aux: o.aux, Mark: sc.mark})
				if err != nil {
					return err
				}
				if r.Changed {
					sc.stats.Changed++
				}
			case outKeep:
				ok, err := tx.Mark(s.dataset, id, sc.mark)
				if err != nil {
					return err
				}
				if ok {
					sc.stats.Kept++
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range out {
		switch o.kind {
		case outMark, outPut:
			sc.stats.Documents++
		case outKeep:
			sc.stats.Unreadable++
		}
		if o.unchanged {
			sc.stats.Unchanged++
		}
		if o.read {
			sc.stats.Read++
			sc.stats.BytesRead += o.bytes
		}
	}
	clear(sc.batch)
	sc.batch = sc.batch[:0]
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// check decides what to do with one file: compare its fingerprint with the
// stored one, and read it only when it differs. It runs concurrently; it
// only reads the store.
func (sc *scan) check(ctx context.Context, c candidate) (outcome, error) {
	s := sc.s
	fp := fingerprintOf(c.fi)
	id := s.ID(c.key)
	switch sc.known.lookup(id, fp) {
	case knownSame:
		return outcome{kind: outMark, unchanged: true}, nil
	case knownNone:
		return sc.read(c, fp)
	}
	e, err := s.st.Get(ctx, s.dataset, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return outcome{}, err
	}
	if err == nil && !e.Deleted {
		if a, ok := parseAux(e.Aux); ok && a.fp == fp {
			if a.cfg == s.cfg {
				return outcome{kind: outMark, unchanged: true}, nil
			}
			a.cfg = s.cfg
			body, err := s.body(c.key, fp.size, c.fi.ModTime(), a.sha, a.mime)
			if err != nil {
				return outcome{}, err
			}
			return outcome{kind: outPut, body: body, aux: a.String(), unchanged: true}, nil
		}
	}
	return sc.read(c, fp)
}

// read opens, sniffs and hashes a new or changed file.
func (sc *scan) read(c candidate, fp fingerprint) (outcome, error) {
	s := sc.s
	f, err := sc.root.OpenFile(c.key, openFlags, 0)
	if err == nil && s.failHook != nil {
		if err = s.failHook(c.key); err != nil {
			f.Close()
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return outcome{kind: outGone}, nil
		}
		s.log.Warn("rescan: cannot open a file", "err", sources.SafeError(err))
		return outcome{kind: outKeep}, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !os.SameFile(c.fi, fi) {
		// Replaced between the walk and now: keep the known version; the
		// next rescan sees the new state.
		return outcome{kind: outKeep}, nil
	}
	// The fingerprint is taken before reading: if the file changes while
	// we read it, the next rescan sees a different fingerprint and re-reads.
	fp = fingerprintOf(fi)
	head := make([]byte, min(fi.Size(), sniff.HeadSize))
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		s.log.Warn("rescan: cannot read a file", "err", sources.SafeError(err))
		return outcome{kind: outKeep}, nil
	}
	mimeType := sniff.Detect(head[:n], f, fi.Size(), path.Base(c.key))
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	nread, err := io.CopyBuffer(h, struct{ io.Reader }{f}, *bp) // no WriterTo: use our buffer
	bufPool.Put(bp)
	if err != nil {
		s.log.Warn("rescan: cannot read a file", "err", sources.SafeError(err))
		return outcome{kind: outKeep}, nil
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Report the size of what was hashed, so filesize and sha256 agree.
	body, err := s.body(c.key, nread, fi.ModTime(), sum, mimeType)
	if err != nil {
		return outcome{}, err
	}
	a := aux{fp: fp, cfg: s.cfg, sha: sum, mime: mimeType}
	if nread != fp.size {
		a.fp.size = -1 // changed while read: never matches, re-read next time
	}
	return outcome{kind: outPut, body: body, aux: a.String(), read: true, bytes: nread}, nil
}

// keepProtected marks the known live documents under every protected key
// (unreadable files and directories), so the sweep does not delete what it
// could not look at. It streams the dataset once, only when needed.
func (sc *scan) keepProtected() error {
	if len(sc.protect) == 0 {
		return nil
	}
	s := sc.s
	var ids []string
	err := s.st.Since(sc.ctx, s.dataset, 0, 0, func(e store.Entity) error {
		if e.Deleted {
			return nil
		}
		key, ok := strings.CutPrefix(e.ID, s.opt.IDPrefix+":")
		if !ok {
			return nil
		}
		for _, p := range sc.protect {
			if key == p || strings.HasPrefix(key, p+"/") {
				ids = append(ids, e.ID)
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.st.Update(sc.ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if _, err := tx.Mark(s.dataset, id, sc.mark); err != nil {
				return err
			}
		}
		sc.stats.Kept += int64(len(ids))
		return nil
	})
}

// knownIndex holds, for every live stored document, a 64-bit digest of its
// _id and of its stored fingerprint and options hash: 16 bytes per document
// (1.6 MB per 100k files) instead of one store lookup per unchanged file,
// which dominated no-change rescans. Sorted by id digest for binary search.
// A digest collision can only make an unchanged file look changed (it is
// then looked up in the store or re-read), never the reverse, except for a
// simultaneous 64-bit collision of both digests.
type knownIndex struct {
	seed    maphash.Seed
	entries []knownEntry
}

type knownEntry struct{ id, fp uint64 }

const (
	knownNone  = iota // no live document with this id: a new file
	knownSame         // same fingerprint and options: unchanged
	knownOther        // known, but something differs: look closer
)

func (k *knownIndex) fpDigest(fp fingerprint) uint64 {
	var h maphash.Hash
	h.SetSeed(k.seed)
	var b [40]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(fp.size))
	binary.LittleEndian.PutUint64(b[8:], uint64(fp.mtime))
	binary.LittleEndian.PutUint64(b[16:], uint64(fp.ctime))
	binary.LittleEndian.PutUint64(b[24:], fp.ino)
	binary.LittleEndian.PutUint64(b[32:], fp.dev)
	h.Write(b[:])
	return h.Sum64()
}

func (k *knownIndex) lookup(id string, fp fingerprint) int {
	want := maphash.String(k.seed, id)
	i, ok := slices.BinarySearchFunc(k.entries, want, func(e knownEntry, t uint64) int { return cmp.Compare(e.id, t) })
	if !ok {
		return knownNone
	}
	// Equal id digests are adjacent; any of them matching is enough.
	d := k.fpDigest(fp)
	for ; i < len(k.entries) && k.entries[i].id == want; i++ {
		if k.entries[i].fp == d {
			return knownSame
		}
	}
	return knownOther
}

// loadKnown streams the dataset once and builds the known index. Documents
// built with other options get an inverted digest, so they compare unequal
// and their bodies are rebuilt.
func (sc *scan) loadKnown() error {
	s := sc.s
	sc.known = knownIndex{seed: maphash.MakeSeed()}
	k := &sc.known
	err := s.st.Since(sc.ctx, s.dataset, 0, 0, func(e store.Entity) error {
		if e.Deleted {
			return nil
		}
		a, ok := parseAux(e.Aux)
		if !ok {
			return nil // unknown aux: treated as changed
		}
		fp := k.fpDigest(a.fp)
		if a.cfg != s.cfg {
			fp = ^fp // never equal to a current fingerprint's digest
		}
		k.entries = append(k.entries, knownEntry{id: maphash.String(k.seed, e.ID), fp: fp})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(k.entries, func(a, b knownEntry) int { return cmp.Compare(a.id, b.id) })
	return nil
}
