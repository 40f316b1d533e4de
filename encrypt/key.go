package encrypt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/gopenpgp/v2/crypto"
)

// Sentinel errors of CheckPublicKey. The returned error wraps exactly one of
// them with a short reason naming the problem (never key material or user
// ids), so callers branch with errors.Is and may show the message.
var (
	ErrKeyParse         = errors.New("public key cannot be read")
	ErrKeyTooLarge      = errors.New("public key too large")
	ErrPrivateKey       = errors.New("a private key was given, not a public key")
	ErrKeyWeak          = errors.New("public key algorithm or size not allowed")
	ErrKeyExpired       = errors.New("public key expired")
	ErrKeyRevoked       = errors.New("public key revoked")
	ErrKeyCannotEncrypt = errors.New("public key cannot encrypt")
)

// Defaults of Policy.
const (
	DefaultMaxBytes   = 64 << 10 // armored
	DefaultMinRSABits = 2048

	// maxRSABits is the largest RSA modulus read, as Go's crypto/rsa.
	maxRSABits = 16384
)

// Policy says which public keys are accepted. The zero value is the
// default policy.
type Policy struct {
	// MaxBytes caps the armored key's size (DefaultMaxBytes when <= 0).
	MaxBytes int
	// MinRSABits is the smallest RSA modulus accepted; values below
	// DefaultMinRSABits (including 0) mean DefaultMinRSABits: the spec
	// refuses RSA < 2048 whatever the configuration says.
	MinRSABits int
	// MinValidity, when > 0, also requires the key to still be able to
	// encrypt MinValidity after now (a key that expires before the answer
	// can be delivered is refused with ErrKeyExpired).
	MinValidity time.Duration
}

func (p Policy) maxBytes() int {
	if p.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return p.MaxBytes
}

func (p Policy) minRSABits() int {
	return max(p.MinRSABits, DefaultMinRSABits)
}

// KeyPart describes the primary key or the encryption key of a public key.
type KeyPart struct {
	Fingerprint string    `json:"fingerprint"` // lower-case hex
	Algorithm   string    `json:"algorithm"`   // "rsa", "ecdh", "ecdsa", "eddsa", "x25519", "ed25519", "x448", "ed448"
	Bits        int       `json:"bits"`        // RSA modulus size, or the curve's size (255 for Curve25519)
	Curve       string    `json:"curve,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"` // zero: does not expire
}

// KeyInfo describes an accepted public key. It holds no user ids (personal
// data), only how many there are. The fingerprint identifies the subject's
// key: treat it like an identifier (do not log it in clear).
type KeyInfo struct {
	Version int `json:"version"`
	KeyPart
	// Encryption is the key a message would be encrypted to at the time
	// checked: an encryption subkey, or the primary key itself.
	Encryption KeyPart `json:"encryption"`
	// ValidUntil is when the key stops being usable for encryption as
	// things stand (the earliest expiry of the primary key, its
	// self-signature and the encryption key); zero: no expiry.
	ValidUntil time.Time `json:"valid_until,omitzero"`
	UserIDs    int       `json:"user_ids"`
}

// Armor framing.
const (
	beginPublic  = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	endPublic    = "-----END PGP PUBLIC KEY BLOCK-----"
	privateBlock = "PGP PRIVATE KEY BLOCK"
	armorBegin   = "-----BEGIN PGP "
)

