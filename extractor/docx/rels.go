package docx

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

type rel struct {
	typ      string // last path element of the relationship type, e.g. "header"
	target   string // resolved part name
	external bool
}

type pkg struct {
	parts      []part   // in reading order
	core       string   // docProps/core.xml or "" if absent
	embeddings []string // embedded files, in name order
	numbering  string   // numbering.xml or "" if absent
}

// maxRelsBytes bounds a relationships part; real ones are a few KB.
const maxRelsBytes = 16 << 20

// readRels parses a .rels part. source is the part the relationships belong
// to ("" for the package), targets are resolved against its folder.
func readRels(zr *zipsafe.Reader, relsName, source string, lim doctext.Limits) (map[string]rel, error) {
	rc, err := zr.Open(relsName)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := zipsafe.NewDecoder(io.LimitReader(rc, maxRelsBytes), lim.MaxXMLDepth)
	out := map[string]rel{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xmlStart)
		if !ok || t.Name.Local != "Relationship" {
			continue
		}
		var id, typ, target, mode string
		for _, a := range t.Attr {
			switch a.Name.Local {
			case "Id":
				id = a.Value
			case "Type":
				typ = a.Value
			case "Target":
				target = a.Value
			case "TargetMode":
				mode = a.Value
			}
		}
		r := rel{typ: typ[strings.LastIndex(typ, "/")+1:], external: strings.EqualFold(mode, "External")}
		if !r.external {
			r.target = resolve(source, target)
		}
		if len(out) > 100000 {
			return nil, &doctext.LimitError{Limit: "docx_relationships", Value: 100000}
		}
		out[id] = r
	}
}

// resolve turns a relationship target into a part name.
func resolve(source, target string) string {
	if u, err := url.PathUnescape(target); err == nil {
		target = u
	}
	target = strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Join(path.Dir("/"+source), target), "/")
}

func relsNameOf(partName string) string {
	return path.Join(path.Dir(partName), "_rels", path.Base(partName)+".rels")
}

// discover finds the main document and its headers, footers, notes and
// comments, in reading order.
func discover(zr *zipsafe.Reader, lim doctext.Limits) (pkg, error) {
	var pk pkg
	main := ""
	root, err := readRels(zr, "_rels/.rels", "", lim)
	if le := limitErr(err); le != nil {
		return pk, le
	}
	for _, r := range sortedRels(root) {
		switch r.typ {
		case "officeDocument":
			if main == "" && !r.external {
				main = r.target
			}
		case "core-properties":
			if pk.core == "" && !r.external {
				pk.core = r.target
			}
		}
	}
	if main == "" || !zr.Has(main) {
		main = "word/document.xml"
	}
	if pk.core == "" && zr.Has("docProps/core.xml") {
		pk.core = "docProps/core.xml"
	}
	if !zr.Has(main) {
		switch {
		case zr.Has("xl/workbook.xml"), zr.Has("ppt/presentation.xml"):
			return pk, fmt.Errorf("docx: package is not a word-processing document: %w", doctext.ErrUnsupported)
		}
		return pk, fmt.Errorf("docx: no main document part: %w", doctext.ErrMalformed)
	}
	mainRels, err := readRels(zr, relsNameOf(main), main, lim)
	if le := limitErr(err); le != nil {
		return pk, le
	}
	pk.parts = append(pk.parts, part{name: main, loc: "body", kind: "document", rels: mainRels})

	kinds := []string{"header", "footer", "footnotes", "endnotes", "comments"}
	found := map[string][]string{}
	seen := map[string]bool{strings.ToLower(main): true}
	add := func(kind, name string) {
		if seen[strings.ToLower(name)] {
			return
		}
		seen[strings.ToLower(name)] = true
		found[kind] = append(found[kind], name)
	}
	if err == nil {
		for _, r := range sortedRels(mainRels) {
			if r.external {
				continue
			}
			if r.typ == "numbering" && pk.numbering == "" {
				pk.numbering = r.target
			}
			for _, k := range kinds {
				if r.typ == k {
					add(k, r.target)
				}
			}
		}
	} else {
		// No usable relationships: fall back to the usual part names.
		dir := path.Dir(main) + "/"
		for _, n := range zr.Names() {
			ln := strings.ToLower(strings.ReplaceAll(n, `\`, "/"))
			if !strings.HasPrefix(ln, dir) || strings.Contains(ln[len(dir):], "/") || !strings.HasSuffix(ln, ".xml") {
				continue
			}
			base := strings.TrimSuffix(ln[len(dir):], ".xml")
			for _, k := range kinds {
				if base == k || (k == "header" || k == "footer") && strings.HasPrefix(base, k) {
					add(k, n)
				}
			}
		}
	}
	if pk.numbering == "" && zr.Has(path.Dir(main)+"/numbering.xml") {
		pk.numbering = path.Dir(main) + "/numbering.xml"
	}
	edir := strings.ToLower(path.Dir(main) + "/embeddings/")
	for _, n := range zr.Names() {
		if ln := strings.ToLower(strings.ReplaceAll(n, `\`, "/")); strings.HasPrefix(ln, edir) && !strings.HasSuffix(ln, "/") {
			pk.embeddings = append(pk.embeddings, n)
		}
	}
	sort.SliceStable(pk.embeddings, func(i, j int) bool { return naturalLess(pk.embeddings[i], pk.embeddings[j]) })
	for _, k := range kinds {
		names := found[k]
		sort.SliceStable(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
		for _, n := range names {
			loc := k
			if k == "header" || k == "footer" {
				loc = partLoc(n)
			}
			pk.parts = append(pk.parts, part{name: n, loc: loc, kind: k})
		}
	}
	return pk, nil
}

func limitErr(err error) error {
	var le *doctext.LimitError
	if errors.As(err, &le) {
		return err
	}
	return nil
}

// sortedRels returns relationships ordered by id for a deterministic result.
func sortedRels(m map[string]rel) []rel {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return naturalLess(ids[i], ids[j]) })
	out := make([]rel, 0, len(ids))
	for _, id := range ids {
		out = append(out, m[id])
	}
	return out
}
