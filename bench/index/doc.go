// Package main is the index benchmark: it indexes generated documents of
// about 2 KB of text either with a minimal raw Bleve batch indexer using the
// same mapping as package index (identifier terms computed before the clock
// starts) or through index.Apply (identifier extraction included), and
// prints docs/s and peak RSS. Run each mode in its own process so peak RSS
// is per mode; see /work/coord/bench-index.md for the command.
package main
