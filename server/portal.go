package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/delivery"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// The data subject's portal (GET /portal/{token}, .../items/{item},
// .../bundle). The token in the path is the only credential, so:
//
//   - Every failure (malformed, unknown, expired, replaced or revoked
//     token; request not delivered; access-request entity deleted or
//     gone; item of another request or unknown) gets the same 404, byte
//     for byte, and costs the client address one failure in s.portalRL
//     (keyed by clientKey: behind delivery.trusted_proxies, the
//     X-Forwarded-For client). A client over its budget gets 429 for everything,
//     valid tokens included, until its budget recovers: otherwise a
//     limited client could still tell a right guess from a wrong one.
//   - Tokens are looked up by their SHA-256 (an indexed equality query).
//     That lookup's timing can at most reveal something about the hash of
//     the guess, which does not help to find a token whose hash matches
//     (a preimage), so no constant-time comparison is needed; nothing else
//     compares the token.
//   - The token is never logged or audited: logs carry s.hashID(request),
//     the audit log the keyed request reference.
//   - Each download is audited once, not each chunk: a GET answered with
//     the whole content (200), or with a range that starts at byte 0, is
//     audited; a range starting later (a resumed or parallel download),
//     HEAD, 304, 412 and 416 are not.
//   - Responses carry no-store, no-referrer (the token is in the URL) and
//     a CSP that allows no scripts, frames or outside resources. The page
//     links relatively, so the token is only ever in the URL the subject
//     was sent (and the page's own links to itself).

