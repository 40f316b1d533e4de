package search

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/docvet/docvet/index"
	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/store"
	"golang.org/x/sync/errgroup"
)

// DefaultMaxSnippets is the number of snippets per hit when
// Query.MaxSnippets is zero.
const DefaultMaxSnippets = 3

// ErrNoIdentifiers: none of the request's identifiers can be searched for
// (all empty or malformed). Searching nothing would answer "no documents",
// which is wrong, so Run refuses.
var ErrNoIdentifiers = errors.New("no searchable identifiers")

// ErrIdentifierOptions: Query.IDs (phone region, ID patterns) are not the
// identifier options the index was built with (their Fingerprint differs
// from the one the index records). The subject's identifiers would be
// normalised by other rules than the documents' were, so e-mail, phone and
// ID terms could silently miss; Run refuses rather than answer "no
// documents". Search with the index's options, or rebuild the index.
var ErrIdentifierOptions = errors.New("search identifier options differ from the index's")

// Query is one access request's search.
type Query struct {
	RequestID string
	// Identifiers are the subject's identifiers, normalised (see
	// Identifier.Normalized; an empty Normalized is normalised here).
	Identifiers []Identifier
	// DataTypes restricts the search to these data types; empty = all.
	DataTypes []string
	// MaxSnippets bounds the snippets per hit (default DefaultMaxSnippets;
	// negative = none).
	MaxSnippets int
	// IDs are the identifier options the index was built with: the default
	// phone region and the configured ID patterns. Run checks them against
	// the fingerprint the index records (ErrIdentifierOptions).
	IDs identifiers.Options
	// Logger receives counts only (default slog.Default()).
	Logger *slog.Logger
}

// needleKind says how a needle is searched and counted.
type needleKind int

const (
	needleTerm   needleKind = iota // identifiers field term; counted with identifiers.Find
	needlePhrase                   // phrase(s) on a text field; counted from term locations
)

// needle is one identifier of the query, prepared.
type needle struct {
	id   Identifier
	kind needleKind
	// needleTerm
	fkind identifiers.Kind
	value string
	// needlePhrase: the field and token sequences (a name in both orders).
	field   string
	phrases [][]string
}

// Run searches the snapshot once for the subject's identifiers and returns
// the point-in-time result: EVERY matching document of the request's data
// types (not a top N), with which identifiers matched, how often, and up to
// MaxSnippets snippets, plus the documents of those data types the ledger
// says could not be fully searched. st supplies each hit's current metadata
// and the ledger. Queries are built in code; subject data never reaches a
// query parser.
func Run(ctx context.Context, snap *index.Snapshot, st *store.Store, q Query) (Result, error) {
	log := q.Logger
	if log == nil {
		log = slog.Default()
	}
	if q.MaxSnippets == 0 {
		q.MaxSnippets = DefaultMaxSnippets
	}
	started := time.Now()
	if got, want := q.IDs.Fingerprint(), snap.IdentifiersFingerprint(); got != want {
		if want == "" {
			return Result{}, fmt.Errorf("search: %w (the index records no identifier options)", ErrIdentifierOptions)
		}
		return Result{}, fmt.Errorf("search: %w (query %.12s, index %.12s)", ErrIdentifierOptions, got, want)
	}
	needles, err := prepareNeedles(snap, q)
	if err != nil {
		return Result{}, err
	}
	bq := buildQuery(needles, q.DataTypes)

	n, err := snap.Count()
	if err != nil {
		return Result{}, fmt.Errorf("search: count: %w", err)
	}
	res := Result{RequestID: q.RequestID, SearchedAt: started.UTC(), IndexedDocs: n}

	// Collect the matches first (cheap: ids and term locations), then read
	// and describe the documents in parallel.
	var matches []index.Match
	if err := snap.Each(ctx, bq, func(m index.Match) error {
		matches = append(matches, m)
		return nil
	}); err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	res.Hits = make([]Hit, len(matches))
	unlocated := 0
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range matches {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			ok, err := describe(gctx, snap, st, needles, q, matches[i], &res.Hits[i])
			if err == nil && !ok {
				mu.Lock()
				unlocated++
				mu.Unlock()
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	matches = nil
	slices.SortFunc(res.Hits, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(a.DataType, b.DataType), cmp.Compare(a.Source, b.Source), cmp.Compare(a.EntityID, b.EntityID))
	})

	if res.NotSearchable, err = notSearchable(ctx, st, q.DataTypes); err != nil {
		return Result{}, err
	}
	if res.DataTypes, err = dataTypes(snap, q.DataTypes); err != nil {
		return Result{}, err
	}
	if unlocated > 0 {
		// The index matched but the stored text shows no occurrence: the
		// identifier options differ from the index's. Kept as hits (an
		// omission is worse than a row without snippets).
		log.Warn("search: hits without located matches", "hits", unlocated)
	}
	log.Info("search: done", "identifiers", len(needles), "hits", len(res.Hits),
		"not_searchable", len(res.NotSearchable), "indexed_docs", n, "took", time.Since(started))
	return res, nil
}

