package identifiers

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Phone candidates in free text.
//
// A candidate is a maximal run of ASCII digit groups, optionally introduced
// by "+" or "(+", where consecutive groups are joined by a separator run of at
// most three characters taken from spaces (not tabs or line breaks), "(",
// ")" and at most one of ". - /". The whole run is judged at once; we never
// look for a phone number inside a run that was rejected, because sub-spans of
// dates, amounts, IBANs and ISBNs are where false positives come from.
//
// A run is rejected when
//   - it is glued to a word: a letter, digit, "_" or "@" right before or
//     after it, ". , :" between it and a digit before it ("1,91234567"), or
//     "-" / "/" between it and a word on either side ("NO93 8601 1117 947",
//     "INV-91234567", "78691781-c9b7-...");
//   - it is followed by ",digit" or ".digit" (a decimal amount: "1 250,50")
//     or "%";
//   - it mixes ". - /" between groups ("81-35.2004" is a reference code);
//   - it looks like a date: three groups joined by the same "-", "." or "/"
//     with lengths 4-2-2 / 2-2-4 style ("2019-04-01", "21.03.2019");
//   - it has no country code and is grouped in thousands: 1-3 digits, then
//     groups of exactly 3 with the same separator ("22 500 000");
//   - it has no country code and is two groups of equal length joined by a
//     dash, the second not smaller: a range ("pp. 5766-5771", "2100 - 2500");
//   - it has no country code and is two groups joined by a dot: a decimal
//     number ("0.6687", "7230050.2");
//   - it has fewer than 6 or more than 15 digits (17 after "00"; country
//     code included; this also keeps out 5-digit service numbers and
//     postcodes "02-092");
//   - more than one group after the first has a single digit ("6 7 8 9 10",
//     "1 2 3"; the "0" of "+44 (0)20" is the one allowed);
//   - phonenumbers does not consider it a VALID number (IsValidNumber, not
//     IsPossibleNumber: "20190401", "12345" and "11223344" are possible
//     Norwegian numbers but not valid ones).
//
// A run of several numbers joined by spaces or "/" ("22334455 91234567",
// table cells) that is not valid as a whole is split at such separators when
// every part is itself a valid number; otherwise the run yields nothing.
// Runs of more than 12 groups (rows of numbers) keep the valid parts.
//
// Known limits, measured on the corpus reference texts: a number broken over
// a line is not found; bare digit runs that happen to be valid numbers
// (8-digit order or registry numbers for region NO) are indexed as phones.
// The latter is harmless: only a subject's exact number ever queries them.
// Digits other than ASCII 0-9 are not read.

const (
	minPhoneDigits = 6  // with the country code; also keeps out 5-digit service numbers and postcodes
	maxPhoneDigits = 17 // 15 of E.164 plus an international prefix "00"
	maxGroups      = 12 // longer runs are rows of a table: split leniently
	maxPartGroups  = 6  // "+44 (0)20 7946 0958" has 5
	maxSepRun      = 3
)

