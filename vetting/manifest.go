package vetting

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// The manifest lives on the very hidden sheet manifestSheet:
//
//	row 1: "docvet-manifest" | version | request id | scope | generated-at
//	"sheet" | sheet name | data type | header 1 | header 2 | ...        (one per data sheet)
//	"row" | row id | sheet name | extract-content | hash per read-only column | hash per metadata column
//	last row: "signature" | hex HMAC
//
// The signature is HMAC-SHA256 (server key) over every row before it, each
// row with trailing empty cells removed (spreadsheet readers drop them),
// cells length-prefixed. It comes last so export can sign while streaming.
const (
	manifestSheet   = "docvet"
	manifestMagic   = "docvet-manifest"
	manifestVersion = "1"
	recSheet        = "sheet"
	recRow          = "row"
	recSignature    = "signature"
)

type manifestSigner struct{ h hash.Hash }

func newSigner(key []byte) *manifestSigner {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("docvet-vetting-manifest\x00"))
	return &manifestSigner{h: h}
}

// addRow adds one manifest row to the signature.
func (s *manifestSigner) addRow(cells []string) {
	n := len(cells)
	for n > 0 && cells[n-1] == "" {
		n--
	}
	var buf [binary.MaxVarintLen64]byte
	s.h.Write(buf[:binary.PutUvarint(buf[:], uint64(n))])
	for _, c := range cells[:n] {
		s.h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(c)))])
		s.h.Write([]byte(c))
	}
}

func (s *manifestSigner) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

func (s *manifestSigner) verify(sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, s.h.Sum(nil))
}