// CheckPublicKey checks an armored OpenPGP public key against p at time now
// and describes it. It refuses (with an error wrapping one of the ErrKey*
// sentinels or ErrPrivateKey):
//   - input over p.MaxBytes (ErrKeyTooLarge);
//   - anything but exactly one "PUBLIC KEY BLOCK" with one primary key, or
//     text around it, or key versions other than 4 (v5 keys of GnuPG 2.4 /
//     LibrePGP cannot be read by gopenpgp v2; v6 keys of RFC 9580 cannot be
//     imported by GnuPG 2.2, which must decrypt what we send) (ErrKeyParse);
//   - any secret-key material, even inside a public block (ErrPrivateKey);
//   - a revoked primary key, user id or encryption subkey (ErrKeyRevoked);
//   - an expired (or not yet valid) primary key, self-signature or
//     encryption subkey, also at now+p.MinValidity (ErrKeyExpired);
//   - no key usable for encryption (ErrKeyCannotEncrypt);
//   - weak or unsupported algorithms on the primary key or on any encryption
//     subkey that is not revoked at now, including subkeys expired or not
//     yet valid at now (ErrKeyWeak): RSA below p.MinRSABits, DSA, ElGamal,
//     secp256k1, post-quantum hybrids, anything unknown.
//
// Accepted: RSA >= 2048 bits; ECDH/ECDSA on NIST P-256/384/521 and on
// brainpoolP256r1/384r1/512r1 (BSI-recommended, supported by GnuPG 2.2,
// OpenPGP.js and go-crypto, so a subject's brainpool key is honoured);
// Curve25519 and Curve448 in both the legacy (EdDSA/ECDH OID) and the
// RFC 9580 (Ed25519/X25519/Ed448/X448) encodings.
//
// Every encryption subkey that is not revoked must pass, not only the
// newest one that gopenpgp would pick today, and not only those valid now:
// which subkey is picked changes over time (when the newest expires, an
// older one takes over; a subkey dated in the future becomes the newest
// once its time comes) and other implementations and clocks may pick
// differently. Only revocation takes a subkey out for good.
//
// The result holds at now only. Delivery (issue 6) must check the key again
// with CheckPublicKey at the time it encrypts and encrypt to the key that
// check describes, never to a key checked earlier: the key may have expired
// or been revoked since, and the encryption key picked may differ.
func CheckPublicKey(armored string, now time.Time, p Policy) (KeyInfo, error) {
	_, info, err := checkPublicKey(armored, now, p)
	return info, err
}

// checkPublicKey is CheckPublicKey returning the parsed entity too, for the
// encryption code that follows the check.
func checkPublicKey(armored string, now time.Time, p Policy) (e *openpgp.Entity, info KeyInfo, err error) {
	// The key is untrusted input read by a third-party parser in the server
	// process: a parser panic must refuse the key, not take the server down.
	defer func() {
		if r := recover(); r != nil {
			e, info, err = nil, KeyInfo{}, fmt.Errorf("%w: the OpenPGP parser failed on this key", ErrKeyParse)
		}
	}()
	if len(armored) > p.maxBytes() {
		return nil, KeyInfo{}, fmt.Errorf("%w: %d bytes armored, at most %d allowed", ErrKeyTooLarge, len(armored), p.maxBytes())
	}
	body, err := dearmor(armored)
	if err != nil {
		return nil, KeyInfo{}, err
	}
	if err := scanPackets(body); err != nil {
		return nil, KeyInfo{}, err
	}
	key, err := crypto.NewKey(body)
	if err != nil {
		return nil, KeyInfo{}, parseError(err)
	}
	e = key.GetEntity()
	if e == nil || e.PrimaryKey == nil {
		return nil, KeyInfo{}, fmt.Errorf("%w: no key in the block", ErrKeyParse)
	}
	if e.PrivateKey != nil {
		return nil, KeyInfo{}, fmt.Errorf("%w: secret key material found", ErrPrivateKey)
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			return nil, KeyInfo{}, fmt.Errorf("%w: secret subkey material found", ErrPrivateKey)
		}
	}
	if info, err = evaluate(e, now, p); err != nil {
		return nil, KeyInfo{}, err
	}
	return e, info, nil
}

// dearmor requires exactly one armored public key block with nothing but
// white space around it, and returns its binary body.
func dearmor(armored string) ([]byte, error) {
	if strings.Contains(armored, privateBlock) {
		return nil, fmt.Errorf("%w: the text holds a private key block", ErrPrivateKey)
	}
	s := strings.TrimSpace(armored)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrKeyParse)
	}
	if n := strings.Count(s, armorBegin); n != 1 {
		if n == 0 {
			return nil, fmt.Errorf("%w: no armored OpenPGP block (expected %q)", ErrKeyParse, beginPublic)
		}
		return nil, fmt.Errorf("%w: %d armored blocks, expected one public key block", ErrKeyParse, n)
	}
	if !strings.HasPrefix(s, beginPublic) {
		if strings.HasPrefix(s, armorBegin) {
			return nil, fmt.Errorf("%w: the armored block is not a public key block", ErrKeyParse)
		}
		return nil, fmt.Errorf("%w: text before the armored public key block", ErrKeyParse)
	}
	if !strings.HasSuffix(s, endPublic) {
		if strings.Contains(s, endPublic) {
			return nil, fmt.Errorf("%w: text after the armored public key block", ErrKeyParse)
		}
		return nil, fmt.Errorf("%w: the armored public key block is not terminated", ErrKeyParse)
	}
	block, err := armor.Decode(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("%w: invalid armor", ErrKeyParse)
	}
	if block.Type != openpgp.PublicKeyType {
		return nil, fmt.Errorf("%w: the armored block is not a public key block", ErrKeyParse)
	}
	body, err := io.ReadAll(block.Body)
	if err != nil {
		// Bad base64 or a checksum mismatch.
		return nil, fmt.Errorf("%w: invalid armor data", ErrKeyParse)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty key block", ErrKeyParse)
	}
	return body, nil
}

