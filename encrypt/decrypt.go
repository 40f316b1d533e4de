package encrypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Sentinel errors of NewIdentity and Decrypt. Returned errors wrap one of
// them with a short reason (never key material or file names).
var (
	// ErrPrivateKeyParse: the private key given to NewIdentity cannot be
	// read, or holds no secret key.
	ErrPrivateKeyParse = errors.New("private key cannot be read")
	// ErrPassphrase: the private key is protected and the passphrase is
	// missing or wrong.
	ErrPassphrase = errors.New("wrong or missing passphrase for the private key")
	// ErrWrongKey: the message is not encrypted to any key of the identity.
	ErrWrongKey = errors.New("message not encrypted to this key")
	// ErrIntegrity: the message is damaged, truncated or tampered with, or
	// has no integrity protection. Whatever was read of it must be
	// discarded.
	ErrIntegrity = errors.New("message integrity check failed")
	// ErrNotEncrypted: the input is not an encrypted OpenPGP message.
	ErrNotEncrypted = errors.New("not an encrypted OpenPGP message")
	// ErrUnsupported: an OpenPGP message using an algorithm or packet
	// version this package does not read.
	ErrUnsupported = errors.New("unsupported OpenPGP message")
)

// maxPrivateKeyBytes caps the private key input (a transferable secret key
// with a few subkeys is a few KiB; RSA-16384 about 10 KiB armored).
const maxPrivateKeyBytes = 1 << 20

// Identity holds decrypted private keys, to decrypt messages with.
type Identity struct {
	keys openpgp.EntityList
}

// NewIdentity reads a private key, armored or binary (a transferable
// secret key or several, as "gpg --export-secret-keys" writes), and
// unlocks it with passphrase when it is protected. A protected key with no
// or a wrong passphrase is refused with ErrPassphrase; anything unreadable,
// or a key without secret parts, with ErrPrivateKeyParse.
//
// The key policy (CheckPublicKey) is not applied: the owner of a key may
// decrypt with it, even expired.
func NewIdentity(armoredOrBinaryPrivateKey []byte, passphrase []byte) (id *Identity, err error) {
	defer func() {
		if r := recover(); r != nil {
			id, err = nil, fmt.Errorf("%w: the OpenPGP parser failed on this key", ErrPrivateKeyParse)
		}
	}()
	in := armoredOrBinaryPrivateKey
	if len(in) > maxPrivateKeyBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d read", ErrPrivateKeyParse, len(in), maxPrivateKeyBytes)
	}
	var el openpgp.EntityList
	if t := bytes.TrimSpace(in); bytes.HasPrefix(t, []byte("-----BEGIN PGP ")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(t))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(in))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable OpenPGP private key", ErrPrivateKeyParse)
	}
	secret := 0
	for _, e := range el {
		if !hasSecret(e) {
			continue
		}
		secret++
		if !encrypted(e) {
			continue
		}
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("%w: the key is protected by a passphrase and none was given", ErrPassphrase)
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("%w: the passphrase does not unlock the key", ErrPassphrase)
		}
	}
	if secret == 0 {
		return nil, fmt.Errorf("%w: no secret key in the input (a public key was given?)", ErrPrivateKeyParse)
	}
	return &Identity{keys: el}, nil
}

func hasSecret(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && !sk.PrivateKey.Dummy() {
			return true
		}
	}
	return false
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() && e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && !sk.PrivateKey.Dummy() && sk.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Plaintext is a message being decrypted.
//
// Body streams the content, but the message's integrity (its modification
// detection code, or AEAD tag) is only known at the end: Body returns
// io.EOF only after it checked out, and an error wrapping ErrIntegrity
// instead when it did not (or on any damage found on the way). Until Body
// returned io.EOF, treat what was read as untrusted, and discard all of it
// on any error: write it to a temporary file and keep that file only at
// io.EOF.
type Plaintext struct {
	// Filename is the name in the literal data packet as the sender wrote
	// it: untrusted, it may hold path separators, "..", control characters
	// or nothing at all. Sanitise it before using it as a path.
	Filename string
	// ModTime is the literal data packet's time; zero when not set.
	ModTime time.Time
	// Body is the content; see above for when it can be trusted.
	Body io.Reader
}

// OpenPGP packet tags that may open an encrypted message.
const (
	tagPKESK  = 1
	tagSKESK  = 3
	tagSED    = 9
	tagMarker = 10
	tagAEAD   = 20
)

