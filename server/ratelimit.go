package server

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// failLimiter limits how many failures (wrong, expired or foreign portal
// tokens) one client may cause per window. It is a GCRA token bucket: each
// key keeps one "theoretical arrival time" (tat); a failure advances it by
// window/limit, and a key is limited while one more failure would push tat
// more than a window past now. So a fresh client may fail limit times at
// once, then once per window/limit.
//
// Attempts are charged before the lookup they guard (take) and refunded
// when the lookup succeeds (refund): concurrent guesses from one client
// cannot all pass a check made before any of them failed.
//
// Memory is bounded: at most maxKeys keys are tracked, in least recently
// charged order; expired keys are dropped from the front as new ones
// arrive, and when the limiter is full the least recently charged key is
// evicted (an attacker needs more than maxKeys addresses to profit from
// that, and then per-address limits no longer hold anyway).
type failLimiter struct {
	limit    int
	window   time.Duration
	interval time.Duration // window / limit: one failure's cost
	maxKeys  int
	now      func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element // of *failEntry
	order *list.List               // least recently charged first
}

type failEntry struct {
	key string
	tat time.Time
}

// defaultFailKeys bounds the memory of the portal limiter (~100 bytes a key).
const defaultFailKeys = 10000

// newFailLimiter allows perMinute failures per client and minute (at
// least 1).
func newFailLimiter(perMinute int) *failLimiter {
	return newFailLimiterOpts(perMinute, time.Minute, defaultFailKeys, time.Now)
}

func newFailLimiterOpts(limit int, window time.Duration, maxKeys int, now func() time.Time) *failLimiter {
	if limit < 1 {
		limit = 1
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	return &failLimiter{limit: limit, window: window, interval: window / time.Duration(limit),
		maxKeys: maxKeys, now: now, keys: map[string]*list.Element{}, order: list.New()}
}

// take charges key one failure when it is within its budget and reports
// true; otherwise it charges nothing and returns how long the client must
// wait before its next attempt is accepted (at least one second).
func (l *failLimiter) take(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	el := l.keys[key]
	var e *failEntry
	if el != nil {
		e = el.Value.(*failEntry)
		// Limited while tat is more than window-interval ahead: one more
		// failure would put it beyond a whole window.
		if wait := e.tat.Sub(now) - (l.window - l.interval); wait > 0 {
			return false, ceilSecond(wait)
		}
	} else {
		for l.order.Len() >= l.maxKeys {
			l.remove(l.order.Front())
		}
		e = &failEntry{key: key, tat: now}
		el = l.order.PushBack(e)
		l.keys[key] = el
	}
	if e.tat.Before(now) {
		e.tat = now
	}
	e.tat = e.tat.Add(l.interval)
	l.order.MoveToBack(el)
	return true, 0
}

// refund gives back the failure take charged, once the attempt turned out
// to be valid.
func (l *failLimiter) refund(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.keys[key]
	if el == nil {
		return // evicted meanwhile
	}
	e := el.Value.(*failEntry)
	e.tat = e.tat.Add(-l.interval)
	if !e.tat.After(now) {
		l.remove(el)
	}
}

// tracked returns how many keys the limiter holds (for tests and metrics).
func (l *failLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// prune drops expired keys from the front. The order is by last charge,
// not by tat, so an expired key behind a live one waits for a later prune
// (or eviction); the walk stays amortised O(1) per call.
func (l *failLimiter) prune(now time.Time) {
	for el := l.order.Front(); el != nil; el = l.order.Front() {
		if el.Value.(*failEntry).tat.After(now) {
			return
		}
		l.remove(el)
	}
}

func (l *failLimiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*failEntry).key)
	l.order.Remove(el)
}

func ceilSecond(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// clientKey is the rate-limit key of a request: the peer address of the
// connection, with IPv6 addresses reduced to their /64 (one host usually
// holds a whole /64 and could otherwise rotate through it). X-Forwarded-For
// is not trusted: any client can set it. Behind a reverse proxy every
// client shares the proxy's address, so the proxy must rate-limit
// /portal/ itself (and this limit then protects against a compromised or
// misconfigured proxy only).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