// OpenPGP packet tags looked at by scanPackets.
const (
	tagSecretKey    = 5
	tagPublicKey    = 6
	tagSecretSubkey = 7
	tagPublicSubkey = 14
)

// scanPackets walks the packet framing of a transferable public key before
// go-crypto sees it: go-crypto skips entities it cannot read (a v5 key
// comes back as a vague "unsupported" error, a second key is read
// silently), so versions, secret packets and the number of primary keys
// are decided here, with clear reasons.
func scanPackets(b []byte) error {
	primaries := 0
	for len(b) > 0 {
		tag, body, rest, err := nextPacket(b)
		if err != nil {
			return err
		}
		b = rest
		switch tag {
		case tagSecretKey, tagSecretSubkey:
			return fmt.Errorf("%w: secret key packet found", ErrPrivateKey)
		case tagPublicKey, tagPublicSubkey:
			what := "primary key"
			if tag == tagPublicKey {
				primaries++
				if primaries > 1 {
					return fmt.Errorf("%w: more than one key in the block (send exactly one public key)", ErrKeyParse)
				}
			} else {
				what = "subkey"
			}
			if len(body) == 0 {
				return fmt.Errorf("%w: empty %s packet", ErrKeyParse, what)
			}
			switch v := body[0]; v {
			case 4:
				// version, creation time (4), algorithm: refuse DSA and
				// ElGamal here, before go-crypto, which reads them, so the
				// reason is the algorithm whatever else is wrong.
				if len(body) < 6 {
					return fmt.Errorf("%w: truncated %s packet", ErrKeyParse, what)
				}
				switch a := packet.PublicKeyAlgorithm(body[5]); a {
				case packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
					return fmt.Errorf("%w: %s uses %s, which is not allowed (use RSA >= %d bits or Curve25519)", ErrKeyWeak, what, strings.ToUpper(algoName(a)), DefaultMinRSABits)
				case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
					// The modulus MPI's bit count: refuse giant moduli before
					// any signature is verified with them (CPU cost).
					if len(body) >= 8 {
						if bits := int(body[6])<<8 | int(body[7]); bits > maxRSABits {
							return fmt.Errorf("%w: %s is RSA %d bits, at most %d supported", ErrKeyWeak, what, bits, maxRSABits)
						}
					}
				}
			case 2, 3:
				return fmt.Errorf("%w: %s is a version %d key (obsolete, MD5-based); create a new key", ErrKeyWeak, what, v)
			case 5:
				return fmt.Errorf("%w: %s is a version 5 key (GnuPG 2.4 / LibrePGP), which is not supported; export a version 4 key (for example create one with GnuPG 2.2, or without --rfc4880bis)", ErrKeyParse, what)
			case 6:
				return fmt.Errorf("%w: %s is a version 6 key (RFC 9580), which is not supported yet; export a version 4 key", ErrKeyParse, what)
			default:
				return fmt.Errorf("%w: %s has unknown key version %d", ErrKeyParse, what, v)
			}
		}
	}
	if primaries == 0 {
		return fmt.Errorf("%w: no public key packet in the block", ErrKeyParse)
	}
	return nil
}

