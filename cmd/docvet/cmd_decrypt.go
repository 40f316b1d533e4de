package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docvet/docvet/encrypt"
)

// Limits of docvet decrypt. Generous for a real delivery, tight enough
// that a forged bundle or a compressed message cannot fill the disk.
const (
	// maxBundleEntries caps the entries of one bundle (one per delivered
	// item and its metadata, plus the pages).
	maxBundleEntries = 200_000
	// maxOutputBytes caps what one run writes in total.
	maxOutputBytes = 256 << 30
	// maxExpansion caps an item's decrypted size relative to its
	// encrypted size (docvet does not compress; GnuPG's default
	// compression rarely exceeds 10:1 on documents, zlib's maximum is
	// about 1000:1), plus expansionSlack.
	maxExpansion   = 100
	expansionSlack = 64 << 20
	// maxPageBytes caps one .html page copied from a bundle.
	maxPageBytes = 64 << 20
	// maxPassphraseBytes caps --passphrase-file.
	maxPassphraseBytes = 64 << 10
)

var zipMagic = []byte("PK\x03\x04")

// runDecrypt implements "docvet decrypt --key private.asc
// [--passphrase-file F] -o DIR ITEM|BUNDLE...": it decrypts items (*.pgp
// files) and delivery bundles (zip) with the subject's private key into
// DIR, printing one line per file written. Failed items are reported on
// stderr and the others still decrypted; the exit status is non-zero if
// any failed.
func runDecrypt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("decrypt", flag.ContinueOnError)
	flags.SetOutput(stderr)
	keyFile := flags.String("key", "", "private key file (armored or binary, as gpg --export-secret-keys writes)")
	passFile := flags.String("passphrase-file", "", "file holding the private key's passphrase (first line)")
	outDir := flags.String("o", "", "directory to write the decrypted files to (created if missing)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: docvet decrypt --key private.asc [--passphrase-file F] -o DIR ITEM|BUNDLE...")
		fmt.Fprintln(stderr, "ITEM is one encrypted file (*.pgp), BUNDLE a zip downloaded from the portal.")
		flags.PrintDefaults()
	}
	// Flags may come after the inputs ("decrypt a.pgp b.zip -o out").
	var inputs []string
	for rest := args; ; {
		if err := flags.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		rest = flags.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			inputs = append(inputs, rest[1:]...)
			break
		}
		inputs = append(inputs, rest[0])
		rest = rest[1:]
	}
	switch {
	case *keyFile == "":
		flags.Usage()
		return fmt.Errorf("%w: decrypt: --key is required", errUsage)
	case *outDir == "":
		flags.Usage()
		return fmt.Errorf("%w: decrypt: -o DIR is required", errUsage)
	case len(inputs) == 0:
		flags.Usage()
		return fmt.Errorf("%w: decrypt: no items or bundles given", errUsage)
	}

	keyData, err := readLimited(*keyFile, 1<<20)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	var passphrase []byte
	if *passFile != "" {
		p, err := readLimited(*passFile, maxPassphraseBytes)
		if err != nil {
			return fmt.Errorf("read passphrase: %w", err)
		}
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			p = p[:i]
		}
		passphrase = bytes.TrimSuffix(p, []byte("\r"))
	}
	id, err := encrypt.NewIdentity(keyData, passphrase)
	clear(keyData)
	clear(passphrase)
	if err != nil {
		if errors.Is(err, encrypt.ErrPassphrase) && *passFile == "" {
			return fmt.Errorf("%w (use --passphrase-file)", err)
		}
		return err
	}
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	root, err := os.OpenRoot(*outDir)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	defer root.Close()

	d := &decrypter{ctx: ctx, id: id, root: root, dir: *outDir, stdout: stdout, stderr: stderr}
	for _, in := range inputs {
		fi, err := os.Stat(in)
		switch {
		case err == nil && fi.Mode().IsRegular():
			d.budget += min(fi.Size(), maxOutputBytes)*maxExpansion + expansionSlack
		default: // a pipe or device: its size is unknown (item() caps it alone)
			d.budget += maxOutputBytes
		}
	}
	d.budget = min(d.budget, maxOutputBytes)
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.input(in)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.failed > 0 {
		return fmt.Errorf("decrypt: %d of %d items failed (see above)", d.failed, d.items)
	}
	return nil
}

