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
)

// OpenIndex opens the index at dir for the pipeline. It finishes a swap
// that a crash interrupted, and rebuilds the index from the sources (see
// Rebuild) when it cannot be opened (index.ErrCorrupt, ErrIncompatible),
// was built with other identifier options (index.ErrIdentifiersChanged), or
// when it is empty while the ledger is not (the directory was lost). Other
// errors, index.ErrInUse in particular, are returned as they are.
func OpenIndex(ctx context.Context, st *store.Store, dir string, iopt index.Options, ex Extractor, fetch Fetcher, opt Options) (*index.Index, error) {
	opt = opt.withDefaults()
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
// removed. An interrupted rebuild starts over on the next call; an
// interrupted swap is finished by OpenIndex. dir must not be open.
func Rebuild(ctx context.Context, st *store.Store, dir string, iopt index.Options, ex Extractor, fetch Fetcher, opt Options) error {
	opt = opt.withDefaults()
	tmp := dir + rebuildSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return err
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
		return err
	}
	ix, err := index.Open(tmp, iopt)
	if err != nil {
		return err
	}
	p, err := New(st, ix, ex, fetch, opt)
	if err != nil {
		ix.Close()
		return err
	}
	p.statePrefix, p.rebuild = rebuildStatePrefix, true
	stats, err := p.Once(ctx)
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := writeMarker(tmp); err != nil {
		return err
	}
	// The rebuilt index covers the rebuild positions: make them the live
	// pipeline's. A crash from here on is finished by recoverSwap.
	err = st.Update(ctx, func(tx *store.Tx) error {
		for _, ds := range opt.Datasets {
			v, err := tx.State(rebuildStatePrefix + ds)
			if errors.Is(err, store.ErrNotFound) {
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
	if err != nil {
		return err
	}
	if err := swap(dir); err != nil {
		return err
	}
	opt.Logger.Info("index rebuilt and swapped in", "documents", stats.Extracted+stats.FetchFailed+stats.Invalid,
		"fetch_failed", stats.FetchFailed)
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
