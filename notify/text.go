package notify

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText derives the text/plain alternative from an HTML body: tags are
// dropped, entities decoded, whitespace collapsed as a browser would, <br> and
// block elements become line breaks, and links keep their target as
// "text (url)" so the plain-text reader can still follow them.
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b, link strings.Builder
	var href string
	inLink := false
	skip := 0
	emit := func(str string) {
		if inLink {
			link.WriteString(str)
		} else {
			b.WriteString(str)
		}
	}
	closeLink := func() {
		if !inLink {
			return
		}
		inLink = false
		text := strings.TrimSpace(collapseSpace(link.String()))
		link.Reset()
		b.WriteString(text)
		switch {
		case href == "" || href == text:
		case text == "":
			b.WriteString(href)
		default:
			b.WriteString(" (" + href + ")")
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			closeLink()
			return tidyLines(b.String())
		case html.TextToken:
			if skip == 0 {
				emit(collapseSpace(string(z.Text())))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch a := atom.Lookup(name); a {
			case atom.Br:
				emit("\n")
			case atom.A:
				closeLink()
				href = ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = strings.TrimSpace(string(v))
					}
				}
				inLink = true
			case atom.Script, atom.Style, atom.Head, atom.Title:
				if tt == html.StartTagToken {
					skip++
				}
			default:
				if isBlock(a) {
					emit("\n")
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); a {
			case atom.A:
				closeLink()
			case atom.Script, atom.Style, atom.Head, atom.Title:
				if skip > 0 {
					skip--
				}
			default:
				if isBlock(a) {
					emit("\n")
				}
			}
		}
	}
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Tr, atom.Table, atom.H1, atom.H2,
		atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Pre, atom.Hr:
		return true
	}
	return false
}

// collapseSpace folds HTML whitespace runs to one space.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	sp := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
			if !sp {
				b.WriteByte(' ')
			}
			sp = true
			continue
		}
		sp = false
		b.WriteRune(r)
	}
	return b.String()
}

// tidyLines trims each line and keeps at most one empty line in a row.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