// nextPacket splits the first packet off b (RFC 4880 §4.2). Partial and
// indeterminate lengths are refused: a transferable public key never uses
// them.
func nextPacket(b []byte) (tag byte, body, rest []byte, err error) {
	malformed := fmt.Errorf("%w: malformed packet framing", ErrKeyParse)
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, nil, nil, malformed
	}
	var n, hdr int
	if b[0]&0x40 != 0 { // new format
		tag = b[0] & 0x3f
		switch l0 := int(b[1]); {
		case l0 < 192:
			n, hdr = l0, 2
		case l0 < 224:
			if len(b) < 3 {
				return 0, nil, nil, malformed
			}
			n, hdr = (l0-192)<<8+int(b[2])+192, 3
		case l0 == 255:
			if len(b) < 6 {
				return 0, nil, nil, malformed
			}
			n, hdr = int(uint32(b[2])<<24|uint32(b[3])<<16|uint32(b[4])<<8|uint32(b[5])), 6
		default:
			return 0, nil, nil, malformed
		}
	} else { // old format
		tag = (b[0] >> 2) & 0x0f
		switch b[0] & 3 {
		case 0:
			n, hdr = int(b[1]), 2
		case 1:
			if len(b) < 3 {
				return 0, nil, nil, malformed
			}
			n, hdr = int(b[1])<<8|int(b[2]), 3
		case 2:
			if len(b) < 5 {
				return 0, nil, nil, malformed
			}
			n, hdr = int(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])), 5
		default:
			return 0, nil, nil, malformed
		}
	}
	if n < 0 || n > len(b)-hdr {
		return 0, nil, nil, malformed
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}

// parseError maps a go-crypto read error to ErrKeyParse. Unsupported-feature
// messages name an algorithm or version number and are kept; others (bad
// signatures, structure) get a fixed reason.
func parseError(err error) error {
	var ue pgperrors.UnsupportedError
	if errors.As(err, &ue) {
		msg := string(ue)
		if len(msg) > 120 {
			msg = msg[:120]
		}
		return fmt.Errorf("%w: unsupported: %s", ErrKeyParse, msg)
	}
	var se pgperrors.StructuralError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: malformed key (bad structure or self-signature)", ErrKeyParse)
	}
	return fmt.Errorf("%w: not a readable OpenPGP public key", ErrKeyParse)
}

// evaluate applies the validity and strength rules to a parsed public key.
func evaluate(e *openpgp.Entity, now time.Time, p Policy) (KeyInfo, error) {
	selfSig, _ := e.PrimarySelfSignature()
	if selfSig == nil {
		return KeyInfo{}, fmt.Errorf("%w: no valid self-signature on the primary key", ErrKeyParse)
	}
	info := KeyInfo{Version: e.PrimaryKey.Version, UserIDs: len(e.Identities)}
	var err error
	if info.KeyPart, err = describe(e.PrimaryKey, selfSig); err != nil {
		return KeyInfo{}, fmt.Errorf("%w: primary key: %s", ErrKeyWeak, err.Error())
	}
	if err := usable(e, now, "primary key"); err != nil {
		return KeyInfo{}, err
	}
	if err := strong(e.PrimaryKey, p, "primary key"); err != nil {
		return KeyInfo{}, err
	}

	ek, ok := e.EncryptionKey(now)
	if !ok {
		return KeyInfo{}, whyNoEncryptionKey(e, now)
	}
	// Every encryption subkey not revoked must be strong, whatever its
	// validity dates (see CheckPublicKey): one created in the future is not
	// valid now but becomes the newest valid key later, and one expired
	// here may be valid on another machine's clock.
	for _, c := range encryptionCandidates(e) {
		if c.revoked(now) {
			continue
		}
		if err := strong(c.pub, p, c.what); err != nil {
			return KeyInfo{}, err
		}
	}
	if err := strong(ek.PublicKey, p, "encryption key"); err != nil {
		return KeyInfo{}, err
	}
	if info.Encryption, err = describe(ek.PublicKey, ek.SelfSignature); err != nil {
		return KeyInfo{}, fmt.Errorf("%w: encryption key: %s", ErrKeyWeak, err.Error())
	}
	info.ValidUntil = earliest(info.Expires, sigExpiry(selfSig), info.Encryption.Expires, sigExpiry(ek.SelfSignature))

	if p.MinValidity > 0 {
		later := now.Add(p.MinValidity)
		if _, ok := e.EncryptionKey(later); !ok {
			return KeyInfo{}, fmt.Errorf("%w: the key can no longer encrypt within %s (it expires too soon)", ErrKeyExpired, p.MinValidity)
		}
	}
	return info, nil
}

