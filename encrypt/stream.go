package encrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Recipient is a data subject's public key that passed the key policy at a
// given time, ready to encrypt to. Make one per delivery with NewRecipient:
// it encrypts to the key that check picked.
type Recipient struct {
	info KeyInfo
	pub  *packet.PublicKey
}

// NewRecipient checks an armored public key against p at time now (exactly
// as CheckPublicKey: a key valid when the request was filed may have expired
// or been revoked since) and returns a Recipient that encrypts to the
// encryption key that check describes. Errors wrap the same sentinels as
// CheckPublicKey.
func NewRecipient(armoredPublicKey string, now time.Time, p Policy) (*Recipient, error) {
	e, info, err := checkPublicKey(armoredPublicKey, now, p)
	if err != nil {
		return nil, err
	}
	ek, ok := e.EncryptionKey(now)
	if !ok || hex.EncodeToString(ek.PublicKey.Fingerprint) != info.Encryption.Fingerprint {
		// evaluate found this very key a moment ago.
		return nil, fmt.Errorf("%w: no usable encryption key", ErrKeyCannotEncrypt)
	}
	return &Recipient{info: info, pub: ek.PublicKey}, nil
}

// Key describes the key encrypted to, as checked by NewRecipient.
func (r *Recipient) Key() KeyInfo { return r.info }

// Message format constants (RFC 4880).
const (
	// chunkSize is the partial body length used for both the encrypted
	// data packet and the literal data packet inside it (2^16: large
	// enough for one write per chunk, small enough to keep memory flat).
	chunkSize    = 1 << 16
	chunkPower   = 16
	hdrRoom      = 6 // room before a chunk for a tag and a five-octet length
	maxNameBytes = 255

	tagLiteral = 11
	tagSEIPD   = 18
	tagMDC     = 19

	seipdVersion1 = 1
	literalBinary = 'b'
	mdcLength     = sha1.Size
)

// Encrypt starts one OpenPGP message to r on dst and returns the writer the
// plaintext goes to; Close finishes the message (it does not close dst).
//
// The message is what GnuPG 2.2 and OpenPGP.js read (SPEC §8): a v3
// public-key encrypted session key packet, then a symmetrically encrypted
// integrity-protected data packet version 1 (AES-256 in OpenPGP CFB mode,
// SHA-1 modification detection code), holding one binary ('b') literal
// data packet with the file name and modification time. There is no AEAD
// (SEIPD v2 and the LibrePGP OCB packet are unreadable by GnuPG 2.2 and
// older OpenPGP.js), no signature, no armor, and no compression: the
// documents delivered are mostly compressed already (PDF, Office, images),
// compressing costs CPU for nothing on them, and a compression layer would
// leak the plaintext's compressibility through the ciphertext size.
// AES-256 is used whatever the key's preference list says: every
// implementation we deliver to has it.
//
// filename is the original file name; only its base name (after the last
// '/' or '\') is kept, invalid UTF-8 is replaced and it is cut to 255 bytes
// at a character boundary, keeping the extension. A zero modTime, or one
// outside OpenPGP's 32-bit range, is sent as 0 ("no time").
//
// Memory is constant whatever the size: four 64 KiB chunk buffers. Writes
// reach dst one chunk (64 KiB + a header byte) at a time, so dst needs no
// extra buffering. From the first full chunk on, dst is written from
// another goroutine (never concurrently, in order; Close waits for it),
// and a write error of dst comes back from a later Write or from Close.
// The returned writer is not safe for concurrent use; after an error every
// call returns it.
func (r *Recipient) Encrypt(dst io.Writer, filename string, modTime time.Time) (io.WriteCloser, error) {
	if dst == nil {
		return nil, errors.New("encrypt: nil destination")
	}
	var sessionKey [32]byte
	if _, err := rand.Read(sessionKey[:]); err != nil {
		return nil, fmt.Errorf("encrypt: session key: %w", err)
	}
	defer clear(sessionKey[:])
	var pkesk strings.Builder
	if err := packet.SerializeEncryptedKeyAEAD(&pkesk, r.pub, packet.CipherAES256, false, sessionKey[:], nil); err != nil {
		return nil, fmt.Errorf("encrypt: session key packet: %w", err)
	}
	block, err := aes.NewCipher(sessionKey[:])
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := io.WriteString(dst, pkesk.String()); err != nil {
		return nil, err
	}

	w := &messageWriter{
		dst:  dst,
		cfb:  cfbEncrypter{b: block, used: aes.BlockSize},
		mdc:  sha1.New(),
		outs: [2][]byte{make([]byte, hdrRoom+chunkSize), make([]byte, hdrRoom+chunkSize)},
		lits: [2][]byte{make([]byte, hdrRoom+chunkSize), make([]byte, hdrRoom+chunkSize)},
	}
	// The encrypted packet's body starts with its version, in clear.
	w.outs[0][hdrRoom] = seipdVersion1
	w.outN = 1
	// Then, encrypted and hashed: a random block and a repeat of its last
	// two bytes (the "quick check" of RFC 4880 §5.13), as plain CFB with a
	// zero IV over the whole stream (no resynchronisation in SEIPD).
	var prefix [aes.BlockSize + 2]byte
	if _, err := rand.Read(prefix[:aes.BlockSize]); err != nil {
		return nil, fmt.Errorf("encrypt: prefix: %w", err)
	}
	prefix[aes.BlockSize], prefix[aes.BlockSize+1] = prefix[aes.BlockSize-2], prefix[aes.BlockSize-1]
	w.mdc.Write(prefix[:])
	w.seal(prefix[:])

	// The literal packet's own header fields open its first chunk.
	name := literalName(filename)
	body := w.lits[0][hdrRoom:]
	body[0] = literalBinary
	body[1] = byte(len(name))
	n := 2 + copy(body[2:], name)
	binary.BigEndian.PutUint32(body[n:], literalTime(modTime))
	w.litN = n + 4
	return w, nil
}

