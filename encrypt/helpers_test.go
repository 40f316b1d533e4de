package encrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// keyPair is a generated key: the armored public key, the entity with its
// secret parts, and the Identity made from its armored secret key.
type keyPair struct {
	public string
	entity *openpgp.Entity
	id     *Identity
}

func newKeyPair(t testing.TB, e *openpgp.Entity) keyPair {
	t.Helper()
	id, err := NewIdentity([]byte(armorPrivate(t, e)), nil)
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	return keyPair{public: armorPublic(t, e), entity: e, id: id}
}

func (kp keyPair) recipient(t testing.TB) *Recipient {
	t.Helper()
	r, err := NewRecipient(kp.public, now, Policy{})
	if err != nil {
		t.Fatalf("NewRecipient: %v", err)
	}
	return r
}

// encryptBytes encrypts data in writes of at most step bytes (0: one write).
func encryptBytes(t testing.TB, r *Recipient, name string, mod time.Time, data []byte, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := r.Encrypt(&out, name, mod)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if step <= 0 {
		step = max(len(data), 1)
	}
	for p := data; len(p) > 0; {
		k := min(step, len(p))
		if n, err := w.Write(p[:k]); err != nil || n != k {
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// decryptBytes decrypts msg completely.
func decryptBytes(id *Identity, msg []byte) (*Plaintext, []byte, error) {
	pt, err := id.Decrypt(bytes.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(pt.Body)
	return pt, body, err
}

// rawPacket is one packet with its body reassembled from partial lengths.
type rawPacket struct {
	tag     byte
	body    []byte
	partial bool // the body came in partial-length chunks
}

// splitPackets parses a packet sequence independently of go-crypto.
func splitPackets(t testing.TB, b []byte) []rawPacket {
	t.Helper()
	var ps []rawPacket
	for len(b) > 0 {
		h := b[0]
		if h&0x80 == 0 {
			t.Fatalf("not a packet header: %#x", h)
		}
		var p rawPacket
		if h&0x40 == 0 { // old format
			p.tag = (h >> 2) & 0x0f
			var n int
			switch h & 3 {
			case 0:
				n, b = int(b[1]), b[2:]
			case 1:
				n, b = int(binary.BigEndian.Uint16(b[1:])), b[3:]
			case 2:
				n, b = int(binary.BigEndian.Uint32(b[1:])), b[5:]
			default:
				n, b = len(b)-1, b[1:]
			}
			p.body, b = b[:n], b[n:]
			ps = append(ps, p)
			continue
		}
		p.tag = h & 0x3f
		b = b[1:]
		for {
			l0 := int(b[0])
			var n int
			final := true
			switch {
			case l0 < 192:
				n, b = l0, b[1:]
			case l0 < 224:
				n, b = (l0-192)<<8+int(b[1])+192, b[2:]
			case l0 == 255:
				n, b = int(binary.BigEndian.Uint32(b[1:])), b[5:]
			default:
				n, b, final = 1<<(l0&0x1f), b[1:], false
				if len(p.body) == 0 && n < 512 {
					t.Errorf("first partial chunk of %d bytes (at least 512 required)", n)
				}
				p.partial = true
			}
			if n > len(b) {
				t.Fatalf("packet tag %d: length %d past the end (%d left)", p.tag, n, len(b))
			}
			p.body, b = append(p.body, b[:n]...), b[n:]
			if final {
				break
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// openMessage decrypts a message of ours by hand: it checks the outer
// packets, recovers the session key with the entity's secret key and
// returns the cipher used and the SEIPD plaintext after the prefix, its
// quick check and MDC verified.
func openMessage(t testing.TB, e *openpgp.Entity, msg []byte) (packet.CipherFunction, []byte) {
	t.Helper()
	ps := splitPackets(t, msg)
	if len(ps) != 2 || ps[0].tag != tagPKESK || ps[1].tag != tagSEIPD {
		tags := []byte{}
		for _, p := range ps {
			tags = append(tags, p.tag)
		}
		t.Fatalf("outer packets %v, want [1 18]", tags)
	}
	pr := packet.NewReader(bytes.NewReader(msg))
	pk, err := pr.Next()
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := pk.(*packet.EncryptedKey)
	if !ok || ek.Version != 3 {
		t.Fatalf("first packet %T, want a v3 EncryptedKey", pk)
	}
	keys := openpgp.EntityList{e}.KeysById(ek.KeyId)
	if len(keys) == 0 {
		t.Fatalf("session key packet for an unknown key id")
	}
	if err := ek.Decrypt(keys[0].PrivateKey, nil); err != nil {
		t.Fatalf("session key: %v", err)
	}
	seipd := ps[1].body
	if seipd[0] != 1 {
		t.Fatalf("SEIPD version %d, want 1", seipd[0])
	}
	block, err := aes.NewCipher(ek.Key)
	if err != nil {
		t.Fatal(err)
	}
	// Plain CFB decryption with a zero IV, independent of the encrypter.
	ct := seipd[1:]
	plain := make([]byte, len(ct))
	var fre [16]byte
	for i := 0; i < len(ct); i += 16 {
		block.Encrypt(fre[:], fre[:])
		end := min(i+16, len(ct))
		for j := i; j < end; j++ {
			plain[j] = fre[j-i] ^ ct[j]
		}
		copy(fre[:], ct[i:end])
	}
	if len(plain) < 18+22 {
		t.Fatalf("SEIPD plaintext too short: %d", len(plain))
	}
	if plain[14] != plain[16] || plain[15] != plain[17] {
		t.Fatalf("quick check bytes do not repeat")
	}
	trailer := plain[len(plain)-22:]
	if trailer[0] != 0xd3 || trailer[1] != 20 {
		t.Fatalf("no MDC packet at the end: % x", trailer[:2])
	}
	sum := sha1.Sum(plain[:len(plain)-20])
	if !bytes.Equal(sum[:], trailer[2:]) {
		t.Fatalf("MDC does not match")
	}
	return ek.CipherFunc, plain[18 : len(plain)-22]
}

// gpgWithPassphrase makes a throw-away GnuPG home and returns a function
// running gpg in it with the loopback passphrase chosen per call. The test
// is skipped when gpg is not installed (.ci/run installs gnupg).
func gpgWithPassphrase(t *testing.T) func(passphrase string, args ...string) string {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg not installed (apt-get install -y gnupg): skipping the GnuPG interoperability test")
	}
	// A short path: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GNUPGHOME="+home)
	t.Cleanup(func() {
		if conf, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(conf, "--kill", "all")
			cmd.Env = env
			_ = cmd.Run()
		}
		os.RemoveAll(home)
	})
	return func(passphrase string, args ...string) string {
		t.Helper()
		base := []string{"--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback", "--passphrase", passphrase}
		cmd := exec.Command(gpg, append(base, args...)...)
		cmd.Env = env
		cmd.Dir = home // --use-embedded-filename writes here
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatalf("gpg %s: %v", args[0], err)
		}
		return string(out)
	}
}
