// Package corpus owns the measurement of extracted text against the shared
// real-world corpus (../shared/corpus): locating it, reading the anchors'
// statuses (reference/ANCHORS.tsv), tokenising, and scoring recall and
// precision, plus the check that every e-mail address and phone number of a
// reference text survives. The per-format corpus tests, the dispatcher's
// quality test and bench/extract all score with this one definition.
package corpus
