package identifiers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Version names the normalisation rules of this package. Bump it when a
// change makes Find return other terms for the same text (the index stores
// it in its fingerprint, so such a change causes a rebuild).
const Version = "identifiers-2" // 2: e-mail addresses in NFC

// Checks are the named validity checks a configuration may attach to an ID
// pattern (IDPattern.Valid).
var Checks = map[string]func(string) bool{
	"no-national-id": NorwegianNationalID,
}

// ValidRegion reports whether region is a region phonenumbers knows
// (ISO 3166-1 alpha-2, any case).
func ValidRegion(region string) bool {
	_, ok := phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
	return ok
}

// Fingerprint identifies what Find does with opt: equal fingerprints give
// equal terms for every text. It covers Version, the default region and each
// pattern's name, expression, separator handling and check (a Valid func is
// identified by the name it has in Checks; any other func by its code
// address, which changes between builds, so an index built with it is
// rebuilt after an upgrade: safe, never stale).
func (o Options) Fingerprint() string {
	var b strings.Builder
	b.WriteString(Version)
	b.WriteString("\x00region=")
	b.WriteString(o.region())
	for _, p := range o.IDs {
		if p.Regexp == nil || p.Name == "" {
			continue // Find ignores these
		}
		b.WriteString("\x00id=")
		b.WriteString(strconv.Quote(p.Name))
		b.WriteString(" re=")
		b.WriteString(strconv.Quote(p.Regexp.String()))
		fmt.Fprintf(&b, " strip=%t check=%s", p.StripSeparators, checkName(p.Valid))
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

func checkName(f func(string) bool) string {
	if f == nil {
		return "-"
	}
	ptr := reflect.ValueOf(f).Pointer()
	for name, c := range Checks {
		if reflect.ValueOf(c).Pointer() == ptr {
			return name
		}
	}
	return fmt.Sprintf("func@%x", ptr)
}
