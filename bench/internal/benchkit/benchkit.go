// Package benchkit holds what docvet's benchmark programs share: the
// generated document text and the process measurements (CPU time, peak
// RSS, load average, directory sizes).
package benchkit

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// TextOptions vary the generated text between benchmarks (each keeps the
// text its published numbers were measured on).
type TextOptions struct {
	Amounts     bool   // now and then an amount ("NOK 12 345,67")
	SentenceEnd string // written after a sentence's last word
}

var (
	vocab = strings.Fields(`the of and to in is for on that by this with from as be are was at
		kontrakt avtale ansatt lønn ferie permisjon søknad vedtak klage faktura betaling kunde
		oppsigelse arbeidsgiver arbeidstaker møte referat rapport prosjekt budsjett regnskap
		Bjørn Ødegård Kari Nordmann Åse Ærø Øyvind Håkon Grønland Tromsø Bodø Straße Müller
		employee contract salary holiday invoice payment customer meeting minutes report project
		budget review performance agreement termination notice complaint decision application`)
	firstNames = []string{"kari", "ola", "bjorn", "ase", "per", "lise", "nils", "ingrid"}
	lastNames  = []string{"nordmann", "hansen", "olsen", "odegard", "larsen", "berg", "dahl"}
)

// Text writes document i's text (about 2 KB) into sb, reset first: words
// from a mixed Norwegian/English vocabulary with accents and, now and then,
// an e-mail address, a phone number and a date, so identifier extraction
// has realistic work. Document i is the same in every run.
func Text(sb *strings.Builder, i int, o TextOptions) {
	r := rand.New(rand.NewPCG(1, uint64(i)))
	sb.Reset()
	for sb.Len() < 2000 {
		switch k := r.IntN(100); {
		case k == 0:
			fmt.Fprintf(sb, "%s.%s@Example.NO ", firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))])
		case k == 1:
			fmt.Fprintf(sb, "+47 9%02d %02d %03d ", r.IntN(100), r.IntN(100), r.IntN(1000))
		case k == 2:
			fmt.Fprintf(sb, "20%02d-%02d-%02d ", r.IntN(25), 1+r.IntN(12), 1+r.IntN(28))
		case k == 3 && o.Amounts:
			fmt.Fprintf(sb, "NOK %d %03d,%02d ", r.IntN(100), r.IntN(1000), r.IntN(100))
		default:
			sb.WriteString(vocab[r.IntN(len(vocab))])
			if r.IntN(12) == 0 {
				sb.WriteString(o.SentenceEnd)
			} else {
				sb.WriteByte(' ')
			}
		}
	}
}

// CPU is the user+system CPU time of this process (syscall.RUSAGE_SELF) or
// of its waited-for children (RUSAGE_CHILDREN): on a shared machine a
// steadier measure of cost than wall time.
func CPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSSMB is this process's peak resident set (VmHWM), in MiB; -1 when
// /proc is not there.
func PeakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb / 1024
		}
	}
	return -1
}

// LoadAvg is the 1, 5 and 15 minute load average ("?" without /proc).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// DirSize is the total size of the files below p.
func DirSize(p string) int64 {
	var n int64
	_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
