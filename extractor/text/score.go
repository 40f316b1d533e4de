package text

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/transform"
)

// A candidate is a legacy charset tried when the input is not UTF-8. Each is
// scored by decoding the sample and asking how much the result looks like
// text in the script that charset is used for (see score). The first
// candidate wins ties, so the order is the preference order.
type candidate struct {
	name string
	enc  encoding.Encoding
	lang lang
}

type lang int

const (
	langLatin lang = iota
	langCyrillic
	langArabic
	langJapanese
	langKorean
	langChinese
)

var candidates = []candidate{
	{"windows-1252", charmap.Windows1252, langLatin},
	{"shift_jis", japanese.ShiftJIS, langJapanese},
	{"euc-jp", japanese.EUCJP, langJapanese},
	{"gb18030", simplifiedchinese.GB18030, langChinese},
	{"big5", traditionalchinese.Big5, langChinese},
	{"euc-kr", korean.EUCKR, langKorean},
	{"windows-1251", charmap.Windows1251, langCyrillic},
	{"ibm866", charmap.CodePage866, langCyrillic},
	{"windows-1256", charmap.Windows1256, langArabic},
}

// score returns the plausibility of c's decoding of s per non-ASCII input
// byte: about +1 for text that looks like its language, <= 0 for garbage.
func (c candidate) score(s []byte) float64 {
	nonASCII := 0
	for _, b := range s {
		if b >= 0x80 {
			nonASCII++
		}
	}
	if nonASCII == 0 {
		return 0
	}
	out, _, err := transform.Bytes(c.enc.NewDecoder(), s)
	if err != nil {
		return -1
	}
	var total float64
	if c.lang >= langJapanese {
		total = scoreCJK(out, c.lang)
	} else {
		total = scoreAlphabetic(out, c.lang)
	}
	return total / float64(nonASCII)
}

// badRune: replacement characters, C0/C1 controls and private-use code
// points are what a wrong decoding produces.
func badRune(r rune) bool {
	return r == utf8.RuneError || (r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f') ||
		(r >= 0x7F && r < 0xA0) || (r >= 0xE000 && r <= 0xF8FF)
}

func isHan(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0xF900 && r <= 0xFAFF)
}

// scoreCJK: each double-byte character is worth up to +2 (two input bytes).
func scoreCJK(out []byte, l lang) float64 {
	var t float64
	for len(out) > 0 {
		r, n := utf8.DecodeRune(out)
		out = out[n:]
		if r < 0x80 {
			continue
		}
		switch {
		case badRune(r):
			t -= 3
		case r >= 0x3000 && r <= 0x303F: // CJK punctuation
			t += 1
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
			t += 0.5
		case r >= 0x3041 && r <= 0x30FF: // kana
			if l == langJapanese {
				t += 2
			} else {
				t--
			}
		case r >= 0xAC00 && r <= 0xD7A3: // Hangul syllables
			switch {
			case l != langKorean:
				t -= 2
			case commonHangul[r]:
				t += 2
			default:
				t += 0.5
			}
		case isHan(r):
			switch l {
			case langJapanese:
				t += 0.5
			case langKorean:
				t += 0.3
			default:
				if commonHanzi[r] {
					t += 2
				} else {
					t += 0.6
				}
			}
		case r >= 0xFF61 && r <= 0xFF9F: // half-width katakana: Shift_JIS misreads
			t--
		case l == langChinese && unicode.Is(unicode.Latin, r):
			// GB18030 encodes non-GBK characters (accented Latin letters of
			// a French text, say) as four-byte sequences.
			t += 4
		default:
			t--
		}
	}
	return t
}

type script int

const (
	scNone script = iota
	scLatin
	scCyrillic
	scArabic
	scOther
)

func scriptOf(r rune) script {
	switch {
	case r < 0x80:
		return scLatin
	case unicode.Is(unicode.Latin, r):
		return scLatin
	case r >= 0x0400 && r <= 0x04FF:
		return scCyrillic
	case r >= 0x0600 && r <= 0x06FF:
		return scArabic
	}
	return scOther
}

