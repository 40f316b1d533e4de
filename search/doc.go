// Package search owns the subject side of matching (SPEC §6): normalising
// a data subject's identifiers, running one point-in-time query over a
// consistent index snapshot with queries built in code (never a query-string
// parser), and the hit snapshot stored with the access request: per hit the
// document's fields, which identifiers matched and how often, and a few
// highlighted snippets with their locations. The snapshot is never re-run
// by itself; a new request is needed for new results.
package search
