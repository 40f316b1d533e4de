package mail

import "testing"

func TestDecodeBase64Padding(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"SGVsbG8gd29ybGQ=", "Hello world", false},
		// Each line encoded on its own: padding ends a quantum, not the body.
		{"SGVsbG8gd29ybGQ=\nRXJpa2EgTXVzdGVybWFubg==\n", "Hello worldErika Mustermann", false},
		{"SGVsbG8=\r\nV29ybGQ=\r\n", "HelloWorld", false},
		// Data after padding on the same line: decoded, but reported.
		{"SGVsbG8=V29ybGQ=", "HelloWorld", true},
		// Garbage after the padding.
		{"SGVsbG8=\n!!!\n", "Hello", true},
		// A quantum cut after one character.
		{"SGVsbG8gQ", "Hello ", true},
		{"", "", false},
	}
	for _, tc := range tests {
		got, bad := decodeBase64([]byte(tc.in))
		if string(got) != tc.want || bad != tc.bad {
			t.Errorf("decodeBase64(%q) = %q, %v; want %q, %v", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}
