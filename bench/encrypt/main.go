package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/docvet/docvet/encrypt"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "encrypt bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("encrypt", flag.ContinueOnError)
	sizes := fs.String("sizes", "1MB,100MB,1GB", "comma-separated file sizes (KB, MB, GB: powers of 1000)")
	dir := fs.String("dir", os.TempDir(), "directory for the generated files (needs 3x the largest size free)")
	keyType := fs.String("key", "x25519", "key type: x25519 (Ed25519/Cv25519) or rsa3072")
	runs := fs.Int("runs", 3, "runs per tool and size (the best is reported)")
	// Internal: the child process encrypting one file.
	child := fs.Bool("child", false, "internal: encrypt -in to -out with -pub")
	in := fs.String("in", "", "internal")
	out := fs.String("out", "", "internal")
	pub := fs.String("pub", "", "internal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child {
		return encryptFile(*pub, *in, *out)
	}
	if _, err := exec.LookPath("gpg"); err != nil {
		return errors.New("gpg not found (apt-get install gnupg)")
	}
	work, err := os.MkdirTemp(*dir, "encbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	pubFile := filepath.Join(work, "pub.asc")
	if err := writeKey(pubFile, *keyType); err != nil {
		return err
	}
	home := filepath.Join(work, "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	gpgEnv := append(os.Environ(), "GNUPGHOME="+home)
	defer func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = gpgEnv
		cmd.Run()
	}()
	imp := exec.CommandContext(ctx, "gpg", "--batch", "--quiet", "--import", pubFile)
	imp.Env = gpgEnv
	if b, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("gpg --import: %v: %s", err, b)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	fmt.Printf("key: %s; best of %d runs; peak RSS = ru_maxrss of the process\n\n", *keyType, *runs)
	fmt.Println("| size | docvet s | docvet MB/s | docvet peak RSS | gpg (no compression) s | MB/s | gpg peak RSS | gpg (default compression) s | MB/s | gpg peak RSS | ratio (gpg none / docvet) |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range strings.Split(*sizes, ",") {
		size, err := parseSize(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		plain := filepath.Join(work, "plain.bin")
		if err := generate(plain, size); err != nil {
			return err
		}
		outFile := filepath.Join(work, "out.pgp")
		gpgArgs := func(compress bool) []string {
			a := []string{"--batch", "--yes", "--quiet", "--trust-model", "always"}
			if !compress {
				a = append(a, "--compress-algo", "none")
			}
			return append(a, "-r", "bench@example.org", "-o", outFile, "--encrypt", plain)
		}
		tools := []struct {
			name string
			cmd  func() *exec.Cmd
		}{
			{"docvet", func() *exec.Cmd {
				return exec.CommandContext(ctx, self, "-child", "-pub", pubFile, "-in", plain, "-out", outFile)
			}},
			{"gpg-none", func() *exec.Cmd {
				c := exec.CommandContext(ctx, "gpg", gpgArgs(false)...)
				c.Env = gpgEnv
				return c
			}},
			{"gpg-default", func() *exec.Cmd {
				c := exec.CommandContext(ctx, "gpg", gpgArgs(true)...)
				c.Env = gpgEnv
				return c
			}},
		}
		var res [3]result
		for i, tool := range tools {
			best := result{}
			for range *runs {
				os.Remove(outFile)
				r, err := measure(tool.cmd())
				if err != nil {
					return fmt.Errorf("%s on %s: %w", tool.name, s, err)
				}
				if st, err := os.Stat(outFile); err != nil || st.Size() < size {
					return fmt.Errorf("%s on %s: no or short output", tool.name, s)
				}
				if best.wall == 0 || r.wall < best.wall {
					best.wall = r.wall
				}
				best.rss = max(best.rss, r.rss)
			}
			res[i] = best
			os.Remove(outFile)
		}
		os.Remove(plain)
		mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
		fmt.Printf("| %s | %.3f | %.0f | %s | %.3f | %.0f | %s | %.3f | %.0f | %s | %.2f |\n", s,
			res[0].wall.Seconds(), mbps(res[0].wall), mib(res[0].rss),
			res[1].wall.Seconds(), mbps(res[1].wall), mib(res[1].rss),
			res[2].wall.Seconds(), mbps(res[2].wall), mib(res[2].rss),
			res[1].wall.Seconds()/res[0].wall.Seconds())
	}
	return nil
}

type result struct {
	wall time.Duration
	rss  int64 // bytes
}

// measure runs cmd and returns its wall time and peak RSS.
func measure(cmd *exec.Cmd) (result, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage")
	}
	return result{wall: wall, rss: ru.Maxrss * 1024}, nil // Linux: KiB
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// encryptFile is docvet's delivery path for one file, in the child
// process: check the key now, stream the file through Recipient.Encrypt.
func encryptFile(pubFile, in, out string) error {
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		return err
	}
	r, err := encrypt.NewRecipient(string(pub), time.Now(), encrypt.Policy{})
	if err != nil {
		return err
	}
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	st, err := src.Stat()
	if err != nil {
		return err
	}
	w, err := r.Encrypt(dst, filepath.Base(in), st.ModTime())
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return dst.Close()
}

// writeKey generates a key pair and writes the armored public key.
func writeKey(path, keyType string) error {
	c := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	switch keyType {
	case "x25519":
	case "rsa3072":
		c = &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 3072}
	default:
		return fmt.Errorf("unknown -key %q", keyType)
	}
	c.Time = func() time.Time { return time.Now().Add(-time.Hour) }
	e, err := openpgp.NewEntity("Bench", "", "bench@example.org", c)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := e.Serialize(w); err != nil {
		return err
	}
	w.Close()
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// generate writes size bytes of "random-ish" data: per 64 KiB block, 3/4
// random bytes (like the compressed formats most documents are) and 1/4
// repeated text, so GnuPG's default compression has a little to gain.
func generate(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	text := bytes.Repeat([]byte("Kari Nordmann, HR department, contract renewal 2024.\n"), 16<<10/53+1)[:16<<10]
	block := make([]byte, 64<<10)
	for written := int64(0); written < size; {
		rng.Read(block[:48<<10])
		copy(block[48<<10:], text)
		n := min(int64(len(block)), size-written)
		if _, err := w.Write(block[:n]); err != nil {
			f.Close()
			return err
		}
		written += n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseSize reads "1MB", "100MB", "1GB", "512KB" or a byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, x := range []struct {
		suffix string
		m      int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if strings.HasSuffix(u, x.suffix) {
			mult, u = x.m, strings.TrimSuffix(u, x.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