// messageWriter writes one message: plaintext goes into a literal chunk
// buffer; a full chunk is framed and sealed (hashed for the MDC and
// encrypted into the encrypted packet's chunk buffer), which is framed and
// written to dst when full. A full chunk is sent as a partial body only
// once more data comes, so the last chunk, never partial, is never empty.
//
// From the first full chunk on, SHA-1 runs on one goroutine and the
// writes to dst on another while the next chunk is encrypted (CFB
// encryption is serial, about as costly as the other two together): each
// buffer pair alternates, so one fills while the other is hashed or
// written.
type messageWriter struct {
	dst io.Writer
	cfb cfbEncrypter
	mdc hash.Hash

	outs       [2][]byte // hdrRoom, then ciphertext of the encrypted packet's body
	curOut     int       // the encrypted buffer being filled
	outN       int
	outStarted bool // the encrypted packet's tag was written

	lits       [2][]byte // hdrRoom, then the literal packet's body
	cur        int       // the literal buffer being filled
	litN       int
	litStarted bool // the literal packet's tag was sealed

	// Both nil until the first full chunk.
	hasher  *asyncHash
	writer  *asyncWriter
	cleanup runtime.Cleanup

	err    error
	closed bool
}

var errClosed = errors.New("encrypt: write after close")

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errClosed
	}
	written := 0
	for len(p) > 0 {
		if w.litN == chunkSize {
			w.sealLiteral(false)
			if w.err != nil {
				return written, w.err
			}
		}
		k := copy(w.lits[w.cur][hdrRoom+w.litN:], p)
		w.litN += k
		written += k
		p = p[k:]
	}
	return written, nil
}

// Close seals the last literal chunk and the modification detection code
// and writes the last encrypted chunk. It does not close dst.
func (w *messageWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.sealLiteral(true)
	}
	if w.hasher != nil {
		w.hasher.wait(0)
	}
	if w.err != nil {
		w.stopStages()
		return w.err
	}
	// MDC packet: its tag and length are hashed, then the SHA-1 of
	// everything sealed so far is appended, encrypted but not hashed.
	var mdc [2 + mdcLength]byte
	mdc[0], mdc[1] = 0xc0|tagMDC, mdcLength
	w.mdc.Write(mdc[:2])
	w.mdc.Sum(mdc[:2])
	w.seal(mdc[:])
	w.flushOut(true)
	w.stopStages()
	return w.err
}