// prepareNeedles normalises and de-duplicates the query's identifiers.
func prepareNeedles(snap *index.Snapshot, q Query) ([]needle, error) {
	// Every text query goes to text_folded, analysed as it was indexed.
	folded := snap.Mapping().AnalyzerNamed(index.AnalyzerFolded)
	if folded == nil {
		return nil, errors.New("search: index mapping lacks the folded text analyzer")
	}
	analyze := func(s string) []string {
		var out []string
		for _, t := range folded.Analyze([]byte(s)) {
			out = append(out, string(t.Term))
		}
		return out
	}
	configured := map[string]bool{}
	for _, p := range q.IDs.IDs {
		if p.Regexp != nil && p.Name != "" {
			configured[p.Name] = true
		}
	}
	seen := map[string]bool{}
	var out []needle
	for _, id := range q.Identifiers {
		nd := needle{id: id}
		norm := strings.TrimSpace(id.Normalized)
		switch id.Kind {
		case KindEmail, KindPhone:
			nd.kind, nd.fkind = needleTerm, identifiers.Kind(id.Kind)
			if norm == "" {
				norm, _ = identifiers.Normalize(nd.fkind, id.Value, q.IDs)
			}
			nd.value = norm
		case KindID:
			if configured[id.Pattern] {
				nd.kind, nd.fkind = needleTerm, identifiers.IDKind(id.Pattern)
				if norm == "" {
					norm, _ = identifiers.Normalize(nd.fkind, id.Value, q.IDs)
				}
				nd.value = norm
			} else {
				// No pattern: the ID is matched as written (case- and
				// accent-insensitively, like all text), as a phrase.
				nd.kind, nd.field = needlePhrase, index.FieldTextFolded
				if toks := analyze(id.Value); len(toks) > 0 {
					nd.phrases = [][]string{toks}
				}
			}
		case KindName:
			nd.kind, nd.field = needlePhrase, index.FieldTextFolded
			nd.phrases = namePhrases(norm, id.Value, analyze)
		default:
			continue
		}
		var key string
		switch nd.kind {
		case needleTerm:
			if nd.value == "" {
				continue
			}
			key = identifiers.Term(nd.fkind, nd.value)
		case needlePhrase:
			if len(nd.phrases) == 0 {
				continue
			}
			key = nd.field + "\x00" + strings.Join(nd.phrases[0], "\x00")
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, nd)
	}
	if len(out) == 0 {
		return nil, ErrNoIdentifiers
	}
	return out, nil
}

// namePhrases returns the token sequences a name is searched as: the
// natural order "Given ... Surname" first (from normalized, which
// normalizeName has already turned round when the name was written
// "Surname, Given ..."), then "Surname Given ..." (documents write
// "Surname, Given ..."; the tokenizer drops the comma). The surname-first
// order comes from the value as written: split at its comma when it has one
// (as normalizeName splits it), otherwise its last word moved to the front.
// An empty normalized is computed from value.
func namePhrases(normalized, value string, analyze func(string) []string) [][]string {
	if normalized == "" {
		normalized, _ = normalizeName(value)
	}
	natural := analyze(normalized)
	if len(natural) == 0 {
		return nil
	}
	out := [][]string{natural}
	if len(natural) < 2 {
		return out
	}
	var first []string
	if before, after, ok := strings.Cut(value, ","); ok && !strings.Contains(after, ",") {
		b, a := analyze(before), analyze(after)
		if len(b) > 0 && len(a) > 0 {
			first = append(b, a...)
		}
	}
	if first == nil {
		first = append([]string{natural[len(natural)-1]}, natural[:len(natural)-1]...)
	}
	if !slices.Equal(first, natural) {
		out = append(out, first)
	}
	return out
}

