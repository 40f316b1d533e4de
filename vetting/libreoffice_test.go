package vetting

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func libreOffice(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"libreoffice", "soffice"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("libreoffice not installed (Debian: apt-get install libreoffice-calc-nogui); skipping LibreOffice compatibility test")
	return ""
}

func runLO(t *testing.T, lo, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lo, append([]string{"--headless", "--norestore", "-env:UserInstallation=file://" + filepath.Join(dir, "profile")}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("libreoffice %v: %v\n%s", args, err, out)
	}
}

// TestLibreOffice: a docvet workbook opens in LibreOffice (the conversion
// fails on a file that needs repair), the CSV of each sheet has the cells,
// and a workbook saved again by LibreOffice imports with nothing changed
// (the manifest sheet, hyperlinks and text cells survive).
func TestLibreOffice(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts LibreOffice")
	}
	lo := libreOffice(t)
	dir := t.TempDir()
	res := testResult(3, 1)
	res.Hits[0].Metadata["formula"] = "=1+1"
	res.Hits[0].Metadata["at"] = "@SUM(A1)"
	b := exportBytes(t, testInput(res))
	if err := os.WriteFile(filepath.Join(dir, "wb.xlsx"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// All sheets to CSV (-1 = every sheet, one file each), UTF-8.
	runLO(t, lo, dir, "--convert-to", `csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1`, "--outdir", filepath.Join(dir, "csv"), "wb.xlsx")
	data, err := os.ReadFile(filepath.Join(dir, "csv", "wb-hr-documents.csv"))
	if err != nil {
		files, _ := os.ReadDir(filepath.Join(dir, "csv"))
		t.Fatalf("no csv for the data sheet: %v (have %v)", err, files)
	}
	recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("csv rows %d", len(recs))
	}
	head := map[string]int{}
	for i, h := range recs[0] {
		head[h] = i
	}
	r := recs[1]
	for col, want := range map[string]string{
		colRowID:           RowID(testKey, "req-1", res.Hits[0].IndexID),
		colFilename:        "person-0000.pdf",
		colExtract:         "http://127.0.0.1:8081/content/hr-documents/person-0000.pdf",
		"metadata.formula": "=1+1",
		"metadata.at":      "@SUM(A1)",
		"metadata.owner":   "hr",
	} {
		i, ok := head[col]
		if !ok || r[i] != want {
			t.Errorf("csv %s = %q, want %q (header %v)", col, r[min(i, len(r)-1)], want, ok)
		}
	}
	if !strings.Contains(r[head[colSnippets]], "[page 1] Kontakt kari@example.no") {
		t.Errorf("snippets %q", r[head[colSnippets]])
	}

	// Round trip through LibreOffice's own xlsx writer.
	runLO(t, lo, dir, "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", filepath.Join(dir, "lo"), "wb.xlsx")
	lob, err := os.ReadFile(filepath.Join(dir, "lo", "wb.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := importBytes(lob, ImportInput{RequestID: "req-1", Result: &res})
	if err != nil {
		t.Fatalf("import of LibreOffice-saved workbook: %v", err)
	}
	for _, row := range d.Rows {
		if row.Changed() {
			t.Errorf("LibreOffice round trip changed row %+v", row)
		}
	}
}
