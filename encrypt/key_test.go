package encrypt

import (
	"bytes"
	"crypto"
	"crypto/dsa"
	"crypto/rand"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/elgamal"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gcrypto "github.com/ProtonMail/gopenpgp/v2/crypto"
)

// now is the time every test checks keys at; keys are made relative to it.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const year = 365 * 24 * time.Hour

func cfg(algo packet.PublicKeyAlgorithm, bits int, curve packet.Curve, created time.Time, lifetime time.Duration) *packet.Config {
	return &packet.Config{
		Algorithm:       algo,
		RSABits:         bits,
		Curve:           curve,
		DefaultHash:     crypto.SHA256,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: uint32(lifetime / time.Second),
	}
}

func newEntity(t testing.TB, c *packet.Config) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("Kari Nordmann", "test", "kari.nordmann@example.org", c)
	if err != nil {
		t.Fatalf("NewEntity: %v", err)
	}
	return e
}

func armorPublic(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func armorPrivate(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatalf("SerializePrivate: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// armorBytes armors raw packets as a public key block.
func armorBytes(t testing.TB, body []byte) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	w.Close()
	return b.String()
}

// RSA generation is the slow part: each size is made once per test binary.
var (
	rsaMu   sync.Mutex
	rsaKeys = map[int]*openpgp.Entity{}
)

func rsaEntity(t testing.TB, bits int) *openpgp.Entity {
	t.Helper()
	rsaMu.Lock()
	defer rsaMu.Unlock()
	if e, ok := rsaKeys[bits]; ok {
		return e
	}
	e := newEntity(t, cfg(packet.PubKeyAlgoRSA, bits, "", now.Add(-time.Hour), 0))
	rsaKeys[bits] = e
	return e
}

func ed25519Entity(t testing.TB) *openpgp.Entity {
	return newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0))
}

