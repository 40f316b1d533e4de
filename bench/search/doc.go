// Package main is the search benchmark: it builds (or reuses) an index of
// generated documents with a store holding their entities and ledger rows,
// then runs access-request searches (search.Run, 5 identifiers each: e-mail,
// phone, name, customer id and an unconfigured id) on fresh snapshots and
// prints p50/p95/max latency. See /work/coord/bench-search.md.
package main
