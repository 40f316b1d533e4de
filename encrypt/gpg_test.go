package encrypt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// gpgHome makes a throw-away GnuPG home and returns a function running gpg
// in it with an empty loopback passphrase (gpgWithPassphrase). The test is
// skipped when gpg is not installed (.ci/run installs gnupg).
func gpgHome(t *testing.T) func(args ...string) string {
	t.Helper()
	run := gpgWithPassphrase(t)
	return func(args ...string) string {
		t.Helper()
		return run("", args...)
	}
}

// fingerprint returns the primary fingerprint of the only key for uid.
func gpgFingerprint(t *testing.T, gpg func(...string) string, uid string) string {
	t.Helper()
	for _, line := range strings.Split(gpg("--with-colons", "--list-keys", uid), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 9 && f[0] == "fpr" {
			return strings.ToLower(f[9])
		}
	}
	t.Fatalf("no fingerprint for the generated key")
	return ""
}

func TestGnuPGExportedKeys(t *testing.T) {
	gpg := gpgHome(t)
	// Ed25519 primary with a Cv25519 encryption subkey, no expiry.
	gpg("--quick-gen-key", "Modern <modern@example.org>", "future-default", "default", "never")
	// RSA-1024: gpg still makes them; refused.
	gpg("--quick-gen-key", "Weak <weak@example.org>", "rsa1024", "default", "never")
	weak := gpgFingerprint(t, gpg, "weak@example.org")
	gpg("--quick-add-key", weak, "rsa1024", "encr", "never")
	// Made two years ago with a one-year expiry.
	past := time.Now().Add(-2 * year).UTC().Format("20060102T150405")
	gpg("--faked-system-time", past+"!", "--quick-gen-key", "Expired <expired@example.org>", "future-default", "default", "1y")
	// Sign-only.
	gpg("--quick-gen-key", "Signer <signer@example.org>", "ed25519", "sign", "never")

	modernFpr := gpgFingerprint(t, gpg, "modern@example.org")
	at := time.Now()
	tests := []struct {
		uid  string
		want error
	}{
		{"modern@example.org", nil},
		{"weak@example.org", ErrKeyWeak},
		{"expired@example.org", ErrKeyExpired},
		{"signer@example.org", ErrKeyCannotEncrypt},
	}
	for _, tt := range tests {
		armored := gpg("--export", "--armor", tt.uid)
		ki, err := CheckPublicKey(armored, at, Policy{})
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.uid, err, tt.want)
			continue
		}
		if tt.want == nil {
			if ki.Fingerprint != modernFpr {
				t.Errorf("fingerprint %s, gpg says %s", ki.Fingerprint, modernFpr)
			}
			if ki.Algorithm != "eddsa" || ki.Curve != "ed25519" || ki.Encryption.Curve != "cv25519" || ki.UserIDs != 1 {
				t.Errorf("info = %+v", ki)
			}
		}
	}

	// The secret key export is refused, and so is the whole keyring.
	secret := gpg("--export-secret-keys", "--armor", "modern@example.org")
	if _, err := CheckPublicKey(secret, at, Policy{}); !errors.Is(err, ErrPrivateKey) {
		t.Errorf("secret key: err = %v", err)
	}
	if _, err := CheckPublicKey(gpg("--export", "--armor"), at, Policy{}); !errors.Is(err, ErrKeyParse) {
		t.Errorf("whole keyring: err = %v", err)
	}
}