// dsaElGamalEntity builds a DSA primary key with an ElGamal encryption
// subkey by hand (go-crypto no longer generates them), all signatures valid.
func dsaElGamalEntity(t testing.TB) *openpgp.Entity {
	t.Helper()
	created := now.Add(-time.Hour)
	var params dsa.Parameters
	if err := dsa.GenerateParameters(&params, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	dk := &dsa.PrivateKey{PublicKey: dsa.PublicKey{Parameters: params}}
	if err := dsa.GenerateKey(dk, rand.Reader); err != nil {
		t.Fatal(err)
	}
	priv := packet.NewDSAPrivateKey(created, dk)
	e := &openpgp.Entity{PrimaryKey: &priv.PublicKey, PrivateKey: priv, Identities: map[string]*openpgp.Identity{}}
	uid := packet.NewUserId("Old Key", "", "old@example.org")
	isPrimary := true
	sig := &packet.Signature{
		Version: 4, SigType: packet.SigTypePositiveCert, PubKeyAlgo: packet.PubKeyAlgoDSA, Hash: crypto.SHA256,
		CreationTime: created, IssuerKeyId: &priv.KeyId, IsPrimaryId: &isPrimary,
		FlagsValid: true, FlagSign: true, FlagCertify: true,
	}
	if err := sig.SignUserId(uid.Id, e.PrimaryKey, priv, nil); err != nil {
		t.Fatal(err)
	}
	e.Identities[uid.Id] = &openpgp.Identity{Name: uid.Id, UserId: uid, SelfSignature: sig, Signatures: []*packet.Signature{sig}}
	x, err := rand.Int(rand.Reader, params.Q)
	if err != nil {
		t.Fatal(err)
	}
	ek := &elgamal.PrivateKey{PublicKey: elgamal.PublicKey{G: params.G, P: params.P, Y: new(big.Int).Exp(params.G, x, params.P)}, X: x}
	sub := packet.NewElGamalPrivateKey(created, ek)
	sub.IsSubkey = true
	sub.PublicKey.IsSubkey = true
	ssig := &packet.Signature{
		Version: 4, SigType: packet.SigTypeSubkeyBinding, PubKeyAlgo: packet.PubKeyAlgoDSA, Hash: crypto.SHA256,
		CreationTime: created, IssuerKeyId: &priv.KeyId,
		FlagsValid: true, FlagEncryptCommunications: true, FlagEncryptStorage: true,
	}
	if err := ssig.SignKey(&sub.PublicKey, priv, nil); err != nil {
		t.Fatal(err)
	}
	e.Subkeys = []openpgp.Subkey{{PublicKey: &sub.PublicKey, PrivateKey: sub, Sig: ssig}}
	return e
}

func TestCheckPublicKey(t *testing.T) {
	t.Parallel()
	type tc struct {
		name    string
		key     func(t *testing.T) string
		policy  Policy
		want    error // nil: accepted
		reason  string
		check   func(t *testing.T, ki KeyInfo)
		checkAt time.Time
	}
	tests := []tc{
		{name: "rsa-2048", key: func(t *testing.T) string { return armorPublic(t, rsaEntity(t, 2048)) },
			check: func(t *testing.T, ki KeyInfo) {
				if ki.Algorithm != "rsa" || ki.Bits != 2048 || ki.Encryption.Algorithm != "rsa" || ki.Encryption.Bits != 2048 {
					t.Errorf("info = %+v", ki)
				}
			}},
		{name: "rsa-3072", key: func(t *testing.T) string { return armorPublic(t, rsaEntity(t, 3072)) },
			check: func(t *testing.T, ki KeyInfo) {
				if ki.Bits != 3072 || ki.Encryption.Bits != 3072 {
					t.Errorf("bits = %d/%d", ki.Bits, ki.Encryption.Bits)
				}
			}},
		{name: "rsa-1024", key: func(t *testing.T) string { return armorPublic(t, rsaEntity(t, 1024)) },
			want: ErrKeyWeak, reason: "primary key is RSA 1024 bits, at least 2048 required"},
		{name: "rsa-2048 below a stricter policy", key: func(t *testing.T) string { return armorPublic(t, rsaEntity(t, 2048)) },
			policy: Policy{MinRSABits: 3072}, want: ErrKeyWeak, reason: "at least 3072"},
		{name: "policy cannot go below 2048", key: func(t *testing.T) string { return armorPublic(t, rsaEntity(t, 1024)) },
			policy: Policy{MinRSABits: 512}, want: ErrKeyWeak, reason: "at least 2048"},
		{name: "rsa-2048 primary with rsa-1024 encryption subkey", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoRSA, 2048, "", now.Add(-time.Hour), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyWeak, reason: "encryption subkey is RSA 1024 bits"},
		{name: "ed25519/cv25519", key: func(t *testing.T) string { return armorPublic(t, ed25519Entity(t)) },
			check: func(t *testing.T, ki KeyInfo) {
				want := KeyPart{Algorithm: "eddsa", Curve: "ed25519", Bits: 255}
				if ki.Algorithm != want.Algorithm || ki.Curve != want.Curve || ki.Bits != want.Bits {
					t.Errorf("primary = %+v", ki.KeyPart)
				}
				if ki.Encryption.Algorithm != "ecdh" || ki.Encryption.Curve != "cv25519" {
					t.Errorf("encryption = %+v", ki.Encryption)
				}
				if ki.Version != 4 || ki.UserIDs != 1 || len(ki.Fingerprint) != 40 || ki.Fingerprint == ki.Encryption.Fingerprint {
					t.Errorf("info = %+v", ki)
				}
				if !ki.ValidUntil.IsZero() || !ki.Expires.IsZero() {
					t.Errorf("no expiry expected: %+v", ki)
				}
			}},
		{name: "rfc9580 ed25519/x25519 in a v4 key", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEd25519, 0, "", now.Add(-time.Hour), 0)))
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Algorithm != "ed25519" || ki.Encryption.Algorithm != "x25519" || ki.Encryption.Curve != "cv25519" {
				t.Errorf("info = %+v", ki)
			}
		}},
		{name: "nist p-256", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoECDSA, 0, packet.CurveNistP256, now.Add(-time.Hour), 0)))
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Algorithm != "ecdsa" || ki.Curve != "nistp256" || ki.Encryption.Curve != "nistp256" || ki.Bits != 256 {
				t.Errorf("info = %+v", ki)
			}
		}},
		{name: "nist p-521", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoECDSA, 0, packet.CurveNistP521, now.Add(-time.Hour), 0)))
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Curve != "nistp521" || ki.Bits != 521 {
				t.Errorf("info = %+v", ki)
			}
		}},
		{name: "brainpool p-384 accepted", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoECDSA, 0, packet.CurveBrainpoolP384, now.Add(-time.Hour), 0)))
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Curve != "brainpoolP384r1" || ki.Encryption.Curve != "brainpoolP384r1" {
				t.Errorf("info = %+v", ki)
			}
		}},
		{name: "secp256k1 refused", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoECDSA, 0, packet.CurveSecP256k1, now.Add(-time.Hour), 0)))
		}, want: ErrKeyWeak, reason: "secp256k1"},
		{name: "dsa/elgamal refused", key: func(t *testing.T) string { return armorPublic(t, dsaElGamalEntity(t)) },
			want: ErrKeyWeak, reason: "DSA"},
		{name: "expires later: accepted, expiry reported", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), year)))
		}, check: func(t *testing.T, ki KeyInfo) {
			want := now.Add(-time.Hour).Add(year).Truncate(time.Second)
			if !ki.Expires.Equal(want) || !ki.ValidUntil.Equal(want) {
				t.Errorf("expires %v valid until %v, want %v", ki.Expires, ki.ValidUntil, want)
			}
		}},
		{name: "expires within MinValidity", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 10*24*time.Hour)))
		}, policy: Policy{MinValidity: 30 * 24 * time.Hour}, want: ErrKeyExpired, reason: "expires too soon"},
		{name: "expired primary", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), year)))
		}, want: ErrKeyExpired, reason: "primary key expired"},
		{name: "created in the future", key: func(t *testing.T) string {
			return armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(48*time.Hour), 0)))
		}, want: ErrKeyExpired, reason: "future"},
		{name: "expired encryption subkey", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-year), 24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyExpired, reason: "encryption subkey expired"},
		{name: "expired old subkey, valid new one", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 2048, "", now.Add(-2*year), 24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Encryption.Algorithm != "ecdh" {
				t.Errorf("encryption = %+v", ki.Encryption)
			}
		}},
		{name: "expired weak subkey besides a valid strong one", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(-2*year), 24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyWeak, reason: "encryption subkey is RSA 1024"},
		{name: "future-dated weak subkey besides a valid strong one", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(10*time.Minute), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyWeak, reason: "encryption subkey is RSA 1024"},
		{name: "revoked weak subkey besides a valid strong one", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(-2*year), 0)); err != nil {
				t.Fatal(err)
			}
			if err := e.RevokeSubkey(&e.Subkeys[0], packet.KeyCompromised, "", cfg(0, 0, "", now.Add(-time.Minute), 0)); err != nil {
				t.Fatal(err)
			}
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Encryption.Algorithm != "ecdh" {
				t.Errorf("encryption = %+v", ki.Encryption)
			}
		}},
		{name: "valid weak subkey besides a strong newer one", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-2*year), 0))
			e.Subkeys = nil
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(-2*year), 0)); err != nil {
				t.Fatal(err)
			}
			if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyWeak, reason: "encryption subkey is RSA 1024"},
		{name: "revoked primary", key: func(t *testing.T) string {
			e := ed25519Entity(t)
			if err := e.RevokeKey(packet.KeySuperseded, "", cfg(0, 0, "", now.Add(-time.Minute), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyRevoked, reason: "primary key revoked"},
		{name: "only user id revoked", key: func(t *testing.T) string {
			e := ed25519Entity(t)
			for _, id := range e.Identities {
				rev := &packet.Signature{
					Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: e.PrimaryKey.PubKeyAlgo,
					Hash: crypto.SHA256, CreationTime: now.Add(-time.Minute), IssuerKeyId: &e.PrimaryKey.KeyId,
				}
				if err := rev.SignUserId(id.Name, e.PrimaryKey, e.PrivateKey, nil); err != nil {
					t.Fatal(err)
				}
				id.Signatures = append(id.Signatures, rev)
			}
			return armorPublic(t, e)
		}, want: ErrKeyRevoked, reason: "all user ids revoked"},
		{name: "revoked encryption subkey", key: func(t *testing.T) string {
			e := ed25519Entity(t)
			if err := e.RevokeSubkey(&e.Subkeys[0], packet.KeyRetired, "", cfg(0, 0, "", now.Add(-time.Minute), 0)); err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, e)
		}, want: ErrKeyRevoked, reason: "encryption subkey revoked"},
		{name: "sign-only", key: func(t *testing.T) string {
			e := ed25519Entity(t)
			e.Subkeys = nil
			return armorPublic(t, e)
		}, want: ErrKeyCannotEncrypt, reason: "can only sign"},
		{name: "rsa primary flagged to encrypt, no subkey", key: func(t *testing.T) string {
			e := newEntity(t, cfg(packet.PubKeyAlgoRSA, 2048, "", now.Add(-time.Hour), 0))
			e.Subkeys = nil
			for _, id := range e.Identities {
				id.SelfSignature.FlagEncryptCommunications = true
				id.SelfSignature.FlagEncryptStorage = true
			}
			// Re-sign the changed self-signature, then keep the public part.
			var b bytes.Buffer
			if err := e.SerializePrivate(&b, nil); err != nil {
				t.Fatal(err)
			}
			el, err := openpgp.ReadKeyRing(&b)
			if err != nil {
				t.Fatal(err)
			}
			return armorPublic(t, el[0])
		}, check: func(t *testing.T, ki KeyInfo) {
			if ki.Encryption.Fingerprint != ki.Fingerprint {
				t.Errorf("expected the primary key to encrypt: %+v", ki)
			}
		}},
		{name: "private key block", key: func(t *testing.T) string { return armorPrivate(t, ed25519Entity(t)) },
			want: ErrPrivateKey},
		{name: "private key packets in a public block", key: func(t *testing.T) string {
			var b bytes.Buffer
			if err := ed25519Entity(t).SerializePrivateWithoutSigning(&b, nil); err != nil {
				t.Fatal(err)
			}
			return armorBytes(t, b.Bytes())
		}, want: ErrPrivateKey},
		{name: "public and private blocks together", key: func(t *testing.T) string {
			e := ed25519Entity(t)
			return armorPublic(t, e) + "\n" + armorPrivate(t, e)
		}, want: ErrPrivateKey},
		{name: "two keys", key: func(t *testing.T) string {
			var b bytes.Buffer
			ed25519Entity(t).Serialize(&b)
			ed25519Entity(t).Serialize(&b)
			return armorBytes(t, b.Bytes())
		}, want: ErrKeyParse, reason: "more than one key"},
		{name: "two armored blocks", key: func(t *testing.T) string {
			return armorPublic(t, ed25519Entity(t)) + armorPublic(t, ed25519Entity(t))
		}, want: ErrKeyParse, reason: "2 armored blocks"},
		{name: "text before the block", key: func(t *testing.T) string { return "my key:\n" + armorPublic(t, ed25519Entity(t)) },
			want: ErrKeyParse, reason: "text before"},
		{name: "text after the block", key: func(t *testing.T) string { return armorPublic(t, ed25519Entity(t)) + "\nthanks" },
			want: ErrKeyParse, reason: "text after"},
		{name: "crlf and trailing blank lines as in the seed", key: func(t *testing.T) string {
			return strings.ReplaceAll(armorPublic(t, ed25519Entity(t)), "\n", "\r\n") + "\r\n\r\n"
		}},
		{name: "not armored", key: func(t *testing.T) string { return "mQINBF..." }, want: ErrKeyParse, reason: "no armored"},
		{name: "empty", key: func(t *testing.T) string { return " \n" }, want: ErrKeyParse, reason: "empty"},
		{name: "signature block", key: func(t *testing.T) string {
			return "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJ\n-----END PGP SIGNATURE-----\n"
		}, want: ErrKeyParse, reason: "not a public key block"},
		{name: "corrupted base64", key: func(t *testing.T) string {
			s := armorPublic(t, ed25519Entity(t))
			lines := strings.Split(s, "\n")
			lines[3] = strings.Repeat("!", len(lines[3]))
			return strings.Join(lines, "\n")
		}, want: ErrKeyParse},
		{name: "truncated packets", key: func(t *testing.T) string {
			var b bytes.Buffer
			ed25519Entity(t).Serialize(&b)
			return armorBytes(t, b.Bytes()[:b.Len()-7])
		}, want: ErrKeyParse},
		{name: "tampered self-signature", key: func(t *testing.T) string {
			var b bytes.Buffer
			e := ed25519Entity(t)
			e.Serialize(&b)
			raw := b.Bytes()
			// Flip a byte inside the user id packet: the self-signature no
			// longer verifies, so the key has no identity.
			i := bytes.Index(raw, []byte("Kari"))
			raw[i] = 'X'
			return armorBytes(t, raw)
		}, want: ErrKeyParse},
		{name: "v5 key", key: func(t *testing.T) string {
			// A v5 public key packet (version, time, algorithm 22, four-octet
			// key material length, ...); gopenpgp v2 cannot read them.
			body := []byte{5, 0x60, 0, 0, 0, 22, 0, 0, 0, 3, 1, 2, 3}
			pkt := append([]byte{0xc0 | tagPublicKey, byte(len(body))}, body...)
			return armorBytes(t, pkt)
		}, want: ErrKeyParse, reason: "version 5"},
		{name: "v6 key", key: func(t *testing.T) string {
			c := cfg(packet.PubKeyAlgoEd25519, 0, "", now.Add(-time.Hour), 0)
			c.V6Keys = true
			return armorPublic(t, newEntity(t, c))
		}, want: ErrKeyParse, reason: "version 6"},
		{name: "v3 key", key: func(t *testing.T) string {
			body := []byte{3, 0x60, 0, 0, 0, 0, 0, 1, 1, 8, 1}
			pkt := append([]byte{0x80 | tagPublicKey<<2, byte(len(body))}, body...)
			return armorBytes(t, pkt)
		}, want: ErrKeyWeak, reason: "version 3"},
		{name: "giant rsa modulus", key: func(t *testing.T) string {
			// v4, time, RSA, MPI of 20000 bits (truncated: refused before
			// the body is read).
			body := []byte{4, 0x60, 0, 0, 0, 1, 20000 >> 8, 20000 & 0xff, 0xff}
			pkt := append([]byte{0xc0 | tagPublicKey, byte(len(body))}, body...)
			return armorBytes(t, pkt)
		}, want: ErrKeyWeak, reason: "at most 16384"},
		{name: "too large", key: func(t *testing.T) string { return armorPublic(t, ed25519Entity(t)) },
			policy: Policy{MaxBytes: 100}, want: ErrKeyTooLarge},
		{name: "over the default cap", key: func(t *testing.T) string {
			return beginPublic + "\n\n" + strings.Repeat("A", DefaultMaxBytes) + "\n" + endPublic
		}, want: ErrKeyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := tt.key(t)
			ki, err := CheckPublicKey(key, now, tt.policy)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.check != nil {
					tt.check(t, ki)
				}
				return
			}
			t.Logf("refused: %v", err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, s := range []error{ErrKeyParse, ErrKeyTooLarge, ErrPrivateKey, ErrKeyWeak, ErrKeyExpired, ErrKeyRevoked, ErrKeyCannotEncrypt} {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("err %v also matches %v", err, s)
				}
			}
			if tt.reason != "" && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tt.reason)
			}
			if ki != (KeyInfo{}) {
				t.Errorf("refused key described: %+v", ki)
			}
			assertNoKeyMaterial(t, err, key)
		})
	}
}

