package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/docvet/docvet/store"
)

// Save stores res as the request's point-in-time snapshot and moves the
// request to "searched", in one transaction. A request that already has a
// snapshot is refused (store.ErrSnapshotExists) unless replace: a snapshot
// is never re-run by itself.
func Save(ctx context.Context, st *store.Store, res Result, replace bool) error {
	return st.Update(ctx, func(tx *store.Tx) error { return SaveTx(tx, res, replace) })
}

// SaveTx is Save inside the caller's transaction. Hits are encoded one at
// a time as the store writes them.
func SaveTx(tx *store.Tx, res Result, replace bool) error {
	head := res
	head.Hits, head.NotSearchable = nil, nil
	hj, err := json.Marshal(head)
	if err != nil {
		return fmt.Errorf("search: encode result: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	encode := func(v any, put func([]byte) error) error {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("search: encode result: %w", err)
		}
		return put(bytes.TrimRight(buf.Bytes(), "\n"))
	}
	return tx.SaveSearchResult(res.RequestID, store.SearchSnapshot{
		Header: hj,
		Hits: func(put func([]byte) error) error {
			for i := range res.Hits {
				if err := encode(&res.Hits[i], put); err != nil {
					return err
				}
			}
			return nil
		},
		NotSearchable: func(put func([]byte) error) error {
			for i := range res.NotSearchable {
				if err := encode(&res.NotSearchable[i], put); err != nil {
					return err
				}
			}
			return nil
		},
		Replace: replace,
	})
}

// Load reads a request's stored snapshot (store.ErrNotFound when it has
// none). Rows are decoded as they stream from the store.
func Load(ctx context.Context, st *store.Store, requestID string) (Result, error) {
	var res Result
	err := Stream(ctx, st, requestID, func(r Result) error { res = r; return nil },
		func(h Hit) error { res.Hits = append(res.Hits, h); return nil },
		func(n NotSearchable) error { res.NotSearchable = append(res.NotSearchable, n); return nil })
	if err != nil {
		return Result{}, err
	}
	if res.Hits == nil {
		res.Hits = []Hit{}
	}
	if res.NotSearchable == nil {
		res.NotSearchable = []NotSearchable{}
	}
	return res, nil
}

// Stream reads a request's stored snapshot without holding it in memory:
// header (the Result without Hits and NotSearchable) first, then each hit,
// then each not-searchable document, in the order Run produced them. Nil
// callbacks skip their part.
func Stream(ctx context.Context, st *store.Store, requestID string, header func(Result) error, hit func(Hit) error, ns func(NotSearchable) error) error {
	var hf, nf func([]byte) error
	hd := func(b []byte) error {
		var r Result
		if err := decode(b, &r); err != nil {
			return err
		}
		if header != nil {
			return header(r)
		}
		return nil
	}
	if hit != nil {
		hf = func(b []byte) error {
			var h Hit
			if err := decode(b, &h); err != nil {
				return err
			}
			return hit(h)
		}
	}
	if ns != nil {
		nf = func(b []byte) error {
			var n NotSearchable
			if err := decode(b, &n); err != nil {
				return err
			}
			return ns(n)
		}
	}
	if err := st.SearchResult(ctx, requestID, hd, hf, nf); err != nil {
		return fmt.Errorf("search:: %w", err)
	}
	return nil
}

// decode decodes JSON with numbers as json.Number (as Run reads metadata),
// so a loaded snapshot equals the one saved.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("search: decode snapshot: %w", err)
	}
	return nil
}
