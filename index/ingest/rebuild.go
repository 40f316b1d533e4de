package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/store"
)

// Suffixes of the directories next to the index directory during a rebuild.
const (
	rebuildSuffix = ".rebuild" // the index being rebuilt
	oldSuffix     = ".old"     // the replaced index, removed after the swap
	// rebuiltMarker is written into the rebuild directory once the rebuild
	// is complete, so an interrupted swap can be finished on the next start
	// and an interrupted rebuild is never mistaken for a complete one.
	rebuiltMarker = "docvet-rebuild-complete"
	// rebuildStatePrefix keeps the rebuild's positions apart from the
	// live pipeline's until the swap.
	rebuildStatePrefix = "ingest:rebuild-pos:"
	// recheckStatePrefix marks a dataset whose ledger has rows flagged by
	// abandonRebuild that may have status ok, which the retry scan then
	// includes until none are left.
	recheckStatePrefix = "ingest:recheck:"
)

// OpenIndex opens the index at dir for the pipeline. It finishes a swap
// that a crash interrupted, and rebuilds the index from the sources (see
// Rebuild) when it cannot be opened (index.ErrCorrupt, ErrIncompatible),
// was built with other identifier options (index.ErrIdentifiersChanged), or
// when it is empty while the ledger is not (the directory was lost). Other
// errors, index.ErrInUse in particular, are returned as they are.
func OpenIndex(ctx context.Context, st *store.Store, dir string, iopt index.Options, ex Extractor, fetch Fetcher, opt Options) (*index.Index, error) {
	opt = opt.withDefaults()
	if err := recoverRebuild(ctx, st, dir, opt); err != nil {
		return nil, err
	}
	if err := recoverSwap(dir); err != nil {
		return nil, err
	}
	ix, err := index.Open(dir, iopt)
	reason := ""
	switch {
	case errors.Is(err, index.ErrCorrupt):
		reason = "corrupt"
	case errors.Is(err, index.ErrIncompatible):
		reason = "incompatible"
	case errors.Is(err, index.ErrIdentifiersChanged):
		// The identifiers field holds terms of other options (phone region,
		// ID patterns): searches would miss documents. Rebuilding is the
		// only way to a consistent index.
		reason = "identifier-options-changed"
	case err != nil:
		return nil, err
	default:
		n, cerr := ix.Count()
		if cerr != nil {
			ix.Close()
			return nil, cerr
		}
		if n > 0 {
			return ix, nil
		}
		rows, lerr := ledgerRows(ctx, st, opt.Datasets)
		if lerr != nil {
			ix.Close()
			return nil, lerr
		}
		if rows == 0 {
			return ix, nil
		}
		if err := ix.Close(); err != nil {
			return nil, err
		}
		reason = "empty-with-ledger"
	}
	opt.Logger.Warn("index unusable: rebuilding it from the sources into a new directory", "reason", reason)
	if err := Rebuild(ctx, st, dir, iopt, ex, fetch, opt); err != nil {
		return nil, fmt.Errorf("rebuild index: %w", err)
	}
	return index.Open(dir, iopt)
}

