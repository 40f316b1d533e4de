// Package sourcetest owns the shared test suite of the sources.Source
// interface. Every Source implementation runs it (Run) with a Harness that
// can change the underlying store (add, modify, delete, rename and move
// documents) and restart the Source over the same persisted state. It checks
// listing, change detection, paging, persistence, byte serving and the HTTP
// publisher handler, so all sources behave alike for the pipeline.
package sourcetest
