// Command extract benchmarks docvet's extraction against the anchor tools on
// the same corpus files in one run, and docvet's throughput with 1, 2 and 4
// sandboxed workers. It prints a markdown table for BENCHMARKS.md.
//
//	go build -o /tmp/docvet ./cmd/docvet
//	go run ./bench/extract -docvet /tmp/docvet [-corpus ../shared/corpus] [-runs 3]
//
// docvet runs as it does in production: a Pool of extract-worker processes
// fed over pipes. The anchors run one process per file, sequentially, as the
// corpus README measured them (pdftotext, docx2txt, xlsx2csv -a, python3's
// email package); an anchor that is not installed is reported as missing.
package main
