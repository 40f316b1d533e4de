// Package corpus owns the measurement of extracted text against the shared
// real-world corpus (../shared/corpus): locating it, reading the anchors'
// statuses (reference/ANCHORS.tsv), tokenising, and scoring recall and
// precision (also for words only, and against the better of several
// anchors), plus the check that every e-mail address and phone number of a
// reference text survives. The per-format corpus tests, the dispatcher's
// quality test and bench/extract all score with this one definition.
//
// It also owns the harnesses those tests share (Load, PrimaryRecall,
// BestAnchorRecall, Bench); they take testing.TB, so the package is for
// tests and benchmarks only.
package corpus
