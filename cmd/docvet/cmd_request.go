package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/docvet/docvet/server"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/docvet/docvet/encrypt"
	"github.com/docvet/docvet/search"
)

// The request and vet commands talk to a running "docvet serve" over its
// HTTP API, so every access request goes through the one validating
// receiver and the one runner (and the store's lock is never contended).

// apiFlags are the connection flags of the API client commands.
type apiFlags struct {
	server    *string
	tokenFile *string
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		server: fs.String("server", "", "docvet serve base URL (default http://127.0.0.1:8080; env DOCVET_SERVER)"),
		tokenFile: fs.String("token-file", "", "file holding a bearer token (see 'docvet token'; env DOCVET_TOKEN_FILE,\n"+
			"or the token itself in DOCVET_TOKEN)"),
	}
}

// apiClient calls the core service's API with a bearer token.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (f apiFlags) client() (*apiClient, error) {
	base := *f.server
	if base == "" {
		base = os.Getenv("DOCVET_SERVER")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: --server must be an http(s) URL", errUsage)
	}
	tf := *f.tokenFile
	if tf == "" {
		tf = os.Getenv("DOCVET_TOKEN_FILE")
	}
	var tok string
	switch {
	case tf != "":
		b, err := os.ReadFile(tf)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	default:
		tok = strings.TrimSpace(os.Getenv("DOCVET_TOKEN"))
	}
	if tok == "" {
		return nil, fmt.Errorf("%w: a token is required: --token-file, DOCVET_TOKEN_FILE or DOCVET_TOKEN", errUsage)
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: tok, http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// do sends a request and returns the response (the caller closes its body).
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if size >= 0 && body != nil {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return res, nil
}

// apiError turns an error response into an error carrying the server's
// message.
func apiError(res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return fmt.Errorf("server answered %d: %s", res.StatusCode, e.Error)
	}
	return fmt.Errorf("server answered %d", res.StatusCode)
}

// parseInterspersed parses flags given before and after positional
// arguments ("status ID --server URL" and "status --server URL ID").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// runRequest implements "docvet request create|status".
func runRequest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "request", args, stdout, stderr, []named{
		{"create", runRequestCreate}, {"status", runRequestStatus}, {"portal-link", runRequestPortalLink}})
}

