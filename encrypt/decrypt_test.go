package encrypt

import (
	"bytes"
	"crypto/aes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestDecryptWrongKey(t *testing.T) {
	t.Parallel()
	msg := encryptBytes(t, edKeyPair(t).recipient(t), "a.txt", time.Time{}, []byte("secret"), 0)
	other := newKeyPair(t, ed25519Entity(t))
	if _, err := other.id.Decrypt(bytes.NewReader(msg)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
}

func TestNewIdentity(t *testing.T) {
	t.Parallel()
	e := ed25519Entity(t)
	msg := encryptBytes(t, newKeyPair(t, e).recipient(t), "a.txt", time.Time{}, []byte("secret"), 0)

	// Protect a copy of the key with a passphrase.
	locked := ed25519Entity(t)
	if err := locked.EncryptPrivateKeys([]byte("correct horse"), nil); err != nil {
		t.Fatal(err)
	}
	var lockedBin bytes.Buffer
	if err := locked.SerializePrivateWithoutSigning(&lockedBin, nil); err != nil {
		t.Fatal(err)
	}
	var plainBin bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&plainBin, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		key        []byte
		passphrase string
		want       error
	}{
		{"armored", []byte(armorPrivate(t, e)), "", nil},
		{"binary", plainBin.Bytes(), "", nil},
		{"unprotected key, passphrase given anyway", []byte(armorPrivate(t, e)), "x", nil},
		{"protected, right passphrase", lockedBin.Bytes(), "correct horse", nil},
		{"protected, no passphrase", lockedBin.Bytes(), "", ErrPassphrase},
		{"protected, wrong passphrase", lockedBin.Bytes(), "wrong horse", ErrPassphrase},
		{"public key only", []byte(armorPublic(t, e)), "", ErrPrivateKeyParse},
		{"garbage", []byte("not a key"), "", ErrPrivateKeyParse},
		{"empty", nil, "", ErrPrivateKeyParse},
		{"too large", bytes.Repeat([]byte{0x99}, maxPrivateKeyBytes+1), "", ErrPrivateKeyParse},
	}
	for _, tt := range tests {
		id, err := NewIdentity(tt.key, []byte(tt.passphrase))
		if tt.want != nil {
			if !errors.Is(err, tt.want) || id != nil {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.passphrase) && tt.passphrase != "" {
				t.Errorf("%s: error echoes the passphrase", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// The unlocked key decrypts.
	id, err := NewIdentity([]byte(armorPrivate(t, e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := decryptBytes(id, msg); err != nil || string(got) != "secret" {
		t.Fatalf("decrypt: %q %v", got, err)
	}
	// And a message to the protected key decrypts after unlocking.
	lockedID, err := NewIdentity(lockedBin.Bytes(), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecipient(armorPublic(t, locked), now, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := decryptBytes(lockedID, encryptBytes(t, r, "b", time.Time{}, []byte("locked"), 0)); err != nil || string(got) != "locked" {
		t.Fatalf("decrypt with unlocked key: %q %v", got, err)
	}
}

// TestDecryptTampered: any change to the message is refused, at the start
// or, for the content, at the end of Body (after some was read).
func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	data := randomBytes(t, 200000)
	msg := encryptBytes(t, kp.recipient(t), "a.bin", time.Time{}, data, 0)
	pkeskLen := 2 + int(msg[1]) // new-format, one-octet length
	flip := func(i int) []byte {
		m := bytes.Clone(msg)
		m[i] ^= 0x01
		return m
	}
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"middle of the content", flip(len(msg) / 2), ErrIntegrity},
		{"last byte (MDC)", flip(len(msg) - 1), ErrIntegrity},
		{"first content block", flip(pkeskLen + 2 + 40), ErrIntegrity},
		{"prefix quick check", flip(pkeskLen + 2 + 15), ErrIntegrity},
		{"session key packet's encrypted key", flip(pkeskLen - 3), ErrIntegrity},
		{"session key packet's key id", flip(4), ErrWrongKey},
		{"truncated in the middle", msg[:len(msg)/2], ErrIntegrity},
		{"truncated by one byte", msg[:len(msg)-1], ErrIntegrity},
		{"only the session key packet", msg[:pkeskLen], ErrNotEncrypted},
	}
	for _, tt := range tests {
		pt, err := kp.id.Decrypt(bytes.NewReader(tt.msg))
		if err == nil {
			_, err = io.ReadAll(pt.Body)
			// The error is sticky.
			if _, err2 := pt.Body.Read(make([]byte, 10)); err != nil && !errors.Is(err2, ErrIntegrity) {
				t.Errorf("%s: second read: %v", tt.name, err2)
			}
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDecryptSourceError(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	msg := encryptBytes(t, kp.recipient(t), "a.bin", time.Time{}, randomBytes(t, 300000), 0)
	errIO := errors.New("connection reset")
	// Fails after 100 KB: a read error, not an integrity failure.
	pt, err := kp.id.Decrypt(io.MultiReader(bytes.NewReader(msg[:100000]), errReader{errIO}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(pt.Body); !errors.Is(err, errIO) || errors.Is(err, ErrIntegrity) {
		t.Errorf("body: %v, want the read error", err)
	}
	if _, err := kp.id.Decrypt(errReader{errIO}); !errors.Is(err, errIO) {
		t.Errorf("Decrypt: %v, want the read error", err)
	}
}

func TestDecryptNotEncrypted(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	var literal bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&literal}, true, "a.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("plain"))
	w.Close()
	var signed bytes.Buffer
	sw, err := openpgp.Sign(&signed, kp.entity, &openpgp.FileHints{IsBinary: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sw.Write([]byte("signed only"))
	sw.Close()
	var pub bytes.Buffer
	kp.entity.Serialize(&pub)
	tests := map[string][]byte{
		"empty":        nil,
		"white space":  []byte(" \n"),
		"text":         []byte("hello world"),
		"zip":          []byte("PK\x03\x04rest"),
		"literal":      literal.Bytes(),
		"signed only":  signed.Bytes(),
		"public key":   pub.Bytes(),
		"armored key":  []byte(kp.public),
		"bad armor":    []byte("-----BEGIN PGP MESSAGE-----\n\n!!!!\n-----END PGP MESSAGE-----\n"),
		"marker alone": {0xca, 3, 'P', 'G', 'P'},
	}
	for name, in := range tests {
		if _, err := kp.id.Decrypt(bytes.NewReader(in)); !errors.Is(err, ErrNotEncrypted) {
			t.Errorf("%s: err = %v, want ErrNotEncrypted", name, err)
		}
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// sedMessage builds a message with the old Symmetrically Encrypted Data
// packet (tag 9, no integrity protection), which go-crypto no longer
// writes.
func sedMessage(t testing.TB, e *openpgp.Entity, content []byte) []byte {
	t.Helper()
	ek, ok := e.EncryptionKey(now)
	if !ok {
		t.Fatal("no encryption key")
	}
	key := randomBytes(t, 32)
	var msg bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&msg, ek.PublicKey, packet.CipherAES256, false, key, nil); err != nil {
		t.Fatal(err)
	}
	var lit bytes.Buffer
	lw, _ := packet.SerializeLiteral(nopCloser{&lit}, true, "x.txt", 0)
	lw.Write(content)
	lw.Close()
	block, _ := aes.NewCipher(key)
	stream, prefix := packet.NewOCFBEncrypter(block, randomBytes(t, 16), packet.OCFBResync)
	body := append([]byte(nil), prefix...)
	enc := make([]byte, lit.Len())
	stream.XORKeyStream(enc, lit.Bytes())
	body = append(body, enc...)
	msg.Write([]byte{0xc0 | tagSED, 0xff, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))})
	msg.Write(body)
	return msg.Bytes()
}

func TestDecryptRefusesUnprotected(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	if _, err := kp.id.Decrypt(bytes.NewReader(sedMessage(t, kp.entity, []byte("old")))); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("err = %v, want ErrIntegrity", err)
	}
}

// TestDecryptOtherWriters: messages written by go-crypto's general writer,
// compressed, armored, signed, read back.
func TestDecryptOtherWriters(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	data := bytes.Repeat([]byte("compressible text "), 10000)
	mod := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		armor  bool
		signed bool
	}{{"zlib", false, false}, {"zlib armored", true, false}, {"signed and compressed", false, true}} {
		var buf bytes.Buffer
		var dst io.Writer = &buf
		var aw io.WriteCloser
		if tc.armor {
			aw, _ = armor.Encode(&buf, "PGP MESSAGE", nil)
			dst = aw
		}
		var signer *openpgp.Entity
		if tc.signed {
			signer = ed25519Entity(t)
		}
		c := &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB, Time: func() time.Time { return now }}
		w, err := openpgp.Encrypt(dst, []*openpgp.Entity{kp.entity}, signer, &openpgp.FileHints{IsBinary: true, FileName: "notes.txt", ModTime: mod}, c)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		if aw != nil {
			aw.Close()
		}
		pt, got, err := decryptBytes(kp.id, buf.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, data) || pt.Filename != "notes.txt" || !pt.ModTime.Equal(mod) {
			t.Errorf("%s: %d bytes, name %q, time %v", tc.name, len(got), pt.Filename, pt.ModTime)
		}
	}
}

// gpgRun runs gpg in home with extra arguments and returns stdout, failing
// the test on error.
func gpgStatus(t *testing.T, gpg func(...string) string, args ...string) map[string]string {
	t.Helper()
	st := map[string]string{}
	for _, line := range strings.Split(gpg(append([]string{"--status-fd", "1"}, args...)...), "\n") {
		if rest, ok := strings.CutPrefix(line, "[GNUPG:] "); ok {
			k, v, _ := strings.Cut(rest, " ")
			st[k] = v
		}
	}
	return st
}

// TestGnuPGDecryptsOurs: GnuPG 2.2 reads what we write, reports SEIPD
// with MDC and AES-256, and the file name we sent.
func TestGnuPGDecryptsOurs(t *testing.T) {
	gpg := gpgHome(t)
	dir := t.TempDir()
	for _, kp := range []keyPair{edKeyPair(t), newKeyPair(t, rsaEntity(t, 3072))} {
		keyFile := filepath.Join(dir, "key.asc")
		os.WriteFile(keyFile, []byte(armorPrivate(t, kp.entity)), 0o600)
		gpg("--import", keyFile)
		for _, size := range []int{0, 1, 3*chunkSize + 100} {
			data := randomBytes(t, size)
			name := "Søknad om permisjon 2024.pdf"
			in := filepath.Join(dir, "msg.pgp")
			out := filepath.Join(dir, "out.bin")
			os.Remove(out)
			os.WriteFile(in, encryptBytes(t, kp.recipient(t), name, time.Time{}, data, 0), 0o600)
			st := gpgStatus(t, gpg, "--output", out, "--decrypt", in)
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d: gpg output differs (%v)", size, err)
			}
			if _, ok := st["DECRYPTION_OKAY"]; !ok {
				t.Errorf("no DECRYPTION_OKAY: %v", st)
			}
			if _, ok := st["GOODMDC"]; !ok {
				t.Errorf("no GOODMDC: %v", st)
			}
			// DECRYPTION_INFO <mdc method> <cipher> [<aead>]: SHA-1 MDC, AES-256, no AEAD.
			if f := strings.Fields(st["DECRYPTION_INFO"]); len(f) < 2 || f[0] != "2" || f[1] != "9" || (len(f) > 2 && f[2] != "0") {
				t.Errorf("DECRYPTION_INFO %q, want 2 9 [0]", st["DECRYPTION_INFO"])
			}
			// PLAINTEXT <format> <time> <name, percent-escaped>: 62 is 'b'.
			f := strings.Fields(st["PLAINTEXT"])
			if len(f) < 3 || f[0] != "62" || unescapeGPG(f[2]) != name {
				t.Errorf("PLAINTEXT %q, want format 62 and name %q", st["PLAINTEXT"], name)
			}
		}
	}
}

// unescapeGPG undoes the %XX escaping of status lines.
func unescapeGPG(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			for _, c := range []byte(s[i+1 : i+3]) {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= c - '0'
				case c >= 'A' && c <= 'F':
					v |= c - 'A' + 10
				case c >= 'a' && c <= 'f':
					v |= c - 'a' + 10
				}
			}
			b.WriteByte(v)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestWeDecryptGnuPG: messages GnuPG writes (uncompressed and with its
// default compression) decrypt with our Identity, to our keys and to keys
// GnuPG made (with and without a passphrase); our messages to GnuPG's keys
// decrypt in GnuPG.
func TestWeDecryptGnuPG(t *testing.T) {
	gpgP := gpgWithPassphrase(t)
	gpg := func(args ...string) string { return gpgP("", args...) }
	dir := t.TempDir()
	data := append(bytes.Repeat([]byte("line of text\n"), 5000), randomBytes(t, 100000)...)
	plain := filepath.Join(dir, "original name.txt")
	os.WriteFile(plain, data, 0o600)

	type target struct {
		name       string
		uid        string
		id         func() *Identity
		public     func() string
		passphrase string
	}
	ours := edKeyPair(t)
	pubFile := filepath.Join(dir, "ours.asc")
	os.WriteFile(pubFile, []byte(ours.public), 0o600)
	gpg("--import", pubFile)

	gpg("--quick-gen-key", "Ed <edkey@example.org>", "future-default", "default", "never")
	gpg("--quick-gen-key", "Rsa <rsa@example.org>", "rsa3072", "default", "never")
	gpg("--quick-add-key", gpgFingerprint(t, gpg, "<rsa@example.org>"), "rsa3072", "encr", "never")
	gpgP("gpg secret", "--quick-gen-key", "Locked <locked@example.org>", "future-default", "default", "never")
	exported := func(uid, passphrase string) func() *Identity {
		return func() *Identity {
			sec := gpgP(passphrase, "--export-secret-keys", "--armor", uid)
			if passphrase != "" {
				if _, err := NewIdentity([]byte(sec), nil); !errors.Is(err, ErrPassphrase) {
					t.Errorf("%s without passphrase: %v", uid, err)
				}
				if _, err := NewIdentity([]byte(sec), []byte("wrong")); !errors.Is(err, ErrPassphrase) {
					t.Errorf("%s with a wrong passphrase: %v", uid, err)
				}
			}
			id, err := NewIdentity([]byte(sec), []byte(passphrase))
			if err != nil {
				t.Fatalf("%s: NewIdentity: %v", uid, err)
			}
			return id
		}
	}
	targets := []target{
		{"our key", "<kari.nordmann@example.org>", func() *Identity { return ours.id }, func() string { return ours.public }, ""},
		{"gpg ed25519", "<edkey@example.org>", exported("<edkey@example.org>", ""), func() string { return gpg("--export", "--armor", "<edkey@example.org>") }, ""},
		{"gpg rsa3072", "<rsa@example.org>", exported("<rsa@example.org>", ""), func() string { return gpg("--export", "--armor", "<rsa@example.org>") }, ""},
		{"gpg ed25519 with passphrase", "<locked@example.org>", exported("<locked@example.org>", "gpg secret"), func() string { return gpg("--export", "--armor", "<locked@example.org>") }, "gpg secret"},
	}
	for _, tg := range targets {
		id := tg.id()
		for _, compress := range [][]string{{"--compress-algo", "none"}, nil} {
			out := filepath.Join(dir, "gpg.pgp")
			args := append([]string{"--yes", "--trust-model", "always", "--recipient", tg.uid, "--output", out}, compress...)
			gpg(append(args, "--encrypt", plain)...)
			msg, _ := os.ReadFile(out)
			pt, got, err := decryptBytes(id, msg)
			if err != nil {
				t.Fatalf("%s %v: %v", tg.name, compress, err)
			}
			if !bytes.Equal(got, data) || pt.Filename != "original name.txt" {
				t.Errorf("%s %v: %d bytes, name %q", tg.name, compress, len(got), pt.Filename)
			}
		}
		// And the other way: our message to the key, decrypted by gpg.
		r, err := NewRecipient(tg.public(), time.Now(), Policy{})
		if err != nil {
			t.Fatalf("%s: NewRecipient: %v", tg.name, err)
		}
		in := filepath.Join(dir, "ours.pgp")
		os.WriteFile(in, encryptBytes(t, r, "to gpg.bin", time.Time{}, data, 0), 0o600)
		dec := filepath.Join(dir, "dec.bin")
		os.Remove(dec)
		if tg.name == "our key" {
			continue // its secret key is not in this home
		}
		gpgP(tg.passphrase, "--output", dec, "--decrypt", in)
		if got, _ := os.ReadFile(dec); !bytes.Equal(got, data) {
			t.Errorf("%s: gpg decrypted something else", tg.name)
		}
	}
	// gpg's own tampering check agrees: a flipped byte is refused by both.
	if _, err := exec.LookPath("gpg"); err == nil {
		msg := encryptBytes(t, ours.recipient(t), "x", time.Time{}, data, 0)
		msg[len(msg)/2] ^= 1
		if _, _, err := decryptBytes(ours.id, msg); !errors.Is(err, ErrIntegrity) {
			t.Errorf("tampered: %v", err)
		}
	}
}
