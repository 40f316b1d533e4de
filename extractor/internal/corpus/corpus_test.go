package corpus

import (
	"reflect"
	"testing"
)

func TestTokens(t *testing.T) {
	got := Tokens("Kari NORDMANN, kari; 12-34 \uFFFDbad ok\uFFFD Ødegård")
	want := map[string]int{"kari": 2, "nordmann": 1, "12": 1, "34": 1, "ødegård": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tokens = %v, want %v", got, want)
	}
}

func TestCompare(t *testing.T) {
	s := Compare("a b b c", "b a a d")
	if s.Hits != 2 || s.RefTokens != 4 || s.GotTokens != 4 {
		t.Fatalf("score %+v", s)
	}
	if s.Recall() != 0.5 || s.Precision() != 0.5 {
		t.Fatalf("recall %v precision %v", s.Recall(), s.Precision())
	}
	if (Score{}).Recall() != 1 {
		t.Fatal("empty reference must have recall 1")
	}
}

func TestIdentifiersMissing(t *testing.T) {
	ref := "mail Kari.Nordmann@Example.no or call +47 912 34 567; also per@example.com"
	got := "kari.nordmann@example.no 91234567 +47-912-34-567"
	miss := IdentifiersMissing(ref, got)
	if len(miss) != 1 || miss[0] != "per@example.com" {
		t.Fatalf("missing %v", miss)
	}
}

func TestIdentifiersMissingIgnoresDecimals(t *testing.T) {
	if miss := IdentifiersMissing("6.1699999999999998 and 121.50000", "6.17 121.5"); len(miss) != 0 {
		t.Fatalf("decimals counted as identifiers: %v", miss)
	}
}
