package docx

import (
	"errors"
	"io"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

// coreFields are the docProps/core.xml elements worth searching: titles
// and the names of the people who wrote or last changed the document.
var coreFields = map[string]string{
	"title":          "Title",
	"subject":        "Subject",
	"creator":        "Author",
	"lastModifiedBy": "Last modified by",
	"keywords":       "Keywords",
	"description":    "Description",
	"category":       "Category",
}

// maxCoreBytes bounds docProps/core.xml; real ones are under 2 KB.
const maxCoreBytes = 1 << 20

// properties writes the core document properties as a "properties"
// segment. A broken core.xml is only a warning: it holds no body text.
func (x *extractor) properties(name string) error {
	if name == "" {
		return nil
	}
	lines, err := readCore(x.zr, name, x.lim)
	if err != nil {
		var le *doctext.LimitError
		if errors.As(err, &le) && x.b.Full() {
			return err
		}
		x.b.Warn("docx: document properties unreadable")
		return nil
	}
	if len(lines) == 0 {
		return nil
	}
	if err := x.b.EnsureSep("\n"); err != nil {
		return err
	}
	x.b.Start("properties")
	return x.b.WriteString(strings.Join(lines, "\n") + "\n")
}

// readCore returns "Label: value" lines in document order.
func readCore(zr *zipsafe.Reader, name string, lim doctext.Limits) ([]string, error) {
	rc, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := zipsafe.NewDecoder(io.LimitReader(rc, maxCoreBytes), lim.MaxXMLDepth)
	var lines []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
		t, ok := tok.(xmlStart)
		if !ok || d.Depth() != 2 {
			continue
		}
		label, ok := coreFields[t.Name.Local]
		if !ok {
			continue
		}
		s, err := charData(d)
		if err != nil {
			return lines, err
		}
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, label+": "+s)
		}
	}
}
