package docx

import (
	"io"
	"strconv"
	"strings"

	"github.com/docvet/docvet/extractor/doctext"
	"github.com/docvet/docvet/extractor/zipsafe"
)

// List numbering: the labels Word shows before numbered paragraphs
// ("1.", "a)", "iii.", "2.1.3") are not in the text runs, only in
// numbering.xml. They are rendered so that "see clause 4.2" can be followed,
// and so the text matches what the reader saw. Bullets are not rendered.
// Numbering inherited from paragraph styles is not resolved.

const maxLevels = 9

type numLevel struct {
	start int
	fmt   string // w:numFmt: decimal, lowerLetter, upperRoman, bullet, ...
	text  string // w:lvlText: "%1.%2."
	legal bool   // w:isLgl: every level shown as a decimal number
}

type numDef struct {
	abstract string
	starts   map[int]int // w:lvlOverride/w:startOverride
}

type numbering struct {
	abstract map[string]*[maxLevels]numLevel
	nums     map[string]numDef
	count    map[string]*counters // per numId
}

type counters struct {
	v       [maxLevels]int
	started [maxLevels]bool
}

// maxNumberingBytes bounds numbering.xml; real ones are well under 1 MB.
const maxNumberingBytes = 16 << 20

func readNumbering(zr *zipsafe.Reader, name string, lim doctext.Limits) (*numbering, error) {
	rc, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := zipsafe.NewDecoder(io.LimitReader(rc, maxNumberingBytes), lim.MaxXMLDepth)
	n := &numbering{abstract: map[string]*[maxLevels]numLevel{}, nums: map[string]numDef{}, count: map[string]*counters{}}
	var (
		curAbs   *[maxLevels]numLevel
		curLvl   = -1
		curNum   string
		override = -1
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xmlStart)
		if !ok || !isW(t.Name.Space) {
			continue
		}
		val := attr(t, "val")
		switch t.Name.Local {
		case "abstractNum":
			curAbs = &[maxLevels]numLevel{}
			for i := range curAbs {
				curAbs[i] = numLevel{start: 1, fmt: "decimal"}
			}
			n.abstract[attr(t, "abstractNumId")] = curAbs
			curNum, curLvl = "", -1
		case "num":
			curNum, curAbs = attr(t, "numId"), nil
			n.nums[curNum] = numDef{starts: map[int]int{}}
		case "abstractNumId":
			if curNum != "" {
				nd := n.nums[curNum]
				nd.abstract = val
				n.nums[curNum] = nd
			}
		case "lvl", "lvlOverride":
			curLvl = -1
			if l, err := strconv.Atoi(attr(t, "ilvl")); err == nil && l >= 0 && l < maxLevels {
				curLvl = l
			}
			override = curLvl
		case "start":
			if v, err := strconv.Atoi(val); err == nil && curAbs != nil && curLvl >= 0 {
				curAbs[curLvl].start = v
			}
		case "startOverride":
			if v, err := strconv.Atoi(val); err == nil && curNum != "" && override >= 0 {
				n.nums[curNum].starts[override] = v
			}
		case "numFmt":
			if curAbs != nil && curLvl >= 0 {
				curAbs[curLvl].fmt = val
			}
		case "lvlText":
			if curAbs != nil && curLvl >= 0 {
				curAbs[curLvl].text = val
			}
		case "isLgl":
			if curAbs != nil && curLvl >= 0 {
				curAbs[curLvl].legal = val == "" || val == "1" || val == "true" || val == "on"
			}
		}
		if len(n.abstract)+len(n.nums) > 100000 {
			return nil, &doctext.LimitError{Limit: "docx_numbering", Value: 100000}
		}
	}
}

// label advances the counter of numId at level ilvl and returns the label
// to show, or "" (no numbering, bullets, unknown list).
func (n *numbering) label(numID string, ilvl int) string {
	if n == nil || ilvl < 0 || ilvl >= maxLevels {
		return ""
	}
	nd, ok := n.nums[numID]
	if !ok {
		return ""
	}
	abs := n.abstract[nd.abstract]
	if abs == nil {
		return ""
	}
	cnt := n.count[numID]
	if cnt == nil {
		cnt = &counters{}
		n.count[numID] = cnt
	}
	startOf := func(l int) int {
		if s, ok := nd.starts[l]; ok {
			return s
		}
		return abs[l].start
	}
	if !cnt.started[ilvl] {
		cnt.v[ilvl], cnt.started[ilvl] = startOf(ilvl), true
	} else {
		cnt.v[ilvl]++
	}
	for l := ilvl + 1; l < maxLevels; l++ {
		cnt.started[l] = false
	}
	lv := abs[ilvl]
	if lv.fmt == "bullet" || lv.fmt == "none" || lv.text == "" {
		return ""
	}
	var sb strings.Builder
	for i := 0; i < len(lv.text); i++ {
		c := lv.text[i]
		if c == '%' && i+1 < len(lv.text) && lv.text[i+1] >= '1' && lv.text[i+1] <= '9' {
			l := int(lv.text[i+1] - '1')
			v := cnt.v[l]
			if !cnt.started[l] {
				v = startOf(l)
			}
			f := abs[l].fmt
			if lv.legal {
				f = "decimal"
			}
			sb.WriteString(formatNum(v, f))
			i++
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func formatNum(v int, f string) string {
	switch f {
	case "lowerLetter", "upperLetter":
		if v < 1 {
			return strconv.Itoa(v)
		}
		// Word repeats the letter: a..z, aa..zz, aaa..
		s := strings.Repeat(string(rune('a'+(v-1)%26)), (v-1)/26+1)
		if f == "upperLetter" {
			s = strings.ToUpper(s)
		}
		return s
	case "lowerRoman", "upperRoman":
		s := roman(v)
		if f == "lowerRoman" {
			s = strings.ToLower(s)
		}
		return s
	case "decimalZero":
		if v >= 0 && v < 10 {
			return "0" + strconv.Itoa(v)
		}
	case "ordinal":
		return strconv.Itoa(v) + ordinalSuffix(v)
	}
	return strconv.Itoa(v)
}

func roman(v int) string {
	if v < 1 || v > 3999 {
		return strconv.Itoa(v)
	}
	var sb strings.Builder
	for _, r := range []struct {
		n int
		s string
	}{{1000, "M"}, {900, "CM"}, {500, "D"}, {400, "CD"}, {100, "C"}, {90, "XC"}, {50, "L"}, {40, "XL"}, {10, "X"}, {9, "IX"}, {5, "V"}, {4, "IV"}, {1, "I"}} {
		for v >= r.n {
			sb.WriteString(r.s)
			v -= r.n
		}
	}
	return sb.String()
}

func ordinalSuffix(v int) string {
	if v%100 >= 11 && v%100 <= 13 {
		return "th"
	}
	switch v % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}
