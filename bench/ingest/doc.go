// Command bench-ingest is the end-to-end benchmark of the ingestion
// pipeline (index/ingest) against a generated file share, side by side with
// Recoll's recollindex over the same folder. See main.go for the commands;
// results go to BENCHMARKS.md.
package main
