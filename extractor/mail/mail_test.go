package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docvet/docvet/extractor/doctext"
)

func run(t testing.TB, msg string, opt doctext.Options, mime string) (*doctext.Builder, error) {
	t.Helper()
	b := doctext.NewBuilder(0)
	err := Extract(context.Background(), doctext.Input{R: strings.NewReader(msg), Size: int64(len(msg)), MIME: mime}, b, opt)
	return b, err
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestMessages(t *testing.T) {
	cases := []struct {
		name     string
		msg      string
		want     []string // substrings of the text
		notWant  []string
		warnings int
	}{
		{
			name: "encoded headers",
			msg: "From: =?iso-8859-1?q?Ola_N=F8rdmann?= <ola@example.no>\nTo: \"Kari, Nordmann\" <kari@example.no>,\n bob@example.com\n" +
				"Cc: =?koi8-r?b?8MXU0s/X?= <p@example.ru>\nSubject: =?utf-8?B?R3LDvMOfZQ==?= =?utf-8?q?_aus_M=C3=BCnchen?=\n" +
				"Date: Mon, 6 Jun 2005 22:21:22 +0200\n\nbody\n",
			want: []string{"From: Ola Nørdmann <ola@example.no>", `To: "Kari, Nordmann" <kari@example.no>, bob@example.com`,
				"Cc: Петров <p@example.ru>", "Subject: Grüße aus München", "Date: Mon, 06 Jun 2005 22:21:22 +0200", "body"},
		},
		{
			name: "raw 8-bit header",
			msg:  "From: J\xf6rg <j@example.de>\nSubject: caf\xc3\xa9\n\nx\n",
			want: []string{"From: Jörg <j@example.de>", "Subject: café"},
		},
		{
			name: "quoted-printable latin1 crlf",
			msg:  crlf("From: a@b.c\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSch=F6ne Gr=FC=\n=DFe =3D ok=ZZ\n"),
			want: []string{"Schöne Grüße = ok=ZZ"},
		},
		{
			name: "base64 html",
			msg:  "From: a@b.c\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\nPHA+SGVsbG8gPGI+d29ybGQ8L2I+PC9wPjxzY3JpcHQ+eDwvc2NyaXB0Pg==\n",
			want: []string{"Hello world"}, notWant: []string{"<p>", "script"},
		},
		{
			name: "multipart alternative and attachment",
			msg: "From: a@b.c\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n--XX\nContent-Type: multipart/alternative; boundary=YY\n\n--YY\n" +
				"Content-Type: text/plain\n\nplain text\n--YY\nContent-Type: text/html\n\n<p>html text</p>\n--YY--\n--XX\n" +
				"Content-Type: application/pdf; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.pdf?=\"\nContent-Disposition: attachment\nContent-Transfer-Encoding: base64\n\nJVBERg==\n--XX--\nepilogue\n",
			want:    []string{"plain text", "html text", "[attachment: résumé.pdf application/pdf]"},
			notWant: []string{"preamble", "epilogue", "JVBERg"},
		},
		{
			name: "missing final boundary",
			msg:  "From: a@b.c\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nfirst\n--B\nContent-Type: text/plain\n\nsecond part runs to the end\n",
			want: []string{"first", "second part runs to the end"}, warnings: 1,
		},
		{
			name: "boundary never found",
			msg:  "From: a@b.c\nContent-Type: multipart/mixed; boundary=NOPE\n\n--OTHER\nContent-Type: text/plain\n\nstill readable\n",
			want: []string{"still readable"}, warnings: 1,
		},
		{
			name: "bad base64 in text part",
			msg:  "From: a@b.c\nContent-Transfer-Encoding: base64\n\nSGVs*bG8g\nd29y*bGQ=\n",
			want: []string{"Hello world"}, warnings: 1,
		},
		{
			name: "embedded message",
			msg: "From: outer@example.com\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nsee below\n--b1\n" +
				"Content-Type: message/rfc822\n\nFrom: Inner Person <inner@example.com>\nSubject: inner subject\n\ninner body\n--b1--\n",
			want: []string{"see below", "From: Inner Person <inner@example.com>", "Subject: inner subject", "inner body"},
		},
		{
			name: "uuencode in text body",
			msg:  "From: a@b.c\n\nHere is a file:\n\nbegin 644 hello.txt\n%:&5L;&\\`\n`\nend\n\nBye now\n",
			want: []string{"Here is a file:", "[attachment: hello.txt text/plain]", "Bye now"}, notWant: []string{"begin 644"},
		},
		{
			name: "begin in prose is not uuencode",
			msg:  "From: a@b.c\n\nWe will\nbegin 2020 plans\nwith Kari Nordmann\nend\n",
			want: []string{"begin 2020 plans\nwith Kari Nordmann\nend"}, notWant: []string{"[attachment"},
		},
		{
			name: "unknown charset detected",
			msg:  "From: a@b.c\nContent-Type: text/plain; charset=fakescii\nContent-Transfer-Encoding: 8bit\n\nGr\xfc\xdfe aus M\xfcnchen\n",
			want: []string{"Grüße aus München"},
		},
		{
			name: "digest defaults to message",
			msg:  "From: a@b.c\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: x@y.z\nSubject: digest item\n\nitem body\n--d--\n",
			want: []string{"Subject: digest item", "item body"},
		},
		{
			name: "no blank line after headers",
			msg:  "From: a@b.c\nSubject: s\nthis line is body text\n",
			want: []string{"Subject: s", "this line is body text"}, warnings: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := run(t, c.msg, doctext.Options{}, "message/rfc822")
			if err != nil {
				t.Fatal(err)
			}
			got := b.Text()
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
			if len(b.Warnings()) != c.warnings {
				t.Errorf("warnings %q, want %d", b.Warnings(), c.warnings)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	msg := "From: a@b.c\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\np1\n--c\nContent-Type: text/html\n\n<p>p2</p>\n--c--\n--b\nContent-Type: image/png\n\nxx\n--b\nContent-Type: message/rfc822\n\nFrom: d@e.f\n\ninner\n--b--\n"
	b, err := run(t, msg, doctext.Options{}, "")
	if err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, s := range b.Segments() {
		locs = append(locs, s.Location)
	}
	want := "headers|part 1.1|part 1.2|attachment 1|part 3 headers|part 3"
	if strings.Join(locs, "|") != want {
		t.Errorf("locations %q, want %q", strings.Join(locs, "|"), want)
	}
}

func TestMbox(t *testing.T) {
	mbox := "From alice@example.com Mon Jun 01 04:28:28 2009\nFrom: alice@example.com\nSubject: one\n\nfirst body\n>From the start\n\n" +
		"From bob@example.com Mon Jun 01 05:28:28 2009\nFrom: bob@example.com\nSubject: two\n\nsecond body\n>>From quoted\n"
	b, err := run(t, mbox, doctext.Options{}, "application/mbox")
	if err != nil {
		t.Fatal(err)
	}
	got := b.Text()
	for _, w := range []string{"Subject: one", "first body\nFrom the start", "Subject: two", "second body\n>From quoted"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in %q", w, got)
		}
	}
	segs := b.Segments()
	if segs[0].Location != "message 1 headers" || segs[len(segs)-1].Location != "message 2 body" {
		t.Errorf("segments %+v", segs)
	}
}

type call struct {
	depth int
	in    doctext.Input
	data  string
}

// fakeRecurser records calls, extracts text/plain itself, recurses into
// message/rfc822 through Extract (as the dispatcher would) and fails other
// types with the error configured for them.
func fakeRecurser(calls *[]call, errs map[string]error, lim doctext.Limits) doctext.Recurser {
	var rec doctext.Recurser
	rec = func(ctx context.Context, in doctext.Input, depth int, b *doctext.Builder) error {
		data, _ := io.ReadAll(io.NewSectionReader(in.R, 0, in.Size))
		*calls = append(*calls, call{depth, in, string(data)})
		mt := strings.SplitN(in.MIME, ";", 2)[0]
		if err, ok := errs[mt]; ok {
			return err
		}
		switch mt {
		case "text/plain":
			return b.WriteString(string(data))
		case "message/rfc822":
			return Extract(ctx, in, b, doctext.Options{Limits: lim, Recurse: rec, Depth: depth})
		}
		return fmt.Errorf("x: %w", doctext.ErrUnsupported)
	}
	return rec
}

func attach(name, mt, body string) string {
	return "--b\nContent-Type: " + mt + "; name=\"" + name + "\"\nContent-Disposition: attachment; filename=\"" + name + "\"\n\n" + body + "\n"
}

func TestRecurse(t *testing.T) {
	msg := "From: a@b.c\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nbody text\n" +
		attach("notes.txt", "text/plain; charset=utf-8", "attached notes about Kari") +
		attach("secret.pdf", "application/pdf", "%PDF-encrypted") +
		attach("photo.png", "image/png", "PNG") +
		attach("archive.7z", "application/x-7z-compressed", "7z") +
		attach("sig.asc", "application/pgp-signature", "sig") + "--b--\n"
	var calls []call
	lim := doctext.DefaultLimits()
	opt := doctext.Options{Limits: lim, Recurse: fakeRecurser(&calls, map[string]error{
		"application/pdf": fmt.Errorf("pdf: %w", doctext.ErrEncrypted),
	}, lim), Depth: 2}
	b, err := run(t, msg, opt, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 {
		t.Fatalf("%d Recurse calls, want 4 (signature skipped)", len(calls))
	}
	if c := calls[0]; c.depth != 3 || c.in.Name != "notes.txt" || c.in.MIME != "text/plain; charset=utf-8" || c.data != "attached notes about Kari" {
		t.Errorf("call 0 = %+v", c)
	}
	if !strings.Contains(b.Text(), "attached notes about Kari") || !strings.Contains(b.Text(), "[attachment: secret.pdf application/pdf]") {
		t.Errorf("text %q", b.Text())
	}
	// Images are listed but not warned about (no OCR yet); other unreadable
	// attachments make the message partial.
	want := []string{"attachment 2 (application/pdf): encrypted", "attachment 4 (application/x-7z-compressed): unsupported format"}
	if strings.Join(b.Warnings(), "|") != strings.Join(want, "|") {
		t.Errorf("warnings %q, want %q", b.Warnings(), want)
	}
	for _, w := range b.Warnings() {
		if strings.Contains(w, "secret") || strings.Contains(w, "photo") {
			t.Errorf("warning leaks a file name: %q", w)
		}
	}
}

// TestRecurseDepth nests forwarded messages (read inline) each carrying a
// text attachment (read through Recurse) deeper than MaxAttachDepth:
// extraction stops at the limit with warnings, without failing.
func TestRecurseDepth(t *testing.T) {
	msg := "From: level0@example.com\n\ninnermost text\n"
	for i := 1; i <= 6; i++ {
		msg = fmt.Sprintf("From: level%d@example.com\nContent-Type: multipart/mixed; boundary=b%d\n\n--b%d\n\ntext %d\n"+
			"--b%d\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattachment of level %d\n"+
			"--b%d\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=fwd.eml\n\n%s\n--b%d--\n", i, i, i, i, i, i, i, msg, i)
	}
	var calls []call
	lim := doctext.Limits{MaxAttachDepth: 3}.WithDefaults()
	b, err := run(t, msg, doctext.Options{Limits: lim, Recurse: fakeRecurser(&calls, nil, lim)}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := b.Text()
	for _, w := range []string{"level6@", "level5@", "level4@", "level3@", "attachment of level 4"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %s", w)
		}
	}
	for _, w := range []string{"level2@", "attachment of level 3"} {
		if strings.Contains(got, w) {
			t.Errorf("read %q beyond the depth limit", w)
		}
	}
	var depths []int
	for _, c := range calls {
		depths = append(depths, c.depth)
	}
	if fmt.Sprint(depths) != "[1 2 3]" {
		t.Errorf("Recurse depths %v, want [1 2 3]", depths)
	}
	if len(b.Warnings()) != 2 || !strings.Contains(strings.Join(b.Warnings(), "|"), "nested deeper than 3") {
		t.Errorf("warnings %q", b.Warnings())
	}
}

func TestLimitStops(t *testing.T) {
	msg := "From: a@b.c\n\n" + strings.Repeat("lots of words ", 10000)
	b := doctext.NewBuilder(100)
	err := Extract(context.Background(), doctext.Input{R: strings.NewReader(msg), Size: int64(len(msg))}, b, doctext.Options{})
	var le *doctext.LimitError
	if !errors.As(err, &le) || b.Len() != 100 {
		t.Errorf("err %v len %d", err, b.Len())
	}
}

func TestNotMail(t *testing.T) {
	if _, err := run(t, "", doctext.Options{}, ""); !errors.Is(err, doctext.ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
	// Deep multipart nesting must not blow the stack.
	var sb strings.Builder
	sb.WriteString("From: a@b.c\nContent-Type: multipart/mixed; boundary=x0\n\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "--x%d\nContent-Type: multipart/mixed; boundary=x%d\n\n", i, i+1)
	}
	b, err := run(t, sb.String(), doctext.Options{}, "")
	if err != nil || len(b.Warnings()) == 0 {
		t.Errorf("deep multipart: %v %q", err, b.Warnings())
	}
}

// TestBroken: every broken/*.eml yields text and no error.
func TestBroken(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "broken", "*.eml"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b := doctext.NewBuilder(0)
		err = Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data))}, b, doctext.Options{})
		if err != nil || b.Len() == 0 {
			t.Errorf("%s: err=%v len=%d", filepath.Base(f), err, b.Len())
		}
		t.Logf("%-40s chars=%-5d warnings=%q", filepath.Base(f), b.Len(), b.Warnings())
	}
}