func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// decrypter writes the decrypted files of one run under root.
type decrypter struct {
	ctx            context.Context
	id             *encrypt.Identity
	root           *os.Root
	dir            string
	stdout, stderr io.Writer
	items, failed  int
	written        int64 // bytes written in this run
	// budget caps what this run may write: maxExpansion times the input
	// files' real sizes plus slack per input. Claimed sizes inside a zip
	// are the forger's to choose, and a forged zip may point many entries
	// at the same bytes; the inputs' sizes on disk are not.
	budget int64
	// bundleSize is the size on disk of the bundle being read (0: none).
	bundleSize int64
}

func (d *decrypter) fail(what string, err error) {
	d.failed++
	fmt.Fprintf(d.stderr, "docvet decrypt: %s: %v\n", what, err)
}

// input decrypts one command-line argument, an item or a bundle (told
// apart by content, not by name).
func (d *decrypter) input(name string) {
	f, err := os.Open(name)
	if err != nil {
		d.items++
		d.fail(name, err)
		return
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n == len(magic) && bytes.Equal(magic[:], zipMagic) {
		d.bundle(name, f)
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		d.items++
		d.fail(name, err)
		return
	}
	d.items++
	size := int64(0)
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	if err := d.item(f, size, ".", d.items); err != nil {
		d.fail(name, err)
	}
}

// bundle decrypts every .pgp entry of a delivery bundle into
// DIR/<folder>/<literal name> and copies its .html pages.
func (d *decrypter) bundle(name string, f *os.File) {
	st, err := f.Stat()
	if err != nil {
		d.items++
		d.fail(name, err)
		return
	}
	d.bundleSize = st.Size()
	defer func() { d.bundleSize = 0 }()
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		d.items++
		d.fail(name, fmt.Errorf("not a readable zip: %w", err))
		return
	}
	if len(zr.File) > maxBundleEntries {
		d.items++
		d.fail(name, fmt.Errorf("%d entries, at most %d read", len(zr.File), maxBundleEntries))
		return
	}
	for _, zf := range zr.File {
		if d.ctx.Err() != nil {
			return
		}
		dir, base, ok := bundlePath(zf.Name)
		what := fmt.Sprintf("%s: %q", name, zf.Name)
		switch {
		case zf.FileInfo().IsDir():
			if dir != "." {
				if err := d.mkdir(dir); err != nil {
					d.items++
					d.fail(what, err)
				}
			}
			continue
		case !ok:
			fmt.Fprintf(d.stderr, "docvet decrypt: %s: skipped (not part of a delivery bundle)\n", what)
			continue
		}
		d.items++
		var err error
		switch ext := strings.ToLower(path.Ext(base)); ext {
		case ".pgp", ".gpg", ".asc":
			err = d.zipItem(zf, dir)
		case ".html", ".htm":
			err = d.page(zf, dir, base)
		default:
			d.items--
			fmt.Fprintf(d.stderr, "docvet decrypt: %s: skipped (unknown kind of entry)\n", what)
			continue
		}
		if err != nil {
			d.fail(what, err)
		}
	}
}

func (d *decrypter) zipItem(zf *zip.File, dir string) error {
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	// The entry's claimed size is bounded by the bundle's real size: the
	// limit derived from it cannot exceed what the bytes allow.
	enc := int64(min(zf.CompressedSize64, 1<<62))
	if d.bundleSize > 0 && enc > d.bundleSize {
		enc = d.bundleSize
	}
	return d.item(rc, enc, dir, d.items)
}

// page copies an .html entry of a bundle as it is.
func (d *decrypter) page(zf *zip.File, dir, base string) error {
	if err := d.mkdir(dir); err != nil {
		return err
	}
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return d.write(dir, base, time.Time{}, io.LimitReader(rc, maxPageBytes+1), maxPageBytes)
}

// item decrypts one message into dir (relative to the root), named by its
// literal file name, sanitised.
func (d *decrypter) item(r io.Reader, encSize int64, dir string, n int) error {
	if err := d.mkdir(dir); err != nil {
		return err
	}
	pt, err := d.id.Decrypt(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return err
	}
	name := safeName(pt.Filename)
	if name == "" {
		name = fmt.Sprintf("item-%d", n)
	}
	limit := encSize*maxExpansion + expansionSlack
	if encSize <= 0 || encSize > (maxOutputBytes-expansionSlack)/maxExpansion {
		limit = maxOutputBytes
	}
	return d.write(dir, name, pt.ModTime, pt.Body, limit)
}

