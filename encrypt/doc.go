// Package encrypt owns OpenPGP for docvet (SPEC §8): the policy a data
// subject's public key must meet before an access request is filed
// (CheckPublicKey), the streaming encryption of the approved documents and
// their metadata to that key (NewRecipient, Recipient.Encrypt), and the
// decryption the subject (or a test) does with the private key
// (NewIdentity, Identity.Decrypt; "docvet decrypt").
//
// It builds on github.com/ProtonMail/gopenpgp/v2 and the go-crypto OpenPGP
// entity underneath it, and enforces what gopenpgp does not: gopenpgp v2
// accepts RSA-1024 and cannot parse v5 keys, so key strength, versions and
// validity are checked here, at a caller-given time. A check holds for the
// time it was made: NewRecipient checks the key again when delivery
// encrypts.
//
// Messages are written for GnuPG 2.2 and OpenPGP.js: v3 PKESK, SEIPD v1
// (AES-256, SHA-1 MDC), binary literal data with the file name, no AEAD,
// no compression, no armor, no signature. go-crypto writes the session key
// packet; the encrypted data and literal packets are framed here (64 KiB
// partial-length chunks, block-wise CFB, the MDC hash on a second
// goroutine) to stream in constant memory at GnuPG's speed or better
// (BENCHMARKS.md, "Encryption"). Decryption is go-crypto's reader wrapped
// so that every failure maps to a sentinel and integrity failures (known
// only at the end of the content) surface as ErrIntegrity from the body
// reader: callers keep nothing until it returned io.EOF.
//
// Keys are personal data: nothing here logs them, their user ids or their
// fingerprints, and errors name the problem, never key material, file names
// or passphrases.
package encrypt
