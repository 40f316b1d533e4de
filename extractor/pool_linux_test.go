//go:build linux

package extractor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docvet/docvet/extractor/doctext"
)

// alive reports whether pid runs (a zombie counts as dead: in a container
// nobody may reap an orphan).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestPoolKillsPdftotext: a pdftotext that hangs is killed with the worker
// that started it (process group kill, parent-death signal).
func TestPoolKillsPdftotext(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	fake := filepath.Join(dir, "pdftotext")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 300\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	opt := testPoolOptions("rlimit")
	opt.Size, opt.Timeout, opt.Pdftotext = 1, 2*time.Second, fake
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Extract(context.Background(), strings.NewReader("%PDF-1.4\nnot really a pdf\n%%EOF\n"), Hint{})
	p.Close()
	if err != nil || res.Reason != "timeout after 2s" {
		t.Fatalf("got %v %s %q", err, res.Status, res.Reason)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("fake pdftotext never ran: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pdftotext %d outlived its killed worker", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerIgnoresInterrupt: workers run in their own process group and
// ignore SIGINT/SIGTERM, so a Ctrl-C meant for the parent does not turn
// the documents in flight into "worker crashed".
func TestWorkerIgnoresInterrupt(t *testing.T) {
	opt := testPoolOptions("rlimit")
	opt.Size = 1
	p, err := NewPool(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	echo := func(s string) {
		t.Helper()
		res, err := p.Extract(context.Background(), strings.NewReader(s), Hint{MIME: TestMIMEEcho})
		if err != nil || res.Status != doctext.StatusOK || res.Text != s {
			t.Fatalf("%s: %v %s %q", s, err, res.Status, res.Reason)
		}
	}
	echo("one")
	pid := livePID(t, p)
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid || pgid == syscall.Getpgrp() {
		t.Errorf("worker %d in process group %d (%v), parent's %d", pid, pgid, err, syscall.Getpgrp())
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	echo("two")
	if got := livePID(t, p); got != pid {
		t.Errorf("worker replaced after SIGINT/SIGTERM: %d -> %d", pid, got)
	}
}

// TestPoolWorkerGOGC: workers run with WorkerGOGC unless the caller's Env
// (or the environment) says otherwise.
func TestPoolWorkerGOGC(t *testing.T) {
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	for _, tc := range []struct {
		name string
		gogc int
		env  []string
		want string
	}{
		{"default", 0, nil, "GOGC=400"},
		{"option", 150, nil, "GOGC=150"},
		{"env wins", 150, []string{"GOGC=off"}, "GOGC=off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := testPoolOptions("rlimit")
			opt.Size = 1
			opt.WorkerGOGC = tc.gogc
			opt.Env = append(opt.Env, tc.env...)
			p, err := NewPool(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if _, err := p.Extract(context.Background(), strings.NewReader("x"), Hint{MIME: TestMIMEEcho}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile("/proc/" + strconv.Itoa(livePID(t, p)) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range strings.Split(string(b), "\x00") {
				if strings.HasPrefix(kv, "GOGC=") {
					got = append(got, kv)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("worker GOGC %v, want [%s]", got, tc.want)
			}
		})
	}
}