// portalHeaders are set on every portal response.
var portalHeaders = [][2]string{
	{"Cache-Control", "no-store"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
	{"X-Frame-Options", "DENY"},
	{"X-Robots-Tag", "noindex, nofollow"},
}

func setPortalHeaders(h http.Header) {
	for _, kv := range portalHeaders {
		h.Set(kv[0], kv[1])
	}
}

// Fixed responses: the 404 must not differ between the ways a token can be
// wrong, and the request's language is unknown then, so they are bilingual.
var (
	portalNotFoundBody = []byte(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Not found</title></head><body>
<p>This link is not valid or has expired. Please use the latest link you were sent, or contact us for a new one.</p>
<p lang="no">Denne lenken er ugyldig eller utløpt. Bruk den siste lenken du fikk tilsendt, eller kontakt oss for en ny.</p>
</body></html>
`)
	portalTooManyBody = []byte(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Too many attempts</title></head><body>
<p>Too many invalid links were tried from your network. Please wait a minute and try again.</p>
<p lang="no">For mange ugyldige lenker er prøvd fra nettverket ditt. Vent et minutt og prøv igjen.</p>
</body></html>
`)
	portalErrorBody = []byte(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Error</title></head><body>
<p>Something went wrong on our side. Please try again later.</p>
<p lang="no">Noe gikk galt hos oss. Prøv igjen senere.</p>
</body></html>
`)
)

func writePortalFixed(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	setPortalHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func portalNotFound(w http.ResponseWriter) {
	writePortalFixed(w, http.StatusNotFound, portalNotFoundBody)
}

func portalInternalError(w http.ResponseWriter) {
	writePortalFixed(w, http.StatusInternalServerError, portalErrorBody)
}

// portalGrant is a checked token: the request it opens and the client key
// its attempt was charged to.
type portalGrant struct {
	requestID string
	expires   time.Time
	client    string
	lang      string // the request's language, or the configured default
}

// portalCheck charges the client one attempt and resolves the path's
// token. On false it has written the response (429, 404 or 500). On true
// the attempt stays charged until the handler calls s.portalRL.refund
// once everything the path names (an item, the bundle) is found too.
func (s *Server) portalCheck(w http.ResponseWriter, r *http.Request) (portalGrant, bool) {
	client := clientKey(r, s.cfg.Delivery.trustedProxies)
	if ok, wait := s.portalRL.take(client); !ok {
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		writePortalFixed(w, http.StatusTooManyRequests, portalTooManyBody)
		return portalGrant{}, false
	}
	token := r.PathValue("token")
	if !validTokenShape(token) {
		portalNotFound(w)
		return portalGrant{}, false
	}
	p, err := s.st.PortalTokenByHash(r.Context(), tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		portalNotFound(w)
		return portalGrant{}, false
	}
	if err != nil {
		s.log.Error("portal: token lookup", "err", err)
		portalInternalError(w)
		return portalGrant{}, false
	}
	if !time.Now().Before(p.ExpiresAt) {
		portalNotFound(w)
		return portalGrant{}, false
	}
	rs, err := s.st.RequestState(r.Context(), p.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		portalNotFound(w)
		return portalGrant{}, false
	}
	if err != nil {
		s.log.Error("portal: request state", "request", s.hashID(p.RequestID), "err", err)
		portalInternalError(w)
		return portalGrant{}, false
	}
	if rs.State != store.RequestDelivered {
		portalNotFound(w)
		return portalGrant{}, false
	}
	// A deleted (withdrawn) access request closes its portal at once.
	e, err := s.st.Get(r.Context(), datasetAccessRequests, p.RequestID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.Deleted) {
		portalNotFound(w)
		return portalGrant{}, false
	}
	if err != nil {
		s.log.Error("portal: access request", "request", s.hashID(p.RequestID), "err", err)
		portalInternalError(w)
		return portalGrant{}, false
	}
	if s.deliverer == nil {
		s.log.Error("portal: no delivery store", "request", s.hashID(p.RequestID))
		portalInternalError(w)
		return portalGrant{}, false
	}
	return portalGrant{requestID: p.RequestID, expires: p.ExpiresAt, client: client, lang: s.entityLanguage(e.Body)}, true
}

// validItemID reports whether s could be an item id (item ids are random
// hex; this only keeps odd input away from the lookup and headers).
func validItemID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// handlePortal serves GET /portal/{token}: the subject's delivery page in
// the request's language.
func (s *Server) handlePortal(w http.ResponseWriter, r *http.Request) {
	g, ok := s.portalCheck(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	types, sum, err := delivery.Contents(ctx, s.st, g.requestID, nil)
	if err != nil {
		s.log.Error("portal: contents", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	b, err := s.st.Bundle(ctx, g.requestID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("portal: bundle", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	s.portalRL.refund(g.client)

	words := portalWordsFor(g.lang)
	data := portalPageData{W: words, Lang: words.lang, Expires: g.expires}
	// Relative links: the page is /…/portal/TOKEN, so "TOKEN/items/ID"
	// resolves below it wherever the portal is mounted.
	base := r.PathValue("token") + "/"
	if err == nil {
		data.Bundle = &portalLink{Href: base + "bundle", Name: bundleName, Size: b.Size}
	}
	ids := make([]string, 0, len(types))
	for _, t := range types {
		ids = append(ids, t.DataType)
	}
	titles := s.dataTypeTitles(ctx, ids, g.lang)
	for _, t := range types {
		pt := portalType{Title: titles[t.DataType], Delivered: t.Delivered, FileWithheld: t.FileWithheld,
			Withheld: t.Withheld, Changed: t.Changed, Unavailable: t.Unavailable}
		for _, it := range t.Items {
			kind := words.Record
			if it.Kind == store.ItemFile {
				kind = words.File
			}
			pt.Items = append(pt.Items, portalLink{Href: base + "items/" + it.ID, Name: it.ID + ".pgp", Kind: kind, Size: it.Size})
		}
		data.Types = append(data.Types, pt)
	}
	var buf bytes.Buffer
	if err := portalPage.Execute(&buf, data); err != nil {
		s.log.Error("portal: render", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	if r.Method == http.MethodGet {
		s.audit(ctx, actorPortal, "portal.view", g.requestID, map[string]any{"items": sum.Items})
	}
	h := w.Header()
	setPortalHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// bundleName is the bundle's download name.
const bundleName = "docvet-delivery.zip"

// handlePortalItem serves GET /portal/{token}/items/{item}: one encrypted
// item of the token's request, with Range support.
func (s *Server) handlePortalItem(w http.ResponseWriter, r *http.Request) {
	g, ok := s.portalCheck(w, r)
	if !ok {
		return
	}
	id := r.PathValue("item")
	if !validItemID(id) {
		portalNotFound(w)
		return
	}
	it, err := s.st.DeliveryItem(r.Context(), g.requestID, id)
	if errors.Is(err, store.ErrNotFound) {
		portalNotFound(w) // unknown, or another request's: the same answer
		return
	}
	if err != nil {
		s.log.Error("portal: item", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	f, err := s.deliverer.Blobs().Open(it.Blob)
	if err != nil {
		s.log.Error("portal: open item", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	defer f.Close()
	s.portalRL.refund(g.client)
	s.portalServe(w, r, "application/pgp-encrypted", it.ItemID+".pgp", it.At, f, func(partial bool) {
		s.audit(r.Context(), actorPortal, "portal.item", g.requestID, map[string]any{"kind": it.Kind, "partial": partial})
	})
}

// handlePortalBundle serves GET /portal/{token}/bundle: the zip of the
// whole delivery, with Range support.
func (s *Server) handlePortalBundle(w http.ResponseWriter, r *http.Request) {
	g, ok := s.portalCheck(w, r)
	if !ok {
		return
	}
	b, err := s.st.Bundle(r.Context(), g.requestID)
	if errors.Is(err, store.ErrNotFound) {
		portalNotFound(w)
		return
	}
	if err != nil {
		s.log.Error("portal: bundle", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	f, err := s.deliverer.Blobs().Open(b.Blob)
	if err != nil {
		s.log.Error("portal: open bundle", "request", s.hashID(g.requestID), "err", err)
		portalInternalError(w)
		return
	}
	defer f.Close()
	s.portalRL.refund(g.client)
	s.portalServe(w, r, "application/zip", bundleName, b.At, f, func(partial bool) {
		s.audit(r.Context(), actorPortal, "portal.bundle", g.requestID, map[string]any{"bytes": b.Size, "partial": partial})
	})
}

// portalServe streams content as an attachment (name must be a safe
// file name) through http.ServeContent (Range, If-Range, HEAD,
// Content-Length). audit is called, before the body is sent, when the
// answer starts a download (downloadStarts); partial tells a range from
// the whole content.
func (s *Server) portalServe(w http.ResponseWriter, r *http.Request, ctype, name string, mod time.Time, content io.ReadSeeker, audit func(partial bool)) {
	h := w.Header()
	setPortalHeaders(h)
	h.Set("Content-Type", ctype)
	// name is an item id (validItemID) or bundleName: nothing to escape.
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(&keepNoStore{ResponseWriter: w, onHeader: func(code int, h http.Header) {
		if r.Method == http.MethodGet && downloadStarts(code, h, r.Header.Get("Range")) {
			audit(code == http.StatusPartialContent)
		}
	}}, r, "", mod, content)
}

// downloadStarts reports whether a portal answer of status code with
// headers h, to a request with Range header rng, delivers the start of
// the content: the whole content (200), a single range from byte 0
// (Content-Range "bytes 0-..."), or a multipart answer one of whose
// requested ranges starts at byte 0. Later ranges (resumed or parallel
// downloads fetch those) do not, so a download is audited once, not per
// chunk; 304, 412 and 416 deliver nothing.
func downloadStarts(code int, h http.Header, rng string) bool {
	switch code {
	case http.StatusOK:
		return true
	case http.StatusPartialContent:
	default:
		return false
	}
	if cr := h.Get("Content-Range"); cr != "" {
		return strings.HasPrefix(cr, "bytes 0-")
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(rng), "bytes=")
	if !ok {
		return false
	}
	for _, ra := range strings.Split(spec, ",") {
		start, _, ok := strings.Cut(strings.TrimSpace(ra), "-")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64); err == nil && n == 0 {
			return true
		}
	}
	return false
}

// keepNoStore puts Cache-Control back on ServeContent's error responses
// (416, 412), which delete it, and lets the caller see the status before
// the body (onHeader). ReadFrom keeps the sendfile path.
type keepNoStore struct {
	http.ResponseWriter
	onHeader    func(code int, h http.Header)
	wroteHeader bool
}

func (k *keepNoStore) WriteHeader(code int) {
	if !k.wroteHeader {
		k.wroteHeader = true
		k.Header().Set("Cache-Control", "no-store")
		if k.onHeader != nil {
			k.onHeader(code, k.Header())
		}
	}
	k.ResponseWriter.WriteHeader(code)
}

// Write covers a body written without WriteHeader (an implicit 200).
func (k *keepNoStore) Write(p []byte) (int, error) {
	if !k.wroteHeader {
		k.WriteHeader(http.StatusOK)
	}
	return k.ResponseWriter.Write(p)
}

func (k *keepNoStore) ReadFrom(r io.Reader) (int64, error) {
	if !k.wroteHeader {
		k.WriteHeader(http.StatusOK)
	}
	return io.Copy(k.ResponseWriter, r)
}

func (k *keepNoStore) Unwrap() http.ResponseWriter { return k.ResponseWriter }

// entityLanguage is the language of an access request entity's body, or
// the configured default when it gives none or does not parse.
func (s *Server) entityLanguage(body []byte) string {
	def := s.cfg.Notifications.DefaultLanguage
	var ar search.AccessRequest
	if json.Unmarshal(body, &ar) != nil {
		return def
	}
	return ar.Language(def)
}

// portalWords are the portal page's texts in one language.
type portalWords struct {
	lang                                  string
	Title, Intro, Expires, BundleTitle    string
	BundleText, HowTitle, How, Withheld   string
	DataType, Delivered, FileWithheld     string
	WithheldN, Changed, Unavailable       string
	Items, Item, Kind, Size, Record, File string
	None, NothingAtAll                    string
}

var portalEN = portalWords{
	lang:        "en",
	Title:       "Your personal data",
	Intro:       "These are the documents we found about you, encrypted with your own OpenPGP key: only your private key can open them. This page's address is your personal link; do not share it.",
	Expires:     "This link works until",
	BundleTitle: "Everything in one download",
	BundleText:  "The archive holds every file below, one folder per data type, with an overview page.",
	HowTitle:    "How to open the files",
	How:         "Each file is encrypted for your OpenPGP key. The easiest way is docvet, which decrypts a file or the whole archive at once and restores the original file names: docvet decrypt --key your-private-key.asc docvet-delivery.zip -o folder. Or decrypt one file with GnuPG, naming the output yourself: gpg --output NAME --decrypt ITEM.pgp. Every document comes as a description (its metadata and text, a .json file once decrypted) and, where we could share it, the original file.",
	Withheld:    "Withheld documents were found but are not delivered, for example because they also concern other people; documents that changed after review were not delivered, as they were not reviewed in their current form.",
	DataType:    "Data type", Delivered: "Delivered", FileWithheld: "of which without the file",
	WithheldN: "Withheld", Changed: "Changed since review (not delivered)", Unavailable: "No longer available (not delivered)",
	Items: "Encrypted files", Item: "File", Kind: "Content", Size: "Size",
	Record: "description and text", File: "original file",
	None: "Nothing was delivered for this data type.", NothingAtAll: "We found no documents about you to deliver.",
}

var portalNO = portalWords{
	lang:        "no",
	Title:       "Dine personopplysninger",
	Intro:       "Dette er dokumentene vi fant om deg, kryptert med din egen OpenPGP-nøkkel: bare din private nøkkel kan åpne dem. Adressen til denne siden er din personlige lenke; ikke del den.",
	Expires:     "Lenken virker til",
	BundleTitle: "Alt i én nedlasting",
	BundleText:  "Arkivet inneholder alle filene nedenfor, én mappe per datatype, med en oversiktsside.",
	HowTitle:    "Slik åpner du filene",
	How:         "Hver fil er kryptert for din OpenPGP-nøkkel. Enklest er docvet, som dekrypterer en fil eller hele arkivet på en gang og gjenoppretter de opprinnelige filnavnene: docvet decrypt --key din-private-nokkel.asc docvet-delivery.zip -o mappe. Eller dekrypter én fil med GnuPG og velg navnet selv: gpg --output NAVN --decrypt ELEMENT.pgp. Hvert dokument leveres som en beskrivelse (metadata og tekst, en .json-fil når den er dekryptert) og, der vi kunne dele den, originalfilen.",
	Withheld:    "Tilbakeholdte dokumenter ble funnet, men leveres ikke, for eksempel fordi de også gjelder andre personer; dokumenter som ble endret etter gjennomgangen ble ikke levert, siden de ikke er gjennomgått slik de er nå.",
	DataType:    "Datatype", Delivered: "Levert", FileWithheld: "herav uten fil",
	WithheldN: "Tilbakeholdt", Changed: "Endret etter gjennomgang (ikke levert)", Unavailable: "Ikke lenger tilgjengelig (ikke levert)",
	Items: "Krypterte filer", Item: "Fil", Kind: "Innhold", Size: "Størrelse",
	Record: "beskrivelse og tekst", File: "originalfil",
	None: "Ingenting ble levert for denne datatypen.", NothingAtAll: "Vi fant ingen dokumenter om deg å levere.",
}

// portalWordsFor picks the texts for a language tag ("no", "nb-NO", ...);
// English for anything else.
func portalWordsFor(lang string) portalWords {
	if delivery.PageLanguage(lang) == "no" {
		return portalNO
	}
	return portalEN
}

type portalLink struct {
	Href, Name, Kind string
	Size             int64
}

type portalType struct {
	Title                                                   string
	Delivered, FileWithheld, Withheld, Changed, Unavailable int
	Items                                                   []portalLink
}

type portalPageData struct {
	W       portalWords
	Lang    string
	Expires time.Time
	Bundle  *portalLink
	Types   []portalType
}

var portalPage = template.Must(template.New("portal").Funcs(template.FuncMap{
	"size": delivery.FormatSize,
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.W.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
td.n{text-align:right}code{background:#f4f4f4;padding:0 .2rem}</style></head><body>
<h1>{{.W.Title}}</h1>
<p>{{.W.Intro}}</p>
<p>{{.W.Expires}} {{date .Expires}}.</p>
{{with .Bundle}}<h2>{{$.W.BundleTitle}}</h2>
<p><a href="{{.Href}}" rel="noreferrer" download>{{.Name}}</a> ({{size .Size}}). {{$.W.BundleText}}</p>
{{end}}<h2>{{.W.HowTitle}}</h2>
<p>{{.W.How}}</p>
<p>{{.W.Withheld}}</p>
{{if .Types}}<table>
<tr><th>{{.W.DataType}}</th><th>{{.W.Delivered}}</th><th>{{.W.FileWithheld}}</th><th>{{.W.WithheldN}}</th><th>{{.W.Changed}}</th><th>{{.W.Unavailable}}</th></tr>
{{range .Types}}<tr><td>{{.Title}}</td><td class="n">{{.Delivered}}</td><td class="n">{{.FileWithheld}}</td><td class="n">{{.Withheld}}</td><td class="n">{{.Changed}}</td><td class="n">{{.Unavailable}}</td></tr>
{{end}}</table>
{{range .Types}}<h2>{{.Title}}</h2>
{{if .Items}}<table>
<tr><th>{{$.W.Item}}</th><th>{{$.W.Kind}}</th><th>{{$.W.Size}}</th></tr>
{{range .Items}}<tr><td><a href="{{.Href}}" rel="noreferrer" download>{{.Name}}</a></td><td>{{.Kind}}</td><td class="n">{{size .Size}}</td></tr>
{{end}}</table>{{else}}<p>{{$.W.None}}</p>{{end}}
{{end}}{{else}}<p>{{.W.NothingAtAll}}</p>
{{end}}</body></html>
`))