// ledgerRows counts the ledger rows of the datasets.
func ledgerRows(ctx context.Context, st *store.Store, datasets []string) (int64, error) {
	counts, err := st.LedgerCounts(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, ds := range datasets {
		for _, c := range counts[ds] {
			n += c
		}
	}
	return n, nil
}

// Rebuild builds a new index of every live entity of opt.Datasets in
// dir+".rebuild" (downloading and extracting each again: the index is what
// was lost), rewriting their ledger rows, then swaps it in: the old
// directory is renamed away, the new one renamed to dir, the old one
// removed. dir must not be open.
//
// The rebuild writes the live ledger rows as it goes, while the old index
// and its positions stay in use until the swap. So when a rebuild fails or
// is stopped before it is complete (an error, ctx ending, a crash), every
// ledger row it may have rewritten is flagged Retry (abandonRebuild): the
// live pipeline then re-processes those documents instead of trusting rows
// that describe an index that was thrown away. This runs when Rebuild
// returns an error, at the start of the next Rebuild and in OpenIndex (after
// a crash). Re-processing re-downloads the flagged documents; their text
// is re-extracted only when the bytes differ from what the old index holds.
// A failure after the rebuild is complete (marker written) leaves it to
// OpenIndex to finish the swap.
func Rebuild(ctx context.Context, st *store.Store, dir string, iopt index.Options, ex Extractor, fetch Fetcher, opt Options) error {
	opt = opt.withDefaults()
	// An earlier rebuild that stopped half-way may have rewritten more rows
	// than this one will if it stops too: flag them now.
	if err := abandonRebuild(ctx, st, opt.Datasets, opt); err != nil {
		return fmt.Errorf("recover an unfinished rebuild: %w", err)
	}
	stats, err := buildRebuild(ctx, st, dir, iopt, ex, fetch, opt)
	if err != nil {
		// The rebuilt directory must never be swapped in now.
		_ = os.RemoveAll(dir + rebuildSuffix)
		if aerr := abandonRebuild(context.WithoutCancel(ctx), st, opt.Datasets, opt); aerr != nil {
			// The rebuild positions are still there: the next OpenIndex
			// or Rebuild flags the rows.
			return errors.Join(err, fmt.Errorf("flag the rows of the unfinished rebuild for retry: %w", aerr))
		}
		return err
	}
	// The rebuilt index covers the rebuild positions: make them the live
	// pipeline's. A crash from here on is finished by OpenIndex.
	if err := promotePositions(ctx, st, opt.Datasets, true); err != nil {
		return err
	}
	if err := swap(dir); err != nil {
		return err
	}
	opt.Logger.Info("index rebuilt and swapped in", "documents", stats.Extracted+stats.FetchFailed+stats.Invalid,
		"fetch_failed", stats.FetchFailed)
	return nil
}

// buildRebuild builds the new index in dir+".rebuild" and marks it
// complete. On error the ledger rows it rewrote are not yet flagged (the
// caller does it; a crash leaves it to OpenIndex).
func buildRebuild(ctx context.Context, st *store.Store, dir string, iopt index.Options, ex Extractor, fetch Fetcher, opt Options) (Stats, error) {
	tmp := dir + rebuildSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return Stats{}, err
	}
	err := st.Update(ctx, func(tx *store.Tx) error {
		for _, ds := range opt.Datasets {
			if err := tx.DeleteState(rebuildStatePrefix + ds); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	ix, err := index.Open(tmp, iopt)
	if err != nil {
		return Stats{}, err
	}
	p, err := New(st, ix, ex, fetch, opt)
	if err != nil {
		ix.Close()
		return Stats{}, err
	}
	p.statePrefix, p.rebuild = rebuildStatePrefix, true
	stats, err := p.Once(ctx)
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stats, err
	}
	if err := writeMarker(tmp); err != nil {
		return stats, err
	}
	return stats, nil
}

// promotePositions moves the rebuild positions of datasets to the live
// pipeline's, in one transaction. missingZero sets the live position of a
// dataset without a rebuild position to 0 (a complete rebuild found no
// entity there); without it such datasets are left alone (finishing a
// swap whose positions were already moved).
func promotePositions(ctx context.Context, st *store.Store, datasets []string, missingZero bool) error {
	return st.Update(ctx, func(tx *store.Tx) error {
		for _, ds := range datasets {
			v, err := tx.State(rebuildStatePrefix + ds)
			if errors.Is(err, store.ErrNotFound) {
				if !missingZero {
					continue
				}
				v = "0"
			} else if err != nil {
				return err
			}
			if err := tx.SetState(DefaultStatePrefix+ds, v); err != nil {
				return err
			}
			if err := tx.DeleteState(rebuildStatePrefix + ds); err != nil {
				return err
			}
		}
		return nil
	})
}

// abandonChunk is the number of ledger rows flagged per transaction.
const abandonChunk = 1024

// abandonRebuild flags for retry the ledger rows an unfinished rebuild may
// have rewritten, then forgets its positions. A rebuild commits its ledger
// rows and its position in one transaction, reading entities in sequence
// order, so the rows it rewrote are those of entity versions up to its
// position. Rows of older versions of entities changed since are flagged
// too, which costs a download and nothing else. Flagging is idempotent: a
// crash half-way is finished by the next call.
func abandonRebuild(ctx context.Context, st *store.Store, datasets []string, opt Options) error {
	for _, ds := range datasets {
		key := rebuildStatePrefix + ds
		if _, err := st.State(ctx, key); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		upto, err := readPosition(ctx, st, key)
		if err != nil {
			return err
		}
		flagged := 0
		chunk := make([]store.LedgerRow, 0, abandonChunk)
		flush := func() error {
			if len(chunk) == 0 {
				return nil
			}
			err := st.Update(ctx, func(tx *store.Tx) error {
				for _, r := range chunk {
					r.Retry = true
					if err := tx.PutLedger(r); err != nil {
						return err
					}
				}
				return nil
			})
			flagged += len(chunk)
			chunk = chunk[:0]
			return err
		}
		// Writing while the read streams is safe: reads see a WAL
		// snapshot, and the rows written no longer match the filter.
		err = st.LedgerRows(ctx, ds, "", func(r store.LedgerRow) error {
			if r.Retry || r.EntitySeq > upto {
				return nil
			}
			chunk = append(chunk, r)
			if len(chunk) == abandonChunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
		err = st.Update(ctx, func(tx *store.Tx) error {
			if flagged > 0 {
				if err := tx.SetState(recheckStatePrefix+ds, "1"); err != nil {
					return err
				}
			}
			return tx.DeleteState(key)
		})
		if err != nil {
			return err
		}
		opt.Logger.Warn("unfinished index rebuild: its ledger rows are flagged for re-processing",
			"dataset", ds, "rows", flagged)
	}
	return nil
}

func writeMarker(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, rebuiltMarker), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

// swap replaces dir by dir+".rebuild" (which must hold the marker).
func swap(dir string) error {
	tmp, old := dir+rebuildSuffix, dir+oldSuffix
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("swap index: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("swap index: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, rebuiltMarker))
	return os.RemoveAll(old)
}

// recoverRebuild settles the ledger side of a rebuild a crash interrupted:
// a complete one (marker written) gets its positions moved to the live
// pipeline's, as recoverSwap will swap it in; an incomplete one gets the
// rows it rewrote flagged for retry, as its directory will be removed.
func recoverRebuild(ctx context.Context, st *store.Store, dir string, opt Options) error {
	if _, err := os.Stat(filepath.Join(dir+rebuildSuffix, rebuiltMarker)); err == nil {
		return promotePositions(ctx, st, opt.Datasets, false)
	}
	return abandonRebuild(ctx, st, opt.Datasets, opt)
}

// recoverSwap finishes a swap a crash interrupted and removes the leftovers
// of an interrupted rebuild.
func recoverSwap(dir string) error {
	tmp, old := dir+rebuildSuffix, dir+oldSuffix
	if _, err := os.Stat(filepath.Join(tmp, rebuiltMarker)); err == nil {
		return swap(dir)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		return os.RemoveAll(old)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(dir), err)
	}
	return nil
}
