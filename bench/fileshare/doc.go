//go:build unix

// Command fileshare benchmarks the file-share source on a generated share:
// first scan, no-change rescan, a rescan after 1% changes and 1% deletions,
// and a full JSON pull of every entity over HTTP. Each phase runs in its own
// child process so its peak RSS (getrusage ru_maxrss) is its own.
//
//	go run ./bench/fileshare -n 100000
//
// The share and state live in a temporary directory (removed unless -keep).
package main