// named is one subcommand of a command group.
type named struct {
	name string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// subcommand runs the subcommand of group named by args[0].
func subcommand(ctx context.Context, group string, args []string, stdout, stderr io.Writer, subs []named) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
		if len(args) > 0 && args[0] == s.name {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: docvet %s %s ...", errUsage, group, strings.Join(names, "|"))
	}
	return fmt.Errorf("%w: unknown %s command %q (%s)", errUsage, group, args[0], strings.Join(names, ", "))
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runRequestCreate files an access request with the server's
// gdpr-access-request-in receiver (token scope push). The request is
// checked here first with the server's rules (search.ParseAccessRequest and
// the key policy), so mistakes are reported before anything is sent; the
// server checks again and stores nothing for an invalid request.
func runRequestCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet request create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	id := fs.String("id", "", "access request id (required)")
	userID := fs.String("user-id", "", "the subject's user id (required; links gdpr-subject identifiers)")
	email := fs.String("email", "", "the subject's e-mail address (contact info)")
	phone := fs.String("phone", "", "the subject's phone number (contact info when no --email)")
	keyFile := fs.String("key", "", "file with the subject's armored OpenPGP public key (required)")
	lang := fs.String("lang", "", "the request's language, e.g. en or no (default: the server's)")
	title := fs.String("title", "", "a title for the request")
	del := fs.Bool("delete-request", false, "the subject also asks for deletion (recorded; handled as an access request for now)")
	var idents listFlag
	fs.Var(&idents, "identifier", "another identifier of the subject (repeatable): e-mail, phone, ID or name")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if *id == "" || *userID == "" || *keyFile == "" {
		return fmt.Errorf("%w: --id, --user-id and --key are required", errUsage)
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("read public key: %w", err)
	}
	ent := map[string]any{
		search.PropAccessRequestID: *id,
		search.PropUserID:          *userID,
		search.PropPublicKey:       string(key),
		search.PropDeleteRequest:   *del,
	}
	var extra []any
	switch {
	case *email != "":
		ent[search.PropContactInfo] = *email
		ent[search.PropContactInfoType] = string(search.ContactEmail)
		if *phone != "" {
			extra = append(extra, map[string]string{"kind": string(search.KindPhone), "value": *phone})
		}
	case *phone != "":
		ent[search.PropContactInfo] = *phone
		ent[search.PropContactInfoType] = string(search.ContactPhone)
	}
	for _, v := range idents {
		extra = append(extra, v)
	}
	if len(extra) > 0 {
		ent[search.PropIdentifiers] = extra
	}
	if *lang != "" {
		ent[search.PropLang] = *lang
	}
	if *title != "" {
		ent[search.PropTitle] = *title
	}
	body, err := json.Marshal(ent)
	if err != nil {
		return err
	}
	if _, err := search.ParseAccessRequest(body); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if _, err := encrypt.CheckPublicKey(string(key), time.Now(), encrypt.Policy{}); err != nil {
		return fmt.Errorf("%w: public key: %v", errUsage, err)
	}
	c, err := api.client()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, http.MethodPost, "/api/receivers/gdpr-access-request-in/entities", "application/json",
		strings.NewReader(string(body)), int64(len(body)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var pr struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Reason string `json:"reason"`
		} `json:"rejected"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &pr)
	if res.StatusCode != http.StatusOK || pr.Accepted != 1 {
		var reasons []string
		for _, r := range pr.Rejected {
			reasons = append(reasons, r.Reason)
		}
		if pr.Error != "" {
			reasons = append(reasons, pr.Error)
		}
		return fmt.Errorf("server refused the request (%d): %s", res.StatusCode, strings.Join(reasons, "; "))
	}
	_, err = fmt.Fprintf(stdout, "access request %s filed; it is searched now (see 'docvet request status %s')\n", *id, *id)
	return err
}

// runRequestStatus prints a request's lifecycle state and counts (token
// scope subjects).
func runRequestStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet request status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: docvet request status ID", errUsage)
	}
	c, err := api.client()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, http.MethodGet, "/api/access-requests/"+url.PathEscape(pos[0]), "", nil, -1)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return apiError(res)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if *asJSON {
		_, err = stdout.Write(b)
		return err
	}
	var st server.RequestStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "request %s: %s", st.ID, st.State)
	if st.Reason != "" {
		fmt.Fprintf(&out, " (%s)", st.Reason)
	}
	out.WriteByte('\n')
	if st.SearchedAt != nil {
		fmt.Fprintf(&out, "searched at %s: %d hits, %d documents not searchable\n", st.SearchedAt.Format(time.RFC3339), st.Hits, st.NotSearchable)
		types := make([]string, 0, len(st.HitsPerType))
		for t := range st.HitsPerType {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(&out, "  %-24s %6d hits  %6d decisions\n", t, st.HitsPerType[t], st.Decisions[t])
		}
	}
	if d := st.Delivery; d != nil {
		fmt.Fprintf(&out, "delivery: %d of %d rows delivered (%d without the file), %d withheld, %d changed since review, %d unavailable\n",
			d.Delivered, d.Rows, d.FileWithheld, d.Withheld, d.Changed, d.Unavailable)
		fmt.Fprintf(&out, "  %d encrypted items, %d bytes", d.Items, d.Bytes)
		if d.BundleBytes > 0 {
			fmt.Fprintf(&out, "; bundle %d bytes", d.BundleBytes)
		}
		if d.PortalExpires != nil {
			fmt.Fprintf(&out, "; portal link valid until %s", d.PortalExpires.Format(time.RFC3339))
		}
		out.WriteByte('\n')
	}
	for _, n := range st.Notifications {
		state := "pending"
		switch {
		case n.Sent != nil:
			state = "sent " + n.Sent.Format(time.RFC3339)
		case n.Failed:
			state = "gave up: " + n.LastError
		case n.LastError != "":
			state = fmt.Sprintf("pending after %d attempts: %s", n.Attempts, n.LastError)
		}
		who := n.Kind
		if n.DataType != "" {
			who += " of " + n.DataType
		}
		fmt.Fprintf(&out, "notification to %s: %s\n", who, state)
	}
	_, err = io.WriteString(stdout, out.String())
	return err
}