// usable checks that the primary key and its binding self-signature are
// neither revoked nor expired at now.
func usable(e *openpgp.Entity, now time.Time, what string) error {
	selfSig, ident := e.PrimarySelfSignature()
	switch {
	case e.Revoked(now):
		return fmt.Errorf("%w: %s revoked", ErrKeyRevoked, what)
	case ident != nil && ident.Revoked(now):
		return fmt.Errorf("%w: all user ids revoked", ErrKeyRevoked)
	case e.PrimaryKey.CreationTime.After(now):
		return fmt.Errorf("%w: %s created in the future (check the clock of the machine that made it)", ErrKeyExpired, what)
	case e.PrimaryKey.KeyExpired(selfSig, now):
		return fmt.Errorf("%w: %s expired", ErrKeyExpired, what)
	case selfSig.SigExpired(now):
		return fmt.Errorf("%w: %s self-signature expired", ErrKeyExpired, what)
	}
	return nil
}

// candidate is a key that go-crypto would consider for encryption.
type candidate struct {
	what    string
	pub     *packet.PublicKey
	sig     *packet.Signature
	revoked func(time.Time) bool
}

func (c candidate) expired(now time.Time) bool {
	return c.pub.KeyExpired(c.sig, now) || c.sig.SigExpired(now)
}

func (c candidate) valid(now time.Time) bool { return !c.revoked(now) && !c.expired(now) }

// encryptionCandidates are the subkeys flagged for encrypting
// communications with an encryption algorithm, the same filter as
// go-crypto's Entity.EncryptionKey (the primary key is a fallback there and
// is checked separately).
func encryptionCandidates(e *openpgp.Entity) []candidate {
	var cs []candidate
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		if sk.Sig == nil || !sk.Sig.FlagsValid || !sk.Sig.FlagEncryptCommunications || !sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			continue
		}
		cs = append(cs, candidate{what: "encryption subkey", pub: sk.PublicKey, sig: sk.Sig, revoked: sk.Revoked})
	}
	return cs
}

// whyNoEncryptionKey tells why go-crypto found no key to encrypt to, the
// primary key being usable.
func whyNoEncryptionKey(e *openpgp.Entity, now time.Time) error {
	cs := encryptionCandidates(e)
	if len(cs) == 0 {
		return fmt.Errorf("%w: no encryption subkey (the key can only sign)", ErrKeyCannotEncrypt)
	}
	expired, revoked := 0, 0
	for _, c := range cs {
		switch {
		case c.revoked(now):
			revoked++
		case c.expired(now):
			expired++
		}
	}
	switch {
	case expired > 0:
		return fmt.Errorf("%w: encryption subkey expired", ErrKeyExpired)
	case revoked > 0:
		return fmt.Errorf("%w: encryption subkey revoked", ErrKeyRevoked)
	}
	return fmt.Errorf("%w: no usable encryption subkey", ErrKeyCannotEncrypt)
}

// curves maps go-crypto curve names to GnuPG's names and sizes, per
// algorithm family, with whether the policy accepts them.
type curveInfo struct {
	name string
	bits int
	ok   bool
}

func curveOf(pk *packet.PublicKey) (curveInfo, error) {
	c, err := pk.Curve()
	if err != nil {
		return curveInfo{}, errors.New("unknown elliptic curve")
	}
	legacy25519 := map[packet.PublicKeyAlgorithm]string{packet.PubKeyAlgoECDH: "cv25519", packet.PubKeyAlgoEdDSA: "ed25519", packet.PubKeyAlgoX25519: "cv25519", packet.PubKeyAlgoEd25519: "ed25519"}
	legacy448 := map[packet.PublicKeyAlgorithm]string{packet.PubKeyAlgoECDH: "cv448", packet.PubKeyAlgoEdDSA: "ed448", packet.PubKeyAlgoX448: "cv448", packet.PubKeyAlgoEd448: "ed448"}
	switch c {
	case packet.Curve25519:
		return curveInfo{legacy25519[pk.PubKeyAlgo], 255, legacy25519[pk.PubKeyAlgo] != ""}, nil
	case packet.Curve448:
		return curveInfo{legacy448[pk.PubKeyAlgo], 448, legacy448[pk.PubKeyAlgo] != ""}, nil
	case packet.CurveNistP256:
		return curveInfo{"nistp256", 256, true}, nil
	case packet.CurveNistP384:
		return curveInfo{"nistp384", 384, true}, nil
	case packet.CurveNistP521:
		return curveInfo{"nistp521", 521, true}, nil
	case packet.CurveBrainpoolP256:
		return curveInfo{"brainpoolP256r1", 256, true}, nil
	case packet.CurveBrainpoolP384:
		return curveInfo{"brainpoolP384r1", 384, true}, nil
	case packet.CurveBrainpoolP512:
		return curveInfo{"brainpoolP512r1", 512, true}, nil
	case packet.CurveSecP256k1:
		return curveInfo{"secp256k1", 256, false}, nil
	}
	return curveInfo{name: strings.ToLower(string(c))}, nil
}

