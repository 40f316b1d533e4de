package identifiers

// NorwegianNationalID reports whether s is 11 digits with a plausible birth
// date (D-numbers add 40 to the day, H-numbers 40 and synthetic test numbers
// 80 to the month) and valid mod-11 check digits (fødselsnummer, D-nummer). Use it as IDPattern.Valid so that any
// 11-digit run (account numbers, order numbers) is not taken for a person.
func NorwegianNationalID(s string) bool {
	if len(s) != 11 {
		return false
	}
	var d [11]int
	for i := 0; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		d[i] = int(s[i] - '0')
	}
	day, month := d[0]*10+d[1], d[2]*10+d[3]
	if day > 40 {
		day -= 40
	}
	if month > 80 {
		month -= 80
	} else if month > 40 {
		month -= 40
	}
	if day < 1 || day > 31 || month < 1 || month > 12 {
		return false
	}
	check := func(w []int, n int) int {
		sum := 0
		for i := 0; i < n; i++ {
			sum += w[i] * d[i]
		}
		k := 11 - sum%11
		if k == 11 {
			k = 0
		}
		return k
	}
	k1 := check([]int{3, 7, 6, 1, 8, 9, 4, 5, 2}, 9)
	k2 := check([]int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}, 10)
	return k1 != 10 && k2 != 10 && k1 == d[9] && k2 == d[10]
}
