// Package server owns docvet's core HTTP service: its configuration, the one
// route table (routes.go), the JSON push receivers (custom-documents,
// gdpr-data-type-in, gdpr-access-request-in, gdpr-subject-in) with full-sync
// sequences, the access-request runner and vetting workbook endpoints, the
// JSON pull publishers of the stored datasets, bearer-token (JWT)
// authorisation, data-type registration (push and the setup spreadsheet),
// the pullers that copy each configured document source into the store, and
// the admin endpoints that show what was rejected and how each source is
// doing.
//
// # Guarantees
//
// Everything acknowledged with a 2xx is committed to the store first, so a
// crash never loses accepted data. Error responses name properties, entity
// ids and data-type ids, never property values; logs carry hashed entity ids.
//
// # Push protocol (SPEC §2, Sesam JSON push)
//
// The body is a JSON array or one object. Incremental pushes (is_full absent
// or false) upsert; an entity with "_deleted": true is a delete; their
// sequence parameters are informational. A full sync (is_full=true) is a
// sequence: is_first=true starts it (replacing any active one), each next
// request must carry the same sequence_id and previous_request_id equal to
// the last accepted request_id, and is_last=true ends it: in the same
// transaction as that last batch, every entity of the dataset not seen in the
// sequence becomes a tombstone. Out-of-order requests (unknown sequence,
// wrong previous_request_id, after is_last, is_full=false inside an active
// sequence) get 409 and change nothing; the sender restarts with is_first. A
// retry of the last accepted request (same sequence_id and request_id and
// the same body, compared by SHA-256) is idempotent (200, "duplicate"); the
// same ids with a different body are a new request: with is_first=true a new
// full sync (so a sender reusing fixed ids for one-request full syncs is
// served), otherwise 409. The sequence state is kept per dataset in store
// state, committed with each batch.
//
// Status codes: 200 all accepted; 422 some entities rejected (the valid ones
// are committed and the request counts as accepted in its sequence; an
// entity whose new version was rejected is not swept by the full sync); 400
// malformed body (the entities before the syntax error are committed, the
// request is not accepted into a sequence), a body that broke off while
// being read (client gone, read timeout: nothing stored) or bad parameters;
// 409 out of sequence; 413 body over limits.max_request_body (nothing stored); 415 not
// application/json. The body is {"accepted","changed","deleted","rejected":
// [{"_id","index","reason"}],"error"}. Rejections are recorded in the store
// (GET /api/admin/rejections) and cleared when a valid version arrives.
//
// Incoming entities' system properties (_updated, _ts, _hash, ...) belong
// to the sender and are never validated: _updated is an opaque since-token
// of any JSON type (SPEC §2). Stored entities get our own _updated.
//
// # Publishers and scopes
//
// GET /api/publishers/{dataset}/entities?since=&limit= serves a dataset in
// _updated order. A response carries at most limits.max_publish_entities
// entities (the default and cap of limit; clients continue with since). It
// is read from the store a page at a time (1000 entities or 4 MiB) and the
// read connection is released before each page is written, within
// limits.publish_write_timeout, so slow clients cannot starve the store.
// Token scopes: push (receivers), read (/api/status and the publishers of
// documents, sources and data types), subjects (the publisher of access
// requests, which carry subject ids and public keys), admin (/api/admin/*).
// They do not imply each other.
//
// # Pulling sources
//
// A puller reads pages until one is empty or the since-token stops moving
// (a publisher may cap its pages below batch_size). An entity over
// limits.max_entity_bytes whose _id and _updated can be read is skipped
// without buffering it and recorded as a rejection ("entity larger than N
// bytes"); one whose _updated cannot be read stops the source with status
// entity_too_large.
//
// # Data types and re-pulls
//
// A document (pushed or pulled) whose gdpr-data-type:data-type-id is not a
// registered data type is rejected with that reason. When data types are
// added (push or POST /api/admin/setup), every source with recorded
// rejections re-pulls from the start; a pulled batch checked before such an
// addition and committed with rejections after it triggers the re-pull too
// (the type cache has a generation). The re-pull is idempotent, since
// unchanged entities get no new sequence number and publish nothing new.
// The setup spreadsheet is all or nothing and never deletes data types.
//
// # Access requests and vetting (SPEC §6, §7, §9)
//
// gdpr-access-request-in validates each request with
// search.ParseAccessRequest and its public key with encrypt.CheckPublicKey
// (default policy); an invalid one is rejected (422, the reason names the
// property and problem, never a value) and nothing of it is stored. The
// server sets gdpr-access-request:timestamp when it first registers the
// request. A stored request gets the lifecycle state "received" in the
// push's transaction. gdpr-subject-in stores gdpr-subject entities
// (search.ParseSubject); they are published at
// /api/publishers/gdpr-subject/entities with the subjects scope.
//
// The request runner (requests.go) searches every "received" request: on a
// push (kick) and at start (resume; the states are in the store, so a crash
// loses nothing), and again every few seconds while the index is not open.
// It assembles the identifiers (the request's plus those of every subject
// whose subject-id equals the request's user-id, with the index section's
// identifier options), takes ONE index snapshot, runs search.Run over all
// registered data types, and saves the point-in-time result (state
// "searched", then "awaiting-review"). A request with no searchable
// identifier is "failed" with the reason. A request re-pushed with the same
// id is stored but NOT searched again (its answer is point in time); a
// delete-request=true request is recorded and, for now, handled like an
// access request.
//
// GET /api/access-requests/{id} shows the state and counts (hits per data
// type, not-searchable documents, decisions per data type). GET
// /api/access-requests/{id}/workbook[?data-type=] streams the vetting
// workbook as an attachment; its manifest is signed with a key derived from
// the server secret with a domain label (never the JWT secret itself). POST
// to the same path uploads the reviewed workbook (the raw .xlsx body, at
// most limits.max_request_body): vetting.Import checks it against the
// manifest and the request's snapshot; a refused workbook gets 422 with its
// problems (sheet, row, column) and stores nothing. An accepted one
// replaces the decisions of its scope (all, or one data type), each also
// appended to the audit trail with the reviewer (the token's subject) and
// time, and once every data type with hits has decisions the request is
// "reviewed". Uploads are accepted while the request is awaiting-review or
// reviewed, i.e. until delivery starts. All three need the subjects scope.
//
// # Shutdown
//
// Serve stops accepting, waits up to shutdown_timeout for requests in
// flight, then closes the connections of those still running (their
// contexts end, so nothing half-read is committed) and waits for them. The
// pullers stop at once but commit the entities they already received.
package server