// Decrypt starts decrypting one OpenPGP message (binary or armored) read
// from src with the identity's keys. It reads src up to the start of the
// literal data; the content then streams from the returned Plaintext's
// Body, in constant memory.
//
// Errors wrap ErrNotEncrypted (not an encrypted OpenPGP message: a plain
// or signed-only message, a key, anything else), ErrWrongKey (no key of
// the identity can decrypt it), ErrIntegrity (damaged, or without
// integrity protection: the old SED packet is refused), ErrUnsupported, or
// are read errors of src. Compressed messages (GnuPG compresses by default)
// are read; decompressed size is not limited here, so callers writing the
// content out must bound it. Signatures in the message are neither needed
// nor verified.
func (id *Identity) Decrypt(src io.Reader) (pt *Plaintext, err error) {
	defer func() {
		if r := recover(); r != nil {
			pt, err = nil, fmt.Errorf("%w: the OpenPGP parser failed on this message", ErrIntegrity)
		}
	}()
	sr := &sourceReader{r: src}
	br := bufio.NewReaderSize(sr, 32<<10)
	var in io.Reader = br
	first, err := firstByte(br)
	if err != nil {
		if sr.err != nil {
			return nil, fmt.Errorf("read message: %w", sr.err)
		}
		return nil, fmt.Errorf("%w: empty input", ErrNotEncrypted)
	}
	if first == '-' {
		block, err := armor.Decode(br)
		if err != nil || block.Type != "PGP MESSAGE" {
			return nil, fmt.Errorf("%w: not an armored PGP message", ErrNotEncrypted)
		}
		in = bufio.NewReaderSize(block.Body, 32<<10)
		if first, err = firstByte(in.(*bufio.Reader)); err != nil {
			return nil, fmt.Errorf("%w: empty armored message", ErrNotEncrypted)
		}
	}
	if tag, ok := packetTag(first); !ok || (tag != tagPKESK && tag != tagSKESK && tag != tagSED && tag != tagMarker && tag != tagSEIPD && tag != tagAEAD) {
		return nil, fmt.Errorf("%w: the input does not start with an encrypted message", ErrNotEncrypted)
	}

	ring := &matchRing{EntityList: id.keys}
	md, err := openpgp.ReadMessage(in, ring, nil, &packet.Config{})
	if err != nil {
		return nil, classify(err, sr, ring.matched)
	}
	if !md.IsEncrypted || md.LiteralData == nil {
		return nil, fmt.Errorf("%w: the message is not encrypted", ErrNotEncrypted)
	}
	pt = &Plaintext{
		Filename: md.LiteralData.FileName,
		Body:     &bodyReader{r: md.UnverifiedBody, src: sr},
	}
	if md.LiteralData.Time != 0 {
		pt.ModTime = time.Unix(int64(md.LiteralData.Time), 0).UTC()
	}
	return pt, nil
}

// firstByte peeks at the first byte that is not white space.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.ReadByte()
			continue
		}
		return b[0], nil
	}
}

// packetTag reads the tag of an old- or new-format packet header byte.
func packetTag(b byte) (byte, bool) {
	if b&0x80 == 0 {
		return 0, false
	}
	if b&0x40 != 0 {
		return b & 0x3f, true
	}
	return (b >> 2) & 0x0f, true
}

// classify maps a ReadMessage error to the package's sentinels.
func classify(err error, sr *sourceReader, matched bool) error {
	var ue pgperrors.UnsupportedError
	var de pgperrors.DecryptWithSessionKeyError
	var sigErr pgperrors.SignatureError
	switch {
	case sr.err != nil:
		return fmt.Errorf("read message: %w", sr.err)
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		if matched {
			// A session key packet names our key but what it holds does
			// not decrypt the data: damaged, or forged.
			return fmt.Errorf("%w: the session key for this key does not decrypt the message", ErrIntegrity)
		}
		return ErrWrongKey
	case errors.As(err, &ue):
		if string(ue) == "message is not integrity protected" {
			return fmt.Errorf("%w: the message has no integrity protection (refused)", ErrIntegrity)
		}
		msg := string(ue)
		if len(msg) > 120 {
			msg = msg[:120]
		}
		return fmt.Errorf("%w: %s", ErrUnsupported, msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the message is truncated", ErrIntegrity)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: no encrypted data in the message", ErrNotEncrypted)
	case errors.As(err, &de), errors.As(err, &sigErr), errors.Is(err, pgperrors.ErrMDCHashMismatch):
		return fmt.Errorf("%w: the message is damaged", ErrIntegrity)
	}
	return fmt.Errorf("%w: malformed OpenPGP message", ErrNotEncrypted)
}

// sourceReader remembers the source's own read errors, to tell them from
// errors about the message.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// matchRing records whether a session key packet named one of our keys.
type matchRing struct {
	openpgp.EntityList
	matched bool
}

func (m *matchRing) KeysById(id uint64) []openpgp.Key {
	keys := m.EntityList.KeysById(id)
	for _, k := range keys {
		if k.PrivateKey != nil {
			m.matched = true
		}
	}
	return keys
}

// bodyReader maps body errors to ErrIntegrity (or the source's read
// error) and makes them sticky.
type bodyReader struct {
	r   io.Reader
	src *sourceReader
	err error
}

func (b *bodyReader) Read(p []byte) (n int, err error) {
	if b.err != nil {
		return 0, b.err
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w: the OpenPGP parser failed on this message", ErrIntegrity)
			b.err = err
		}
	}()
	n, err = b.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if b.src.err != nil {
		b.err = fmt.Errorf("read message: %w", b.src.err)
	} else {
		b.err = fmt.Errorf("%w: the message is damaged, truncated or was tampered with", ErrIntegrity)
	}
	return n, b.err
}