// scoreAlphabetic scores single-byte decodings word by word: a word scores
// when its non-ASCII letters are in the expected script, are frequent
// letters of it, and the word is not mixed-script, mixed-case in the middle,
// or (for Latin) made mostly of accented letters — which is how Cyrillic or
// Arabic bytes look when read as Windows-1252.
func scoreAlphabetic(out []byte, l lang) float64 {
	want := scLatin
	switch l {
	case langCyrillic:
		want = scCyrillic
	case langArabic:
		want = scArabic
	}
	var t float64
	var word []rune
	flush := func() {
		if len(word) == 0 {
			return
		}
		var ascii, non int
		var weight float64
		ok := true
		prevLower := false
		for _, r := range word {
			if r < 0x80 {
				ascii++
				prevLower = unicode.IsLower(r)
				continue
			}
			non++
			if scriptOf(r) != want {
				ok = false
			}
			if unicode.IsUpper(r) && prevLower {
				ok = false // "ЗбЯКЗИ": case flips inside a word
			}
			prevLower = unicode.IsLower(r)
			switch want {
			case scCyrillic:
				if inBlock(&frequentCyrillic, 0x400, unicode.ToLower(r)) {
					weight++
				} else {
					weight += 0.3
				}
			case scArabic:
				if inBlock(&frequentArabic, 0x600, r) {
					weight++
				} else {
					weight += 0.5
				}
			default:
				weight++
			}
		}
		if non > 0 {
			switch {
			case want != scLatin && ascii > 0:
				ok = false
			case want == scLatin && non > ascii && len(word) > 1:
				ok = false
			}
			if ok {
				t += weight
			} else {
				t -= float64(non)
			}
		}
		word = word[:0]
	}
	for len(out) > 0 {
		r, n := utf8.DecodeRune(out)
		out = out[n:]
		if unicode.IsLetter(r) || (r >= 0x0610 && r <= 0x065F) { // Arabic marks belong to the word
			word = append(word, r)
			continue
		}
		flush()
		if r < 0x80 {
			continue
		}
		switch {
		case badRune(r):
			t -= 3
		case commonPunct[r]:
		case r >= 0x2500 && r <= 0x25FF: // box drawing: CP866 misreads
			t--
		default:
			t -= 0.5
		}
	}
	flush()
	return t
}

var commonPunct = runeSet("\u00A0«»–—‘’‚“”„•…°№©®€·×§¶†‡‰‹›™¿¡،؛؟")

var frequentCyrillic = blockSet(0x400, "оеаинтсрвлкмдпуяыьгзбчйіїєґў")

var frequentArabic = blockSet(0x600, "اليمونهربتعدةفكسأإقح")

// blockSet is a set of runes of one 256-code-point block: an array lookup
// in the scoring loop instead of a map.
func blockSet(base rune, s string) (t [256]bool) {
	for _, r := range s {
		t[r-base] = true
	}
	return t
}

func inBlock(t *[256]bool, base, r rune) bool {
	return r >= base && r < base+256 && t[r-base]
}

// commonHangul: the most frequent syllables of Korean text (they cover about
// half of it); decoding other CJK encodings as EUC-KR hits them rarely.
var commonHangul = runeSet("이다의는에을하고가지기한로서사리도자수나그를어인시있대아것들게해니적으요만였라전정부보내상제주구비마우일장거국면소성여오무말원동생과했던었와까되않위화문조모공중학러개세야신치저양경데식물관실방때안든른람님번간년날얼굴음눈몸집손습합입알할없")

// commonHanzi: frequent characters of modern and classical Chinese, in both
// simplified and traditional forms.
var commonHanzi = runeSet("的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會可也你对對生能而子那得于於着著下自之年过過发發后後作里裡用道行所然家种種事成方多经經么麼去法学學如都同现現当當没沒动動面起看定天分还還进進好小部其些主样樣理心她本前开開但因只从從想实實日军軍者意无無力它与與长長把机機十民第公此已工使情明性知全三又关關点點正业業外将將两兩高间間由问問很最重并並物手应應战戰向头頭文体體政美相见見被利什二等产產或新己制身果加西斯月话話合回特代内內信表化老给給几幾曰兵故必勝胜敵敌令凡眾众攻守謀谋五九百千乃則则矣焉乎哉亦皆謂谓王")

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool, len(s))
	for _, r := range s {
		m[r] = true
	}
	return m
}