type group struct {
	start, end int    // byte span of the digits
	sep        string // separator run before this group ("" for the first)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// findPhones appends the phone numbers in text to fs. Runs are read only in
// the gaps between blocked spans (e-mails and IDs, sorted by start), so a
// number next to an ID is still found and digits inside an ID never are.
func findPhones(text, region string, blocked []found, fs []found) []found {
	cur := 0
	for _, b := range blocked {
		if b.start > cur {
			fs = phonesIn(text, cur, b.start, region, fs)
		}
		cur = max(cur, b.end)
	}
	return phonesIn(text, cur, len(text), region, fs)
}

// phonesIn finds phone numbers in text[from:to]; the text around is only
// looked at to tell whether a run is glued to a word.
func phonesIn(text string, from, to int, region string, fs []found) []found {
	i := from
	var buf []group // reused: groups do not outlive one iteration
	for i < to {
		// Jump to the next digit; a candidate may start up to two bytes
		// earlier with "(+" or "+".
		k := strings.IndexAny(text[i:to], "0123456789")
		if k < 0 {
			break
		}
		d := i + k
		start := d
		if start > i && text[start-1] == '+' {
			start--
			if start > i && text[start-1] == '(' {
				start--
			}
		}
		plus := start < d
		end, groups := scanRun(text[:to], d, buf[:0])
		buf = groups
		i = end
		if glued(text, start, end) || mixedPunct(groups) {
			continue
		}
		if len(groups) > maxGroups {
			fs = splitRun(text, start, groups, plus, region, fs)
			continue
		}
		if v, ok := judge(text, start, groups, plus, region); ok {
			fs = append(fs, found{KindPhone, v, start, end})
			continue
		}
		fs = splitRun(text, start, groups, plus, region, fs)
	}
	return fs
}

// mixedPunct reports runs that use more than one of ". - /" between groups
// ("81-35.2004" is a reference code, not a phone number).
func mixedPunct(gs []group) bool {
	var seen rune
	for _, g := range gs {
		for _, r := range g.sep {
			switch r {
			case '.', '-', '/', '\u2010', '\u2011', '\u2013':
				if r == '\u2010' || r == '\u2011' || r == '\u2013' {
					r = '-'
				}
				if seen != 0 && seen != r {
					return true
				}
				seen = r
			}
		}
	}
	return false
}

// scanRun reads digit groups from text[d] on and returns the end of the last
// group. Groups are appended to groups.
func scanRun(text string, d int, groups []group) (end int, _ []group) {
	pos := d
	sep := ""
	for {
		s := pos
		for pos < len(text) && isDigit(text[pos]) {
			pos++
		}
		groups = append(groups, group{start: s, end: pos, sep: sep})
		end = pos
		q, n, punct := sepRun(text, pos)
		if n == 0 || punct > 1 || q >= len(text) || !isDigit(text[q]) {
			return end, groups
		}
		sep = text[pos:q]
		pos = q
	}
}

// sepRun measures the separator run at text[pos:]: its end, its length in
// runes (at most maxSepRun) and how many of ". - /" it holds.
func sepRun(text string, pos int) (q, n, punct int) {
	q = pos
	for q < len(text) && n < maxSepRun {
		r, sz := utf8.DecodeRuneInString(text[q:])
		switch {
		case isSpace(r), r == '(', r == ')':
		case r == '.', r == '-', r == '/', r == '\u2010', r == '\u2011', r == '\u2013':
			punct++
		default:
			return q, n, punct
		}
		q += sz
		n++
	}
	return q, n, punct
}

// glued reports whether the run [start,end) is part of a larger word or
// number (see the rules above).
func glued(text string, start, end int) bool {
	if start > 0 {
		r, sz := utf8.DecodeLastRuneInString(text[:start])
		if isWordRune(r) || r == '@' || r == '+' {
			return true
		}
		// "1,91234567", "12:91234567": part of a larger number.
		if strings.ContainsRune(".,:", r) && start-sz > 0 && isDigit(text[start-sz-1]) {
			return true
		}
		// "INV-91234567", "ref/91234567": part of a code.
		if strings.ContainsRune("-/", r) && start-sz > 0 {
			if p, _ := utf8.DecodeLastRuneInString(text[:start-sz]); isWordRune(p) {
				return true
			}
		}
	}
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		if isWordRune(r) || r == '@' || r == '%' {
			return true
		}
		if (r == ',' || r == '.') && end+1 < len(text) && isDigit(text[end+1]) {
			return true
		}
		// "78691781-c9b7-...": the head of a UUID or code.
		if r == '-' || r == '/' {
			if n, _ := utf8.DecodeRuneInString(text[end+1:]); isWordRune(n) {
				return true
			}
		}
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// judge decides whether groups (starting at byte start, with "+" when plus)
// are one phone number, and returns its E.164 form.
func judge(text string, start int, groups []group, plus bool, region string) (string, bool) {
	nd, ones := 0, 0
	for i, g := range groups {
		nd += g.end - g.start
		if i > 0 && g.end-g.start == 1 {
			ones++
		}
	}
	idd := !plus && strings.HasPrefix(text[groups[0].start:], "00")
	maxDigits := maxPhoneDigits - 2 // E.164: 15 with the country code, or a trunk 0 + 14
	if idd {
		maxDigits = maxPhoneDigits
	}
	if nd < minPhoneDigits || nd > maxDigits || ones > 1 {
		return "", false
	}
	intl := plus || idd
	if looksLikeDate(groups) || (!intl && (looksLikeThousands(groups) || looksLikeDecimal(groups) || looksLikeRange(text, groups))) {
		return "", false
	}
	if !intl && !nationalLengthOK(region, groups) {
		return "", false
	}
	return parseValid(text[start:groups[len(groups)-1].end], region)
}

// regionLengths is a cheap pre-check derived from phonenumbers' metadata:
// the lengths a national number of the region can have, and its literal
// national prefixes. phonenumbers.Parse + IsValidNumber cost about 10µs,
// and a numeric table has many candidates.
type regionLengths struct {
	usable   bool // false: the region's prefix rules are not literal; always parse
	lengths  map[int]bool
	prefixes []string
}

var regionCache sync.Map // region -> *regionLengths

func lengthsFor(region string) *regionLengths {
	if v, ok := regionCache.Load(region); ok {
		return v.(*regionLengths)
	}
	rl := &regionLengths{}
	if c, err := phonenumbers.MetadataCollection(); err == nil {
		for _, m := range c.GetMetadata() {
			if m.GetId() != region || m.GetGeneralDesc() == nil {
				continue
			}
			npfp := m.GetNationalPrefixForParsing()
			if strings.Trim(npfp, "0123456789|") != "" || len(m.GetGeneralDesc().GetPossibleLength()) == 0 {
				break // a regex prefix rule: no shortcut
			}
			rl.usable = true
			rl.lengths = map[int]bool{}
			for _, l := range m.GetGeneralDesc().GetPossibleLength() {
				rl.lengths[int(l)] = true
			}
			for _, p := range strings.Split(npfp, "|") {
				if p != "" {
					rl.prefixes = append(rl.prefixes, p)
				}
			}
			if np := m.GetNationalPrefix(); np != "" && npfp == "" {
				rl.prefixes = append(rl.prefixes, np)
			}
			break
		}
	}
	v, _ := regionCache.LoadOrStore(region, rl)
	return v.(*regionLengths)
}

// nationalLengthOK reports whether the digits of groups, read as a national
// number of region (optionally after a national prefix), have a length the
// region's numbers can have. When in doubt it says yes: it only saves parses.
func nationalLengthOK(region string, groups []group) bool {
	rl := lengthsFor(region)
	if !rl.usable {
		return true
	}
	nd := 0
	for _, g := range groups {
		nd += g.end - g.start
	}
	if rl.lengths[nd] {
		return true
	}
	for _, p := range rl.prefixes {
		if rl.lengths[nd-len(p)] {
			return true // whether the prefix is really there is Parse's job
		}
	}
	return false
}

// looksLikeDate matches d-m-yyyy, yyyy-m-d and dd.mm.yy style runs.
func looksLikeDate(gs []group) bool {
	if len(gs) != 3 || gs[1].sep != gs[2].sep {
		return false
	}
	switch gs[1].sep {
	case "-", ".", "/":
	default:
		return false
	}
	a, b, c := gs[0].end-gs[0].start, gs[1].end-gs[1].start, gs[2].end-gs[2].start
	short := func(n int) bool { return n == 1 || n == 2 }
	return (a == 4 && short(b) && short(c)) || (short(a) && short(b) && (c == 4 || c == 2))
}

// looksLikeDecimal matches "0.6687" and "7230050.2": two groups joined by a
// dot are a decimal number, never how anyone writes a phone number.
func looksLikeDecimal(gs []group) bool {
	return len(gs) == 2 && gs[1].sep == "."
}

// looksLikeRange matches page and number ranges "5766-5771", "2100 - 2500":
// two groups of the same length joined by a dash, the second not smaller.
func looksLikeRange(text string, gs []group) bool {
	if len(gs) != 2 || !strings.ContainsAny(gs[1].sep, "-\u2010\u2011\u2013") {
		return false
	}
	a, b := text[gs[0].start:gs[0].end], text[gs[1].start:gs[1].end]
	return len(a) == len(b) && b >= a
}

// looksLikeThousands matches "1 250", "22 500 000", "1.234.567".
func looksLikeThousands(gs []group) bool {
	if len(gs) < 2 {
		return false
	}
	if n := gs[0].end - gs[0].start; n < 1 || n > 3 {
		return false
	}
	sep := gs[1].sep
	if utf8.RuneCountInString(sep) != 1 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(sep)
	if !isSpace(r) && r != '.' {
		return false
	}
	for _, g := range gs[1:] {
		if g.sep != sep || g.end-g.start != 3 {
			return false
		}
	}
	return true
}

// splitRun reads a rejected run as several numbers separated by spaces or
// slashes, each valid on its own, taking the longest valid part (at most
// maxPartGroups groups) from the left each time. A run of up to maxGroups
// groups is all or nothing: if some group cannot start a valid part, the
// run yields no number (this keeps "8601 1117 947" from becoming a phone).
// Longer runs (rows of a table) are read as single-group numbers
// ("91234567 22334455 ..."), skipping the rest, so they cost at most one
// parse per group.
func splitRun(text string, start int, groups []group, plus bool, region string, fs []found) []found {
	if len(groups) < 2 {
		return fs
	}
	splitAt := func(j int) bool { // may a part start at group j?
		return j == 0 || j == len(groups) ||
			strings.ContainsAny(groups[j].sep, " /\u00a0\u2007\u2009\u202f") && !strings.ContainsAny(groups[j].sep, "()")
	}
	strict := len(groups) <= maxGroups
	n0 := len(fs)
	for g := 0; g < len(groups); {
		if !splitAt(g) {
			g++
			continue
		}
		s := groups[g].start
		if g == 0 {
			s = start
		}
		taken := false
		longest := min(g+maxPartGroups, len(groups)) - 1
		if !strict {
			longest = g // rows of a table: numbers written as one group only
		}
		for j := longest; j >= g; j-- {
			if !splitAt(j+1) || (g == 0 && j == len(groups)-1) {
				continue // not a boundary, or the whole run (already rejected)
			}
			if v, ok := judge(text, s, groups[g:j+1], plus && g == 0, region); ok {
				fs = append(fs, found{KindPhone, v, s, groups[j].end})
				g, taken = j+1, true
				break
			}
		}
		if !taken {
			if strict {
				return fs[:n0]
			}
			g++
		}
	}
	return fs
}

// parseValid parses a written number and returns its E.164 form when it is
// a valid number. An "00" international prefix is also tried as "+" because
// not every default region dials out with 00.
func parseValid(s, region string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch {
		case isSpace(r):
			return ' '
		case r == '\u2010' || r == '\u2011' || r == '\u2013':
			return '-'
		}
		return r
	}, s)
	if v, ok := parseOne(s, region); ok {
		return v, true
	}
	t := strings.TrimLeft(s, " (")
	if strings.HasPrefix(t, "00") {
		return parseOne("+"+t[2:], region)
	}
	return "", false
}

func parseOne(s, region string) (string, bool) {
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// normalizePhone normalises one phone number written on its own. Letters
// (vanity numbers, "tel:" prefixes aside) are not accepted.
func normalizePhone(raw, region string) (string, bool) {
	s := strings.TrimSpace(raw)
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = strings.TrimSpace(s[4:])
	}
	nd := 0
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9':
			nd++
		case r == '+' || r == '(' || r == ')' || r == '.' || r == '-' || r == '/' || isSpace(r) ||
			r == '\u2010' || r == '\u2011' || r == '\u2013':
		default:
			return "", false
		}
	}
	if nd < minPhoneDigits || nd > maxPhoneDigits {
		return "", false
	}
	return parseValid(s, region)
}
