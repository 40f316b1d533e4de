// Command bench-ingest is the end-to-end benchmark of the ingestion
// pipeline (index/ingest) against a generated file share (or an existing
// folder, -share), side by side with Recoll's recollindex over the same
// folder. -overlap runs the pipeline during the pull, kicked after every
// pulled page as docvet serve does; -live also runs the scan at the same
// time (a running source and docvet serve); -batch, -batch-bytes,
// -concurrency and -scorch (extra scorch kvconfig) measure one change at a
// time; -cpuprofile writes a profile of the pull and ingest phases,
// -memprofile a heap profile at the largest heap seen. Results go to
// BENCHMARKS.md.
package main
