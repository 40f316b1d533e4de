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
	"os"
	"path/filepath"
	"strings"
)

// runVet implements "docvet vet export|import": the vetting workbook of an
// access request, through the running server (token scope subjects).
func runVet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "vet", args, stdout, stderr, []named{
		{"export", runVetExport}, {"import", runVetImport}})
}

func workbookPath(id, dataType string) string {
	p := "/api/access-requests/" + url.PathEscape(id) + "/workbook"
	if dataType != "" {
		p += "?" + url.Values{"data-type": {dataType}}.Encode()
	}
	return p
}

// runVetExport downloads the workbook to -o. The file holds personal data:
// it is written with mode 0600, through a temporary file renamed into place
// once complete, so a failed download leaves no partial workbook.
func runVetExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet vet export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	dataType := fs.String("data-type", "", "only this data type (the workbook for that type's contact)")
	out := fs.String("o", "", "output .xlsx file (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%w: docvet vet export ID [--data-type T] -o FILE", errUsage)
	}
	c, err := api.client()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, http.MethodGet, workbookPath(pos[0], *dataType), "", nil, -1)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return apiError(res)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".docvet-workbook-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	n, err := io.Copy(tmp, res.Body)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("download workbook: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, n)
	return err
}

// runVetImport uploads a reviewed workbook. A refused workbook prints every
// problem (sheet, row, column) and fails; nothing is stored then.
func runVetImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docvet vet import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := addAPIFlags(fs)
	dataType := fs.String("data-type", "", "the workbook is the one of this data type")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: docvet vet import ID FILE [--data-type T]", errUsage)
	}
	f, err := os.Open(pos[1])
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c, err := api.client()
	if err != nil {
		return err
	}
	res, err := c.do(ctx, http.MethodPost, workbookPath(pos[0], *dataType),
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f, fi.Size())
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	switch res.StatusCode {
	case http.StatusOK:
		var r struct {
			State          string `json:"state"`
			Rows           int    `json:"rows"`
			Kept           int    `json:"kept"`
			Withheld       int    `json:"withheld"`
			FileWithheld   int    `json:"file_withheld"`
			Text           int    `json:"text"`
			MetadataEdited int    `json:"metadata_edited"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "decisions stored: %d rows (%d kept, %d withheld, %d files withheld, %d with text, %d with metadata edits); request is %s\n",
			r.Rows, r.Kept, r.Withheld, r.FileWithheld, r.Text, r.MetadataEdited, r.State)
		return err
	case http.StatusUnprocessableEntity:
		var rj struct {
			Error    string `json:"error"`
			Problems []struct {
				Sheet   string `json:"sheet"`
				Row     int    `json:"row"`
				Column  string `json:"column"`
				Message string `json:"message"`
			} `json:"problems"`
			Truncated bool `json:"truncated"`
		}
		_ = json.Unmarshal(b, &rj)
		var sb strings.Builder
		for _, p := range rj.Problems {
			loc := p.Sheet
			if p.Row > 0 {
				loc += fmt.Sprintf(" row %d", p.Row)
			}
			if p.Column != "" {
				loc += " column " + p.Column
			}
			if loc != "" {
				loc += ": "
			}
			fmt.Fprintf(&sb, "  %s%s\n", loc, p.Message)
		}
		if rj.Truncated {
			sb.WriteString("  (more problems not listed)\n")
		}
		io.WriteString(stderr, sb.String())
		return fmt.Errorf("workbook refused with %d problem(s); nothing was stored", len(rj.Problems))
	}
	return apiError(&http.Response{StatusCode: res.StatusCode, Body: io.NopCloser(strings.NewReader(string(b)))})
}