// assertNoKeyMaterial fails when an error echoes the user id or any long
// run of the armored key.
func assertNoKeyMaterial(t *testing.T, err error, armored string) {
	t.Helper()
	msg := err.Error()
	for _, s := range []string{"Kari", "kari.nordmann", "example.org"} {
		if strings.Contains(msg, s) {
			t.Errorf("error mentions user id data %q: %s", s, msg)
		}
	}
	for _, line := range strings.Split(armored, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line[:16]) {
			t.Errorf("error echoes key data: %s", msg)
		}
	}
}

// TestCheckedKeyEncrypts makes sure an accepted key is one gopenpgp can
// encrypt to and the matching private key can decrypt.
func TestCheckedKeyEncrypts(t *testing.T) {
	t.Parallel()
	e := ed25519Entity(t)
	armored := armorPublic(t, e)
	if _, err := CheckPublicKey(armored, time.Now(), Policy{}); err != nil {
		t.Fatal(err)
	}
	pub, err := gcrypto.NewKeyFromArmored(armored)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := gcrypto.NewKeyRing(pub)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ring.Encrypt(gcrypto.NewPlainMessage([]byte("hello")), nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := gcrypto.NewKeyFromEntity(e)
	if err != nil {
		t.Fatal(err)
	}
	privRing, err := gcrypto.NewKeyRing(priv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := privRing.Decrypt(msg, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.GetBinary()) != "hello" {
		t.Fatalf("decrypted %q", out.GetBinary())
	}
}

// The time given is the time checked, not the wall clock.
// TestFutureDatedWeakSubkey is the review's bypass: a strong primary key
// with a weak encryption subkey dated a few minutes ahead is valid-looking
// today (the subkey is ignored as not yet valid) and encrypts to RSA-1024
// an hour later. It must be refused now.
func TestFutureDatedWeakSubkey(t *testing.T) {
	t.Parallel()
	// A shallow copy with its own subkey slice: the cached entity is shared.
	// It keeps its RSA-3072 encryption subkey, valid now.
	e := *rsaEntity(t, 3072)
	e.Subkeys = slices.Clone(e.Subkeys)
	if err := e.AddEncryptionSubkey(cfg(packet.PubKeyAlgoRSA, 1024, "", now.Add(10*time.Minute), 0)); err != nil {
		t.Fatal(err)
	}
	// The attack is real: today the RSA-3072 subkey is picked, in an hour
	// the weak one is.
	if ek, ok := e.EncryptionKey(now); !ok {
		t.Fatal("no encryption key now")
	} else if bits, _ := ek.PublicKey.BitLength(); bits != 3072 {
		t.Fatalf("now the key picked is RSA %d, want 3072", bits)
	}
	ek, ok := e.EncryptionKey(now.Add(time.Hour))
	if !ok {
		t.Fatal("no encryption key an hour later")
	}
	if bits, _ := ek.PublicKey.BitLength(); bits != 1024 {
		t.Fatalf("an hour later the key picked is RSA %d, want the 1024-bit subkey", bits)
	}

	armored := armorPublic(t, &e)
	for _, at := range []time.Time{now, now.Add(time.Hour)} {
		ki, err := CheckPublicKey(armored, at, Policy{})
		if !errors.Is(err, ErrKeyWeak) || !strings.Contains(err.Error(), "RSA 1024") {
			t.Errorf("at %s: err = %v, want ErrKeyWeak naming RSA 1024", at, err)
		}
		if ki != (KeyInfo{}) {
			t.Errorf("at %s: refused key described: %+v", at, ki)
		}
	}
}

func TestCheckPublicKeyUsesGivenTime(t *testing.T) {
	t.Parallel()
	armored := armorPublic(t, newEntity(t, cfg(packet.PubKeyAlgoEdDSA, 0, packet.Curve25519, now.Add(-time.Hour), 24*time.Hour)))
	if _, err := CheckPublicKey(armored, now, Policy{}); err != nil {
		t.Fatalf("at now: %v", err)
	}
	if _, err := CheckPublicKey(armored, now.Add(2*24*time.Hour), Policy{}); !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("two days later: %v", err)
	}
}

func TestNextPacketFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		tag  byte
		body int
		ok   bool
	}{
		{"new one-octet", []byte{0xc6, 2, 4, 0}, 6, 2, true},
		{"new two-octet", append([]byte{0xc6, 192, 8}, make([]byte, 200)...), 6, 200, true},
		{"new five-octet", append([]byte{0xc6, 255, 0, 0, 0, 3}, 1, 2, 3), 6, 3, true},
		{"old one-octet", []byte{0x98, 1, 4}, 6, 1, true},
		{"old two-octet", append([]byte{0x99, 0, 3}, 1, 2, 3), 6, 3, true},
		{"partial length", []byte{0xc6, 0xe1, 1, 2}, 0, 0, false},
		{"indeterminate", []byte{0x9b, 1, 2}, 0, 0, false},
		{"not a packet", []byte{0x06, 1, 2}, 0, 0, false},
		{"length past end", []byte{0xc6, 9, 1}, 0, 0, false},
		{"five-octet huge", []byte{0xc6, 255, 0xff, 0xff, 0xff, 0xff, 1}, 0, 0, false},
		{"short header", []byte{0xc6}, 0, 0, false},
	}
	for _, tt := range tests {
		tag, body, _, err := nextPacket(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if tt.ok && (tag != tt.tag || len(body) != tt.body) {
			t.Errorf("%s: tag %d body %d", tt.name, tag, len(body))
		}
	}
}

func FuzzCheckPublicKey(f *testing.F) {
	f.Add(armorPublic(f, ed25519Entity(f)))
	f.Add(beginPublic + "\n\nxsBNBGA=\n" + endPublic)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ki, err := CheckPublicKey(s, now, Policy{})
		if err != nil && ki != (KeyInfo{}) {
			t.Fatalf("refused key described")
		}
		if err == nil && ki.Fingerprint == "" {
			t.Fatalf("accepted key without fingerprint")
		}
	})
}

// FuzzCheckPublicKeyPackets fuzzes the packet stream inside valid armor,
// where the packet scanner and go-crypto's parser do the work.
func FuzzCheckPublicKeyPackets(f *testing.F) {
	for _, e := range []*openpgp.Entity{ed25519Entity(f), rsaEntity(f, 1024)} {
		var b bytes.Buffer
		if err := e.Serialize(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xc6, 2, 5, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		ki, err := CheckPublicKey(armorBytes(t, body), now, Policy{})
		if err != nil && ki != (KeyInfo{}) {
			t.Fatalf("refused key described")
		}
		if err == nil && (ki.Fingerprint == "" || ki.Encryption.Fingerprint == "") {
			t.Fatalf("accepted key without fingerprints: %+v", ki)
		}
	})
}