// stopStages waits for the hash and write goroutines and ends them.
func (w *messageWriter) stopStages() {
	if w.hasher == nil {
		return
	}
	w.hasher.wait(0)
	if err := w.writer.wait(0); err != nil && w.err == nil {
		w.err = err
	}
	w.cleanup.Stop()
	w.hasher.stop()
	w.writer.stop()
}

// sealLiteral frames the literal chunk (partial or final), hashes and
// seals it, and switches to the other literal buffer.
func (w *messageWriter) sealLiteral(final bool) {
	lit := w.lits[w.cur]
	h := frameHeader(lit[:hdrRoom], tagLiteral, !w.litStarted, final, w.litN)
	w.litStarted = true
	chunk := lit[hdrRoom-h : hdrRoom+w.litN]
	w.litN = 0
	if w.hasher == nil && !final {
		w.hasher = startHash(w.mdc)
		w.writer = startWriter(w.dst)
		// A writer dropped without Close must not leave the goroutines.
		w.cleanup = runtime.AddCleanup(w, func(s stages) { s.h.stop(); s.w.stop() }, stages{w.hasher, w.writer})
	}
	if w.hasher == nil {
		w.mdc.Write(chunk)
		w.seal(chunk)
		return
	}
	w.hasher.submit(chunk)
	w.seal(chunk)
	w.cur ^= 1
	// The buffer filled next was hashed two chunks ago: wait for it.
	w.hasher.wait(1)
}

// seal encrypts p into the encrypted packet's chunk buffer, writing full
// chunks out as partial bodies.
func (w *messageWriter) seal(p []byte) {
	if w.err != nil {
		return
	}
	for len(p) > 0 {
		if w.outN == chunkSize {
			if w.flushOut(false); w.err != nil {
				return
			}
		}
		k := min(len(p), chunkSize-w.outN)
		start := hdrRoom + w.outN
		w.cfb.xor(w.outs[w.curOut][start:start+k], p[:k])
		w.outN += k
		p = p[k:]
	}
}

// asyncHash feeds a hash on its own goroutine, in submission order. At
// most two chunks are outstanding.
type asyncHash struct {
	jobs    chan []byte
	done    chan struct{}
	pending int
	once    sync.Once
}

func startHash(h hash.Hash) *asyncHash {
	a := &asyncHash{jobs: make(chan []byte, 2), done: make(chan struct{}, 2)}
	go func(h hash.Hash, jobs <-chan []byte, done chan<- struct{}) {
		for p := range jobs {
			h.Write(p)
			done <- struct{}{}
		}
	}(h, a.jobs, a.done)
	return a
}

func (a *asyncHash) submit(p []byte) {
	a.jobs <- p
	a.pending++
}

// wait returns once at most n chunks are still being hashed.
func (a *asyncHash) wait(n int) {
	for a.pending > n {
		<-a.done
		a.pending--
	}
}

func (a *asyncHash) stop() { a.once.Do(func() { close(a.jobs) }) }

// asyncWriter writes chunks to dst on its own goroutine, in order. At most
// two chunks are outstanding; after an error it writes nothing more.
type asyncWriter struct {
	jobs    chan []byte
	done    chan error
	pending int
	err     error
	once    sync.Once
}

func startWriter(dst io.Writer) *asyncWriter {
	a := &asyncWriter{jobs: make(chan []byte, 2), done: make(chan error, 2)}
	go func(dst io.Writer, jobs <-chan []byte, done chan<- error) {
		var err error
		for p := range jobs {
			if err == nil {
				_, err = dst.Write(p)
			}
			done <- err
		}
	}(dst, a.jobs, a.done)
	return a
}

func (a *asyncWriter) submit(p []byte) {
	a.jobs <- p
	a.pending++
}

// wait returns once at most n chunks are still being written, with the
// first write error.
func (a *asyncWriter) wait(n int) error {
	for a.pending > n {
		if err := <-a.done; err != nil && a.err == nil {
			a.err = err
		}
		a.pending--
	}
	return a.err
}

func (a *asyncWriter) stop() { a.once.Do(func() { close(a.jobs) }) }

