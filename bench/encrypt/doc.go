// Command encrypt measures docvet's streaming OpenPGP encryption against
// GnuPG on the same files in one run: wall time, throughput and peak RSS of
// docvet's encryption (encrypt.Recipient into a file, in a child process of
// this binary) and of "gpg --encrypt" without and with its default
// compression, for generated files of the given sizes. A ratio >= 1 means
// docvet is at least as fast as GnuPG without compression.
//
//	go run ./bench/encrypt -sizes 1MB,100MB,1GB -dir /tmp
package main
