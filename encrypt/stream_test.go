package encrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var (
	edOnce sync.Once
	edPair keyPair
)

// edKeyPair is one Ed25519/Cv25519 key pair per test binary.
func edKeyPair(t testing.TB) keyPair {
	edOnce.Do(func() { edPair = newKeyPair(t, ed25519Entity(t)) })
	return edPair
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncryptRoundTrip(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	r := kp.recipient(t)
	mod := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	// The literal packet's first chunk holds 'b', the name length, the name
	// and the time: sizes around the 64 KiB chunks of both packet layers.
	hdr := 2 + len("report.pdf") + 4
	tests := []struct {
		name     string
		filename string
		wantName string
		size     int
		step     int
	}{
		{"empty", "report.pdf", "report.pdf", 0, 0},
		{"one byte", "report.pdf", "report.pdf", 1, 0},
		{"191 bytes", "report.pdf", "report.pdf", 191 - hdr, 0},
		{"8383 bytes framed", "report.pdf", "report.pdf", 8383 - hdr, 0},
		{"chunk minus one", "report.pdf", "report.pdf", chunkSize - hdr - 1, 0},
		{"exactly one chunk", "report.pdf", "report.pdf", chunkSize - hdr, 0},
		{"chunk plus one", "report.pdf", "report.pdf", chunkSize - hdr + 1, 0},
		{"three chunks and a bit, odd writes", "report.pdf", "report.pdf", 3*chunkSize + 5, 7001},
		{"byte by byte", "report.pdf", "report.pdf", 3000, 1},
		{"1 MiB random", "report.pdf", "report.pdf", 1 << 20, 0},
		{"1 MiB in 32 KiB writes", "report.pdf", "report.pdf", 1 << 20, 32 << 10},
		{"unicode name", "Ærlig søknad – 履歴書.docx", "Ærlig søknad – 履歴書.docx", 100, 0},
		{"path is cut to the base name", "../../etc/passwd", "passwd", 10, 0},
		{"windows path", `C:\Users\kari\Documents\cv.pdf`, "cv.pdf", 10, 0},
		{"control characters are carried", "a\x00b\nc\x1b[31m.txt", "a\x00b\nc\x1b[31m.txt", 10, 0},
		{"no name", "", "", 10, 0},
		{"long name keeps its extension", strings.Repeat("å", 200) + ".pdf", strings.Repeat("å", 125) + ".pdf", 10, 0},
		{"invalid utf-8", "bad\xffname.txt", "bad\uFFFDname.txt", 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := randomBytes(t, tt.size)
			msg := encryptBytes(t, r, tt.filename, mod, data, tt.step)
			pt, got, err := decryptBytes(kp.id, msg)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decrypted %d bytes, want %d (equal: false)", len(got), len(data))
			}
			if pt.Filename != tt.wantName {
				t.Errorf("filename %q, want %q", pt.Filename, tt.wantName)
			}
			if len(pt.Filename) > 255 {
				t.Errorf("filename of %d bytes", len(pt.Filename))
			}
			if !pt.ModTime.Equal(mod) {
				t.Errorf("mod time %v, want %v", pt.ModTime, mod)
			}
			// Constant overhead: the message is the data plus headers.
			if over := len(msg) - len(data); over > 1024+len(tt.filename) {
				t.Errorf("overhead %d bytes", over)
			}
		})
	}
}

// TestMessageFormat inspects the packets with a parser and CFB decryption
// of its own: PKESK v3 then SEIPD v1 with AES-256, holding one binary
// literal data packet and the MDC; no compression, no AEAD.
func TestMessageFormat(t *testing.T) {
	t.Parallel()
	kp := edKeyPair(t)
	r := kp.recipient(t)
	mod := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, size := range []int{0, 5000, 3*chunkSize + 17} {
		data := randomBytes(t, size)
		msg := encryptBytes(t, r, "Lønnsslipp 2024.pdf", mod, data, 0)
		for _, p := range splitPackets(t, msg) {
			if p.tag == tagAEAD || p.tag == 8 || p.tag == tagSED {
				t.Errorf("size %d: outer packet tag %d", size, p.tag)
			}
		}
		cipherFunc, inner := openMessage(t, kp.entity, msg)
		if cipherFunc != packet.CipherAES256 {
			t.Errorf("cipher %d, want AES-256 (%d)", cipherFunc, packet.CipherAES256)
		}
		ps := splitPackets(t, inner)
		if len(ps) != 1 || ps[0].tag != tagLiteral {
			t.Fatalf("size %d: inner packets %+v, want one literal data packet", size, len(ps))
		}
		lit := ps[0].body
		if lit[0] != 'b' {
			t.Errorf("literal format %q, want 'b'", lit[0])
		}
		name := string(lit[2 : 2+int(lit[1])])
		if name != "Lønnsslipp 2024.pdf" {
			t.Errorf("literal name %q", name)
		}
		rest := lit[2+int(lit[1]):]
		if ts := time.Unix(int64(uint32(rest[0])<<24|uint32(rest[1])<<16|uint32(rest[2])<<8|uint32(rest[3])), 0); !ts.Equal(mod) {
			t.Errorf("literal time %v", ts)
		}
		if !bytes.Equal(rest[4:], data) {
			t.Errorf("size %d: literal content differs", size)
		}
		if wantPartial := size > chunkSize; ps[0].partial != wantPartial {
			t.Errorf("size %d: literal partial %v", size, ps[0].partial)
		}
	}
}

