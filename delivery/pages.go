package delivery

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// words are the bundle pages' texts in one language.
type words struct {
	lang                                  string
	Title, Intro, HowTitle                string
	How                                   []string
	DataType, Delivered, FileWithheld     string
	Withheld, Changed, Unavailable        string
	Items, Item, Kind, Size, Record, File string
	Back, None, Generated                 string
}

var wordsEN = words{
	lang:     "en",
	Title:    "Your personal data",
	Intro:    "This archive holds the documents we found about you, encrypted with your own OpenPGP key. Only your private key can open them.",
	HowTitle: "How to open the files",
	How: []string{
		"Each data type has a folder. Every document is delivered as a description (metadata and text, a .json file once decrypted) and, where we could share it, the original file.",
		"Decrypt everything at once, with the original file names, with: docvet decrypt --key your-private-key.asc this-archive.zip -o folder; or one file with GnuPG: gpg --output NAME --decrypt ITEM.pgp",
		"Withheld documents were found but are not delivered, for example because they also concern other people; documents that changed after review were not delivered as they were not reviewed in their current form.",
	},
	DataType: "Data type", Delivered: "Delivered", FileWithheld: "of which without the file",
	Withheld: "Withheld", Changed: "Changed since review (not delivered)", Unavailable: "No longer available (not delivered)",
	Items: "Encrypted items", Item: "Item", Kind: "Content", Size: "Size",
	Record: "description and text", File: "original file",
	Back: "Back to the overview", None: "Nothing was delivered for this data type.", Generated: "Generated",
}

var wordsNO = words{
	lang:     "no",
	Title:    "Dine personopplysninger",
	Intro:    "Dette arkivet inneholder dokumentene vi fant om deg, kryptert med din egen OpenPGP-nøkkel. Bare din private nøkkel kan åpne dem.",
	HowTitle: "Slik åpner du filene",
	How: []string{
		"Hver datatype har en mappe. Hvert dokument leveres som en beskrivelse (metadata og tekst, en .json-fil når den er dekryptert) og, der vi kunne dele den, originalfilen.",
		"Dekrypter alt på en gang, med de opprinnelige filnavnene, med: docvet decrypt --key din-private-nokkel.asc dette-arkivet.zip -o mappe; eller én fil med GnuPG: gpg --output NAVN --decrypt ELEMENT.pgp",
		"Tilbakeholdte dokumenter ble funnet, men leveres ikke, for eksempel fordi de også gjelder andre personer; dokumenter som ble endret etter gjennomgangen ble ikke levert, siden de ikke er gjennomgått slik de er nå.",
	},
	DataType: "Datatype", Delivered: "Levert", FileWithheld: "herav uten fil",
	Withheld: "Tilbakeholdt", Changed: "Endret etter gjennomgang (ikke levert)", Unavailable: "Ikke lenger tilgjengelig (ikke levert)",
	Items: "Krypterte elementer", Item: "Element", Kind: "Innhold", Size: "Størrelse",
	Record: "beskrivelse og tekst", File: "originalfil",
	Back: "Tilbake til oversikten", None: "Ingenting ble levert for denne datatypen.", Generated: "Laget",
}

// PageLanguage is the language the subject's pages are written in for a
// request's language tag: "no" for Norwegian ("no", "nb-NO", "nn", ...),
// else "en".
func PageLanguage(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	switch l {
	case "no", "nb", "nn", "nob", "nno":
		return "no"
	}
	return "en"
}

func wordsFor(lang string) words {
	if PageLanguage(lang) == "no" {
		return wordsNO
	}
	return wordsEN
}

// FormatSize writes a byte count for people: 512 B, 3.2 KB, 1.5 MB, 2.0 GB.
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type pageData struct {
	W     words
	Lang  string
	Types []*TypeDelivery
	Type  *TypeDelivery
	At    time.Time
}

var funcs = template.FuncMap{
	"size": FormatSize,
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}

const pageHead = `<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.W.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
td.n{text-align:right}</style></head><body>`

var topPage = template.Must(template.New("top").Funcs(funcs).Parse(pageHead + `
<h1>{{.W.Title}}</h1>
<p>{{.W.Intro}}</p>
<h2>{{.W.HowTitle}}</h2>
<ul>{{range .W.How}}<li>{{.}}</li>{{end}}</ul>
<table>
<tr><th>{{.W.DataType}}</th><th>{{.W.Delivered}}</th><th>{{.W.FileWithheld}}</th><th>{{.W.Withheld}}</th><th>{{.W.Changed}}</th><th>{{.W.Unavailable}}</th></tr>
{{range .Types}}<tr><td><a href="{{.Folder}}/index.html">{{.Title}}</a></td><td class="n">{{.Delivered}}</td><td class="n">{{.FileWithheld}}</td><td class="n">{{.Withheld}}</td><td class="n">{{.Changed}}</td><td class="n">{{.Unavailable}}</td></tr>
{{end}}</table>
<p>{{.W.Generated}}: {{date .At}}</p>
</body></html>
`))

var typePage = template.Must(template.New("type").Funcs(funcs).Parse(pageHead + `
<h1>{{.Type.Title}}</h1>
<p><a href="../index.html">{{.W.Back}}</a></p>
<table>
<tr><th>{{.W.Delivered}}</th><th>{{.W.FileWithheld}}</th><th>{{.W.Withheld}}</th><th>{{.W.Changed}}</th><th>{{.W.Unavailable}}</th></tr>
<tr><td class="n">{{.Type.Delivered}}</td><td class="n">{{.Type.FileWithheld}}</td><td class="n">{{.Type.Withheld}}</td><td class="n">{{.Type.Changed}}</td><td class="n">{{.Type.Unavailable}}</td></tr>
</table>
<h2>{{.W.Items}}</h2>
{{if .Type.Items}}<table>
<tr><th>{{.W.Item}}</th><th>{{.W.Kind}}</th><th>{{.W.Size}}</th></tr>
{{range .Type.Items}}<tr><td><a href="{{.ID}}.pgp">{{.ID}}.pgp</a></td><td>{{if eq .Kind "file"}}{{$.W.File}}{{else}}{{$.W.Record}}{{end}}</td><td class="n">{{size .Size}}</td></tr>
{{end}}</table>{{else}}<p>{{.W.None}}</p>{{end}}
</body></html>
`))