func FuzzMail(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed/*")
	for _, s := range seeds {
		if d, err := os.ReadFile(s); err == nil {
			f.Add(d, strings.HasSuffix(s, ".mbox"))
		}
	}
	f.Add([]byte("From: a\n\nx"), false)
	f.Fuzz(func(t *testing.T, data []byte, mbox bool) {
		mt := "message/rfc822"
		if mbox {
			mt = "application/mbox"
		}
		var calls []call
		lim := doctext.Limits{MaxAttachDepth: 3}.WithDefaults()
		b := doctext.NewBuilder(1 << 20)
		err := Extract(context.Background(), doctext.Input{R: bytes.NewReader(data), Size: int64(len(data)), MIME: mt}, b,
			doctext.Options{Limits: lim, Recurse: fakeRecurser(&calls, nil, lim)})
		var le *doctext.LimitError
		if err != nil && !errors.Is(err, doctext.ErrMalformed) && !errors.As(err, &le) {
			t.Fatalf("Extract: %v", err)
		}
		for _, c := range calls {
			if c.depth > lim.MaxAttachDepth {
				t.Fatalf("recursed to depth %d", c.depth)
			}
		}
	})
}

func BenchmarkExtractCorpus(b *testing.B) { benchCorpus(b, "eml", ".eml", ".mbox") }