// buildQuery is the disjunction of every needle, restricted to dataTypes.
func buildQuery(needles []needle, dataTypes []string) query.Query {
	var qs []query.Query
	for _, nd := range needles {
		switch nd.kind {
		case needleTerm:
			tq := query.NewTermQuery(identifiers.Term(nd.fkind, nd.value))
			tq.SetField(index.FieldIdentifiers)
			qs = append(qs, tq)
		case needlePhrase:
			for _, p := range nd.phrases {
				if len(p) == 1 {
					tq := query.NewTermQuery(p[0])
					tq.SetField(nd.field)
					qs = append(qs, tq)
					continue
				}
				qs = append(qs, query.NewPhraseQuery(p, nd.field))
			}
		}
	}
	var q query.Query = query.NewDisjunctionQuery(qs)
	if len(dataTypes) > 0 {
		var dts []query.Query
		for _, dt := range dataTypes {
			tq := query.NewTermQuery(dt)
			tq.SetField(index.FieldDataType)
			dts = append(dts, tq)
		}
		q = query.NewConjunctionQuery([]query.Query{q, query.NewDisjunctionQuery(dts)})
	}
	return q
}

// describe fills h for one match. It reports false when no occurrence of
// any identifier could be located in the stored text.
func describe(ctx context.Context, snap *index.Snapshot, st *store.Store, needles []needle, q Query, m index.Match, h *Hit) (bool, error) {
	d, err := snap.Get(m.ID)
	if err != nil {
		return false, fmt.Errorf("search: read hit: %w", err)
	}
	*h = Hit{
		IndexID: m.ID, Source: d.Source, EntityID: d.EntityID, DataType: d.DataType, DocumentID: d.DocumentID,
		Filename: d.Filename, MIMEType: d.MIMEType, FileSize: d.FileSize, OriginalURL: d.OriginalURL,
		ExtractContent: d.ExtractContent, SHA256: d.SHA256, Status: d.Status,
	}
	counts := make([]int, len(needles))
	var spans []span // rune offsets

	// Identifier terms: locate every occurrence in the stored text.
	hasTerms := false
	for _, nd := range needles {
		hasTerms = hasTerms || nd.kind == needleTerm
	}
	if hasTerms {
		for _, f := range identifiers.Find(d.Text, q.IDs) {
			for i, nd := range needles {
				if nd.kind == needleTerm && nd.fkind == f.Kind && nd.value == f.Value {
					counts[i]++
					spans = append(spans, span{start: f.Offset, end: f.Offset + f.Length})
				}
			}
		}
	}
	// Phrases: occurrences from the term locations (byte offsets).
	var byteSpans []span
	for i, nd := range needles {
		if nd.kind != needlePhrase {
			continue
		}
		tlm := m.Locations[nd.field]
		if tlm == nil {
			continue
		}
		for _, p := range nd.phrases {
			occ := phraseOccurrences(tlm, p)
			counts[i] += len(occ)
			byteSpans = append(byteSpans, occ...)
		}
	}
	if len(byteSpans) > 0 {
		spans = append(spans, bytesToRunes(d.Text, byteSpans)...)
	}
	for i, nd := range needles {
		if counts[i] == 0 {
			continue
		}
		h.Matched = append(h.Matched, Matched{Kind: nd.id.Kind, Pattern: nd.id.Pattern, Value: nd.id.Value, Count: counts[i]})
		h.Count += counts[i]
	}
	if q.MaxSnippets > 0 && len(spans) > 0 {
		h.Snippets = makeSnippets(d.Text, spans, d.Segments, q.MaxSnippets)
	}
	if st != nil {
		meta, err := entityProps(ctx, st, d.Source, d.EntityID)
		if err != nil {
			return false, err
		}
		h.Metadata = meta.Metadata
	}
	return h.Count > 0, nil
}