// write streams body to a temporary file in dir and, once body ended
// cleanly (for a message: its integrity checked out), links it under the
// first free name among name, "name (2)", "name (3)"... It never
// overwrites, and removes the temporary file on any error.
func (d *decrypter) write(dir, name string, mod time.Time, body io.Reader, limit int64) (err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path.Join(dir, ".docvet-decrypt-"+hex.EncodeToString(rnd[:])+".part")
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		d.root.Remove(tmp)
	}()
	remaining := min(limit, maxOutputBytes-d.written, d.budget-d.written)
	n, err := io.Copy(f, &ctxReader{ctx: d.ctx, r: io.LimitReader(body, remaining+1)})
	d.written += n
	if err != nil {
		return err
	}
	if n > remaining {
		return fmt.Errorf("output larger than allowed (%d bytes; see maxExpansion and maxOutputBytes)", remaining)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	f = nil
	if !mod.IsZero() {
		d.root.Chtimes(tmp, mod, mod)
	}
	final, err := d.publish(tmp, dir, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.stdout, filepath.Join(d.dir, filepath.FromSlash(final)))
	return nil
}

// publish gives tmp its final name without replacing an existing file: a
// hard link fails if the name exists (atomic); where links are not
// supported, an existence check then a rename.
func (d *decrypter) publish(tmp, dir, name string) (string, error) {
	stem, ext := splitExt(name)
	for i := 1; i <= 10000; i++ {
		cand := name
		if i > 1 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		p := path.Join(dir, cand)
		err := d.root.Link(tmp, p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if _, serr := d.root.Lstat(p); serr == nil {
			continue
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return "", serr
		}
		if err := d.root.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("name output: %w", err)
		}
		return p, nil
	}
	return "", errors.New("too many files with the same name")
}

func (d *decrypter) mkdir(dir string) error {
	if dir == "." {
		return nil
	}
	if err := d.root.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create folder: %w", err)
	}
	return nil
}

// ctxReader stops a copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// bundlePath maps a zip entry name to a safe folder ("." for the top) and
// base name. The name is cleaned as an absolute path first ("/a/../b" is
// "/b", ".." cannot climb above the top), then each part is sanitised and
// parts left empty are dropped, so no entry leaves the output directory
// (zip slip). Entries deeper than one folder, or that sanitise to nothing,
// are not part of a bundle (ok false).
func bundlePath(name string) (dir, base string, ok bool) {
	var parts []string
	clean := path.Clean("/" + strings.ReplaceAll(name, `\`, "/"))
	for _, p := range strings.Split(clean, "/") {
		if s := safeName(p); s != "" {
			parts = append(parts, s)
		}
	}
	switch len(parts) {
	case 1:
		return ".", parts[0], true
	case 2:
		return parts[0], parts[1], true
	case 0:
		return ".", "", false
	}
	return parts[0], parts[len(parts)-1], false
}

// safeName turns an untrusted file name (a literal packet's name, a zip
// entry's part) into one safe to create in a directory: the base name only
// (after the last / or \), no control or format characters, no characters
// Windows refuses, no leading dots or spaces (no "..", no hidden files),
// no trailing dots or spaces, not a Windows device name, at most 200
// bytes keeping the extension. It returns "" when nothing is left.
func safeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		case strings.ContainsRune(`<>:"|?*`, r):
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if name == "" {
		return ""
	}
	stem, ext := splitExt(name)
	switch strings.ToUpper(strings.TrimRight(stem, " ")) {
	case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		name = "_" + name
		stem = "_" + stem
	}
	// Room for " (10000)" and the temporary name's length.
	const maxBytes = 200
	if len(name) > maxBytes {
		if len(ext) > 16 {
			stem, ext = name, ""
		}
		n := maxBytes - len(ext)
		for n > 0 && !utf8.RuneStart(stem[n]) {
			n--
		}
		name = strings.TrimRight(stem[:n], ". ") + ext
	}
	return name
}

// splitExt splits "report.final.pdf" into "report.final" and ".pdf"; a
// name without a dot after its first character has no extension.
func splitExt(name string) (stem, ext string) {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i], name[i:]
	}
	return name, ""
}