// stages are the goroutines of one message, for its cleanup.
type stages struct {
	h *asyncHash
	w *asyncWriter
}

// flushOut frames the encrypted packet's chunk and writes it: directly
// for a short message, else through the write goroutine while the next
// chunk is encrypted into the other buffer.
func (w *messageWriter) flushOut(final bool) {
	if w.err != nil {
		return
	}
	out := w.outs[w.curOut]
	h := frameHeader(out[:hdrRoom], tagSEIPD, !w.outStarted, final, w.outN)
	w.outStarted = true
	frame := out[hdrRoom-h : hdrRoom+w.outN]
	w.outN = 0
	if w.writer == nil {
		if _, err := w.dst.Write(frame); err != nil {
			w.err = err
		}
		return
	}
	w.writer.submit(frame)
	w.curOut ^= 1
	// The buffer filled next was written two chunks ago: wait for it.
	if err := w.writer.wait(1); err != nil {
		w.err = err
	}
}

// frameHeader writes, right-aligned in room (hdrRoom bytes), the packet tag
// (when first) and the length of a chunk of n bytes: a partial body length
// of 2^chunkPower unless final, else a definite new-format length (RFC 4880
// §4.2.2). It returns the header's size.
func frameHeader(room []byte, tag byte, first, final bool, n int) int {
	var l [5]byte
	var ll int
	switch {
	case !final:
		l[0], ll = 0xe0|chunkPower, 1
	case n < 192:
		l[0], ll = byte(n), 1
	case n < 8384:
		m := n - 192
		l[0], l[1], ll = byte(m>>8)+192, byte(m), 2
	default:
		l[0] = 0xff
		binary.BigEndian.PutUint32(l[1:], uint32(n))
		ll = 5
	}
	h := ll
	copy(room[hdrRoom-ll:], l[:ll])
	if first {
		h++
		room[hdrRoom-h] = 0xc0 | tag
	}
	return h
}

// cfbEncrypter is CFB mode with whole blocks handled 16 bytes at a time
// (go-crypto's OpenPGP CFB works byte by byte, several times slower).
// Without resynchronisation, OpenPGP's CFB for SEIPD is exactly this mode
// with a zero IV over prefix and data.
type cfbEncrypter struct {
	b    cipher.Block
	fre  [aes.BlockSize]byte // feedback register: last ciphertext block, or keystream being used
	used int                 // bytes of fre already used as keystream
}

func (c *cfbEncrypter) xor(dst, src []byte) {
	_ = dst[:len(src)]
	for len(src) > 0 && c.used < aes.BlockSize {
		c.fre[c.used] ^= src[0]
		dst[0] = c.fre[c.used]
		c.used++
		src, dst = src[1:], dst[1:]
	}
	for len(src) >= aes.BlockSize {
		c.b.Encrypt(c.fre[:], c.fre[:])
		x0 := binary.LittleEndian.Uint64(c.fre[0:]) ^ binary.LittleEndian.Uint64(src[0:])
		x1 := binary.LittleEndian.Uint64(c.fre[8:]) ^ binary.LittleEndian.Uint64(src[8:])
		binary.LittleEndian.PutUint64(c.fre[0:], x0)
		binary.LittleEndian.PutUint64(c.fre[8:], x1)
		binary.LittleEndian.PutUint64(dst[0:], x0)
		binary.LittleEndian.PutUint64(dst[8:], x1)
		src, dst = src[aes.BlockSize:], dst[aes.BlockSize:]
	}
	if len(src) > 0 {
		c.b.Encrypt(c.fre[:], c.fre[:])
		for i := range src {
			c.fre[i] ^= src[i]
			dst[i] = c.fre[i]
		}
		c.used = len(src)
	}
}

// literalName is the file name put in the literal packet: the base name,
// valid UTF-8, at most 255 bytes cut at a character boundary keeping the
// extension (when the extension is short).
func literalName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	if len(name) <= maxNameBytes {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
	}
	return truncateUTF8(name[:len(name)-len(ext)], maxNameBytes-len(ext)) + ext
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// literalTime is modTime as OpenPGP's unsigned 32-bit seconds, or 0.
func literalTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if s <= 0 || s > 1<<32-1 {
		return 0
	}
	return uint32(s)
}
