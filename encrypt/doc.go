// Package encrypt owns OpenPGP for docvet (SPEC §8): the policy a data
// subject's public key must meet before an access request is filed
// (CheckPublicKey), and, later, the streaming encryption of the approved
// documents and their metadata to that key (issue 6).
//
// It builds on github.com/ProtonMail/gopenpgp/v2 and the go-crypto OpenPGP
// entity underneath it, and enforces what gopenpgp does not: gopenpgp v2
// accepts RSA-1024 and cannot parse v5 keys, so key strength, versions and
// validity are checked here, at a caller-given time. A check holds for the
// time it was made: delivery must check the key again when it encrypts.
//
// Keys are personal data: nothing here logs them, their user ids or their
// fingerprints, and errors name the problem, never key material.
package encrypt
