package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/docvet/docvet/server"
	"github.com/docvet/docvet/store"
)

// runAudit implements "docvet audit verify|show".
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "audit", args, stdout, stderr, []named{
		{"verify", runAuditVerify}, {"show", runAuditShow}})
}

// auditStore opens the store when no docvet serve holds it; ok is false
// when serve runs (ask its API instead).
func auditStore(ctx context.Context, cfg server.Config) (*store.Store, bool, error) {
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "docvet.db"), store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

// errAuditBroken: exit 1 with the broken entry named.
var errAuditBroken = errors.New("audit log chain is broken")

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newIndexFlags("audit verify", `Checks the hash chain of the audit log: every entry must name its
predecessor's hash and hash to its own. Prints the number of entries and the
head hash (keep a copy elsewhere: a chain cannot show that its newest entries
were cut off). Exits 1 when the chain is broken, naming the first bad entry.
Works with docvet serve running (it asks the service) or stopped.
`, stderr, false)
	cfg, _, err := f.parse(args, stderr)
	if err != nil {
		return err
	}
	var v server.AuditVerification
	st, ok, err := auditStore(ctx, cfg)
	switch {
	case err != nil:
		return err
	case ok:
		defer st.Close()
		secret, err := server.LoadSecret(cfg.Auth.SecretFile)
		if err != nil {
			return fmt.Errorf("the audit chain is keyed with the server secret: %w", err)
		}
		st.SetAuditKey(server.AuditChainKey(secret))
		sum, err := st.VerifyAudit(ctx)
		switch {
		case errors.Is(err, store.ErrAuditBroken):
			v.Error = err.Error()
		case err != nil:
			return err
		default:
			v = server.AuditVerification{OK: true, Entries: sum.Entries, Head: sum.Head}
		}
	default:
		b, err := localAPIGet(ctx, cfg, server.ScopeAdmin, "/api/admin/audit/verify")
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("read verification: %w", err)
		}
	}
	if !v.OK {
		return fmt.Errorf("%w: %s", errAuditBroken, v.Error)
	}
	_, err = fmt.Fprintf(stdout, "audit log intact: %d entries, head %s\n", v.Entries, v.Head)
	return err
}

func runAuditShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newIndexFlags("audit show", `Prints audit log entries as JSON lines, oldest first. --request selects
one access request's entries (the log holds a keyed hash of the id, never the
id itself). Works with docvet serve running (it asks the service) or stopped.
`, stderr, false)
	request := f.fs.String("request", "", "show only this access request's entries")
	after := f.fs.Int64("after", 0, "show entries after this sequence number")
	cfg, _, err := f.parse(args, stderr)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	type entry = server.AuditEntry
	st, ok, err := auditStore(ctx, cfg)
	if err != nil {
		return err
	}
	if ok {
		defer st.Close()
		ref := ""
		if *request != "" {
			secret, err := server.LoadSecret(cfg.Auth.SecretFile)
			if err != nil {
				return err
			}
			ref = server.AuditRef(secret, *request)
		}
		return st.AuditLog(ctx, *after, ref, func(e store.AuditEvent) error {
			return enc.Encode(entry{Seq: e.Seq, At: e.At.UTC(), Actor: e.Actor, Event: e.Event, Request: e.Request,
				Detail: e.Detail, Prev: e.Prev, Hash: e.Hash})
		})
	}
	q := url.Values{"after": {strconv.FormatInt(*after, 10)}, "limit": {"100000"}}
	if *request != "" {
		q.Set("request", *request)
	}
	b, err := localAPIGet(ctx, cfg, server.ScopeAdmin, "/api/admin/audit?"+q.Encode())
	if err != nil {
		return err
	}
	var res struct {
		Entries   []entry `json:"entries"`
		Truncated bool    `json:"truncated"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	for _, e := range res.Entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if res.Truncated {
		fmt.Fprintln(stderr, "docvet: more entries follow; use --after", res.Entries[len(res.Entries)-1].Seq)
	}
	return nil
}