func TestNewRecipientRefuses(t *testing.T) {
	t.Parallel()
	expiring := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 24*time.Hour))
	tests := []struct {
		name string
		key  string
		at   time.Time
		want error
	}{
		{"expired", armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), year))), now, ErrKeyExpired},
		{"rsa-1024", armorPublic(t, rsaEntity(t, 1024)), now, ErrKeyWeak},
		{"valid when filed, expired at delivery", armorPublic(t, expiring), now.Add(48 * time.Hour), ErrKeyExpired},
		{"private key", armorPrivate(t, ed25519Entity(t)), now, ErrPrivateKey},
		{"garbage", "hello", now, ErrKeyParse},
	}
	for _, tt := range tests {
		r, err := NewRecipient(tt.key, tt.at, Policy{})
		if !errors.Is(err, tt.want) || r != nil {
			t.Errorf("%s: %v, %v; want %v", tt.name, r, err, tt.want)
		}
	}
	if _, err := NewRecipient(armorPublic(t, expiring), now, Policy{}); err != nil {
		t.Errorf("valid key at filing refused: %v", err)
	}
}

// TestRecipientEncryptsToCheckedKey: with a newer encryption subkey, the
// message goes to the key the check described.
func TestRecipientEncryptsToCheckedKey(t *testing.T) {
	t.Parallel()
	e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
	if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 2048, "", now.Add(-time.Hour), 0)); err != nil {
		t.Fatal(err)
	}
	r, err := NewRecipient(armorPublic(t, e), now, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Key().Encryption.Algorithm != "rsa" {
		t.Fatalf("encryption key %+v", r.Key().Encryption)
	}
	msg := encryptBytes(t, r, "x", time.Time{}, []byte("hi"), 0)
	ek, err := packet.NewReader(bytes.NewReader(msg)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := ek.(*packet.EncryptedKey).KeyId; got != e.Subkeys[1].PublicKey.KeyId {
		t.Errorf("encrypted to key id %x, want the RSA subkey %x", got, e.Subkeys[1].PublicKey.KeyId)
	}
	kp := newKeyPair(t, e)
	if _, got, err := decryptBytes(kp.id, msg); err != nil || string(got) != "hi" {
		t.Errorf("decrypt: %q, %v", got, err)
	}
}

type failWriter struct {
	n      int // bytes accepted before failing
	closed bool
}

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}

func (f *failWriter) Close() error { f.closed = true; return nil }

func TestEncryptWriterErrors(t *testing.T) {
	t.Parallel()
	r := edKeyPair(t).recipient(t)
	// The destination fails after the first chunk: the error comes back,
	// sticky, from Write and Close.
	dst := &failWriter{n: 1000 + chunkSize}
	w, err := r.Encrypt(dst, "f", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 4*chunkSize)
	_, err = w.Write(data)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Write: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, errDisk) {
		t.Errorf("second Write: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close: %v", err)
	}
	// Failing on the session key packet.
	if _, err := r.Encrypt(&failWriter{}, "f", time.Time{}); !errors.Is(err, errDisk) {
		t.Errorf("Encrypt on a failing writer: %v", err)
	}
	// Close does not close dst; Write after Close fails; Close twice is fine.
	ok := &failWriter{n: 1 << 30}
	w, err = r.Encrypt(ok, "f", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ok.closed {
		t.Error("Close closed dst")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if _, err := r.Encrypt(nil, "f", time.Time{}); err == nil {
		t.Error("nil dst accepted")
	}
}

// TestEncryptConstantMemory: encrypting 64 MiB allocates about as much as
// encrypting 1 MiB (the chunk buffers), not in proportion to the size.
func TestEncryptConstantMemory(t *testing.T) {
	r := edKeyPair(t).recipient(t)
	buf := randomBytes(t, 32<<10)
	allocs := func(total int) float64 {
		return testing.AllocsPerRun(2, func() {
			w, err := r.Encrypt(io.Discard, "f", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; n < total; n += len(buf) {
				w.Write(buf)
			}
			w.Close()
		})
	}
	small, large := allocs(1<<20), allocs(64<<20)
	if large > small+10 {
		t.Errorf("allocations grow with size: %.0f for 1 MiB, %.0f for 64 MiB", small, large)
	}
}

func TestLiteralTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Time
		want uint32
	}{
		{time.Time{}, 0},
		{time.Unix(0, 0), 0},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Unix(1700000000, 999), 1700000000},
	}
	for _, tt := range tests {
		if got := literalTime(tt.in); got != tt.want {
			t.Errorf("literalTime(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	r := edKeyPair(b).recipient(b)
	data := randomBytes(b, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		w, err := r.Encrypt(io.Discard, "bench.bin", time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[32<<10:] {
			if _, err := w.Write(p[:32<<10]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