// phraseOccurrences returns the byte spans of every occurrence of the token
// sequence p in the term locations of one field.
func phraseOccurrences(tlm bsearch.TermLocationMap, p []string) []span {
	first := tlm[p[0]]
	if len(first) == 0 {
		return nil
	}
	type key struct {
		pos uint64
		ap  string
	}
	apKey := func(l *bsearch.Location) string {
		if len(l.ArrayPositions) == 0 {
			return ""
		}
		return fmt.Sprint(l.ArrayPositions)
	}
	rest := make([]map[key]*bsearch.Location, len(p))
	for i := 1; i < len(p); i++ {
		locs := tlm[p[i]]
		if len(locs) == 0 {
			return nil
		}
		rest[i] = make(map[key]*bsearch.Location, len(locs))
		for _, l := range locs {
			rest[i][key{l.Pos, apKey(l)}] = l
		}
	}
	var out []span
	for _, l := range first {
		end := l.End
		ok := true
		for i := 1; i < len(p); i++ {
			nl, found := rest[i][key{l.Pos + uint64(i), apKey(l)}]
			if !found {
				ok = false
				break
			}
			end = nl.End
		}
		if ok {
			out = append(out, span{start: int(l.Start), end: int(end)})
		}
	}
	return out
}

// bytesToRunes converts byte spans into text to rune spans, in one pass.
func bytesToRunes(text string, spans []span) []span {
	type pt struct {
		b   int
		ref *int
	}
	out := slices.Clone(spans)
	pts := make([]pt, 0, 2*len(out))
	for i := range out {
		pts = append(pts, pt{out[i].start, &out[i].start}, pt{out[i].end, &out[i].end})
	}
	slices.SortFunc(pts, func(a, b pt) int { return cmp.Compare(a.b, b.b) })
	pos, runes := 0, 0
	for _, p := range pts {
		b := min(max(p.b, 0), len(text))
		if b > pos {
			runes += utf8.RuneCountInString(text[pos:b])
			pos = b
		}
		*p.ref = runes
	}
	return out
}

// entity holds the properties of the current entity that a hit or a
// not-searchable row shows.
type entity struct {
	Filename    string         `json:"gdpr-document:filename"`
	OriginalURL string         `json:"gdpr-document:original-url"`
	Metadata    map[string]any `json:"gdpr-document:metadata"`
}

// entityProps reads the current entity of a source dataset; a missing or
// deleted entity gives zero properties. Numbers stay json.Number so IDs
// keep every digit.
func entityProps(ctx context.Context, st *store.Store, dataset, id string) (entity, error) {
	e, err := st.Get(ctx, dataset, id)
	if errors.Is(err, store.ErrNotFound) {
		return entity{}, nil
	}
	if err != nil {
		return entity{}, fmt.Errorf("search: read entity: %w", err)
	}
	if e.Deleted {
		return entity{}, nil
	}
	var out entity
	dec := json.NewDecoder(bytes.NewReader(e.Body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		// A property of an unexpected type: show the hit without them.
		return entity{}, nil
	}
	return out, nil
}

// notSearchable lists the ledger rows of the data types whose status is not
// ok, ordered by data type, source, entity id.
func notSearchable(ctx context.Context, st *store.Store, dataTypes []string) ([]NotSearchable, error) {
	if st == nil {
		return nil, nil
	}
	var rows []store.LedgerRow
	err := st.LedgerNotOK(ctx, dataTypes, func(r store.LedgerRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search: read ledger: %w", err)
	}
	out := make([]NotSearchable, 0, len(rows))
	for _, r := range rows {
		e, err := entityProps(ctx, st, r.Source, r.EntityID)
		if err != nil {
			return nil, err
		}
		out = append(out, NotSearchable{Source: r.Source, EntityID: r.EntityID, DataType: r.DataType,
			Filename: e.Filename, OriginalURL: e.OriginalURL, Status: r.Status, Reason: r.Reason})
	}
	slices.SortFunc(out, func(a, b NotSearchable) int {
		return cmp.Or(cmp.Compare(a.DataType, b.DataType), cmp.Compare(a.Source, b.Source), cmp.Compare(a.EntityID, b.EntityID))
	})
	return out, nil
}

// dataTypes returns the data types covered: the request's, or every data
// type in the snapshot.
func dataTypes(snap *index.Snapshot, requested []string) ([]string, error) {
	if len(requested) > 0 {
		out := slices.Clone(requested)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	fd, err := snap.Reader().FieldDict(index.FieldDataType)
	if err != nil {
		return nil, fmt.Errorf("search: data types: %w", err)
	}
	defer fd.Close()
	out := []string{}
	for {
		e, err := fd.Next()
		if err != nil {
			return nil, fmt.Errorf("search: data types: %w", err)
		}
		if e == nil {
			return out, nil
		}
		out = append(out, e.Term)
	}
}
