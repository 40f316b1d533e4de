package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// runRequestPortalLink implements "docvet request portal-link ID
// --reissue|--revoke" (token scope subjects): --reissue gives a delivered
// request a new portal link (the old one stops working) and sends it to
// the subject; --revoke makes the link stop working at once. The link
// itself is never shown: only the subject's notification carries it.
func runRequestPortalLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet request portal-link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	reissue := fs.Bool("reissue", false, "issue a new link (revoking the current one) and notify the subject")
	revoke := fs.Bool("revoke", false, "revoke the current link at once")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 || *reissue == *revoke {
		return fmt.Errorf("%w: docvet request portal-link ID --reissue|--revoke", errUsage)
	}
	id := pos[0]
	c, err := api.client()
	if err != nil {
		return err
	}
	method, want := http.MethodPost, http.StatusOK
	if *revoke {
		method, want = http.MethodDelete, http.StatusNoContent
	}
	res, err := c.do(ctx, method, "/api/access-requests/"+url.PathEscape(id)+"/portal-link", "", nil, -1)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		return apiError(res)
	}
	if *revoke {
		_, err = fmt.Fprintf(stdout, "request %s: portal link revoked; it no longer opens the delivery\n", id)
		return err
	}
	var ans struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&ans); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "request %s: new portal link issued, valid until %s; the previous link no longer works; "+
		"the subject is being notified (see docvet request status %s)\n", id, ans.ExpiresAt.UTC().Format(time.RFC3339), id)
	return err
}
