package delivery

import (
	"archive/zip"
	"bufio"
	"context"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/docvet/docvet/store"
)

// BundleItem is one encrypted item as listed in the bundle and the portal.
type BundleItem struct {
	ID   string // random item id; the file in the bundle is ID + ".pgp"
	Kind string // store.ItemRecord or store.ItemFile
	Size int64
	Blob string
}

// TypeDelivery is what was delivered for one data type.
type TypeDelivery struct {
	DataType     string
	Title        string
	Folder       string // the bundle folder (a safe form of the data-type id)
	Delivered    int    // rows delivered
	FileWithheld int    // of those, delivered without the file
	Withheld     int    // rows the reviewers withheld
	Changed      int    // rows not delivered: the document changed since review
	Unavailable  int    // rows not delivered: the document could not be fetched again
	Items        []BundleItem
}

// Contents lists a request's delivery per data type, from the store.
func Contents(ctx context.Context, st *store.Store, requestID string, titles map[string]string) ([]*TypeDelivery, Summary, error) {
	by := map[string]*TypeDelivery{}
	get := func(dt string) *TypeDelivery {
		t := by[dt]
		if t == nil {
			t = &TypeDelivery{DataType: dt, Title: titles[dt]}
			if t.Title == "" {
				t.Title = dt
			}
			by[dt] = t
		}
		return t
	}
	var sum Summary
	err := st.DeliveryRows(ctx, requestID, func(r store.DeliveryRow) error {
		t := get(r.DataType)
		sum.Rows++
		switch r.Outcome {
		case store.OutcomeDelivered:
			t.Delivered++
			sum.Delivered++
			if r.Reason == reasonFileWithheld {
				t.FileWithheld++
				sum.FileWithheld++
			}
		case store.OutcomeWithheld:
			t.Withheld++
			sum.Withheld++
		case store.OutcomeChanged:
			t.Changed++
			sum.Changed++
		case store.OutcomeUnavailable:
			t.Unavailable++
			sum.Unavailable++
		}
		return nil
	})
	if err != nil {
		return nil, Summary{}, err
	}
	err = st.DeliveryItems(ctx, requestID, func(it store.DeliveryItem) error {
		t := get(it.DataType)
		t.Items = append(t.Items, BundleItem{ID: it.ItemID, Kind: it.Kind, Size: it.Size, Blob: it.Blob})
		sum.Items++
		sum.Bytes += it.Size
		return nil
	})
	if err != nil {
		return nil, Summary{}, err
	}
	out := make([]*TypeDelivery, 0, len(by))
	for _, t := range by {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *TypeDelivery) int { return strings.Compare(a.DataType, b.DataType) })
	used := map[string]bool{"index.html": true}
	for _, t := range out {
		f := folderName(t.DataType)
		base := f
		for i := 2; used[strings.ToLower(f)]; i++ {
			f = fmt.Sprintf("%s-%d", base, i)
		}
		used[strings.ToLower(f)] = true
		t.Folder = f
	}
	return out, sum, nil
}

// folderName keeps letters, digits, '-', '_' and '.', replacing the rest,
// so a data-type id is a safe folder name on every system.
func folderName(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	s := strings.TrimRight(b.String(), ".")
	if s == "" {
		s = "data"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// WriteBundle writes the request's bundle zip to w: index.html at the top
// (what was delivered per data type, with counts of withheld items, in
// lang) and one folder per data type with its own index.html and the
// encrypted items. Items are stored (already encrypted: compressing
// ciphertext gains nothing).
func (d *Deliverer) WriteBundle(w io.Writer, requestID, lang string, types []*TypeDelivery, at time.Time) error {
	zw := zip.NewWriter(w)
	page := func(name string, tmpl *template.Template, data any) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: at})
		if err != nil {
			return err
		}
		return tmpl.Execute(f, data)
	}
	words := wordsFor(lang)
	if err := page("index.html", topPage, pageData{W: words, Lang: words.lang, Types: types, At: at}); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, t := range types {
		if err := page(t.Folder+"/index.html", typePage, pageData{W: words, Lang: words.lang, Type: t, At: at}); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		for _, it := range t.Items {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: t.Folder + "/" + it.ID + ".pgp", Method: zip.Store, Modified: at})
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			if _, err := d.blobs.copyBlob(f, it.Blob); err != nil {
				return fmt.Errorf("bundle: item: %w", err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// finish builds the bundle from what the store records and moves the
// request to delivered with it, in one transaction.
func (d *Deliverer) finish(ctx context.Context, job Job) (Summary, error) {
	types, sum, err := Contents(ctx, d.st, job.RequestID, job.Titles)
	if err != nil {
		return Summary{}, err
	}
	if sum.Rows < len(job.Result.Hits) {
		return Summary{}, fmt.Errorf("%w: %d of %d rows recorded", ErrRowsPending, sum.Rows, len(job.Result.Hits))
	}
	bw, err := d.blobs.Create()
	if err != nil {
		return Summary{}, err
	}
	buf := bufio.NewWriterSize(bw, 256<<10)
	if err := d.WriteBundle(buf, job.RequestID, job.Language, types, d.opt.Now().UTC()); err != nil {
		bw.Abort()
		return Summary{}, err
	}
	if err := buf.Flush(); err != nil {
		bw.Abort()
		return Summary{}, fmt.Errorf("bundle: %w", err)
	}
	addr, size, err := bw.Commit()
	if err != nil {
		return Summary{}, err
	}
	sum.Bundle = store.Bundle{RequestID: job.RequestID, Blob: addr, Size: size}
	err = d.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		cur, err := tx.RequestState(job.RequestID)
		if err != nil {
			return err
		}
		if cur.State != store.RequestDelivering {
			return ErrNotDelivering
		}
		if err := tx.PutBundle(sum.Bundle); err != nil {
			return err
		}
		if err := tx.PutRequestState(job.RequestID, store.RequestDelivered, ""); err != nil {
			return err
		}
		if job.Finish != nil {
			return job.Finish(tx, sum)
		}
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	return sum, nil
}