var algoNames = map[packet.PublicKeyAlgorithm]string{
	packet.PubKeyAlgoRSA:            "rsa",
	packet.PubKeyAlgoRSAEncryptOnly: "rsa",
	packet.PubKeyAlgoRSASignOnly:    "rsa",
	packet.PubKeyAlgoElGamal:        "elgamal",
	packet.PubKeyAlgoDSA:            "dsa",
	packet.PubKeyAlgoECDH:           "ecdh",
	packet.PubKeyAlgoECDSA:          "ecdsa",
	packet.PubKeyAlgoEdDSA:          "eddsa",
	packet.PubKeyAlgoX25519:         "x25519",
	packet.PubKeyAlgoX448:           "x448",
	packet.PubKeyAlgoEd25519:        "ed25519",
	packet.PubKeyAlgoEd448:          "ed448",
}

func algoName(a packet.PublicKeyAlgorithm) string {
	if n, ok := algoNames[a]; ok {
		return n
	}
	return fmt.Sprintf("algorithm-%d", int(a))
}

// strong applies the algorithm rules to one key.
func strong(pk *packet.PublicKey, p Policy, what string) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		bits, err := pk.BitLength()
		if err != nil {
			return fmt.Errorf("%w: %s: unreadable RSA key", ErrKeyWeak, what)
		}
		if int(bits) < p.minRSABits() {
			return fmt.Errorf("%w: %s is RSA %d bits, at least %d required", ErrKeyWeak, what, bits, p.minRSABits())
		}
		return nil
	case packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		return fmt.Errorf("%w: %s uses %s, which is not allowed (use RSA >= %d bits or Curve25519)", ErrKeyWeak, what, strings.ToUpper(algoName(pk.PubKeyAlgo)), p.minRSABits())
	case packet.PubKeyAlgoECDH, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEdDSA,
		packet.PubKeyAlgoX25519, packet.PubKeyAlgoX448, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoEd448:
		c, err := curveOf(pk)
		if err != nil {
			return fmt.Errorf("%w: %s: %s", ErrKeyWeak, what, err.Error())
		}
		if !c.ok {
			return fmt.Errorf("%w: %s uses curve %s, which is not allowed", ErrKeyWeak, what, c.name)
		}
		return nil
	}
	return fmt.Errorf("%w: %s uses %s, which is not supported", ErrKeyWeak, what, algoName(pk.PubKeyAlgo))
}

// describe fills a KeyPart; sig is the key's binding self-signature.
func describe(pk *packet.PublicKey, sig *packet.Signature) (KeyPart, error) {
	kp := KeyPart{
		Fingerprint: hex.EncodeToString(pk.Fingerprint),
		Algorithm:   algoName(pk.PubKeyAlgo),
		Created:     pk.CreationTime.UTC(),
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly,
		packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		bits, err := pk.BitLength()
		if err != nil {
			return KeyPart{}, errors.New("unreadable key size")
		}
		kp.Bits = int(bits)
	case packet.PubKeyAlgoECDH, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEdDSA,
		packet.PubKeyAlgoX25519, packet.PubKeyAlgoX448, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoEd448:
		c, err := curveOf(pk)
		if err != nil {
			return KeyPart{}, err
		}
		kp.Curve, kp.Bits = c.name, c.bits
	}
	if sig != nil && sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0 {
		kp.Expires = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second).UTC()
	}
	return kp, nil
}

func sigExpiry(sig *packet.Signature) time.Time {
	if sig == nil || sig.SigLifetimeSecs == nil || *sig.SigLifetimeSecs == 0 {
		return time.Time{}
	}
	return sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second).UTC()
}

// earliest returns the earliest non-zero time, or zero.
func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
