package server

import (
	"container/list"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
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

// maxForwardedHops bounds how many X-Forwarded-For entries are examined
// from the right; a longer chain of trusted proxies is not plausible, and
// the bound keeps a huge header from costing more than a few lookups.
const maxForwardedHops = 32

// parseTrustedProxies parses delivery.trusted_proxies: CIDR ranges
// ("10.0.0.0/8", "2001:db8::/32") or single addresses. IPv4-mapped IPv6
// ranges are reduced to their IPv4 range, as addresses are (clientAddr).
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("[%d] %q: want a CIDR range or an address", i, s)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("[%d] %q: want a CIDR range or an address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// clientKey is the rate-limit key of a request: the client's address,
// with IPv6 addresses reduced to their /64 (one host usually holds a whole
// /64 and could otherwise rotate through it).
//
// The client's address is the connection's peer, unless the peer is a
// trusted proxy (delivery.trusted_proxies): then it is the right-most
// X-Forwarded-For entry that is not itself a trusted proxy. Entries left of
// that one were written by the client and are never read; when the chain
// holds nothing but trusted proxies, or an entry that is not an address,
// the peer's address is the key (all such requests then share one budget:
// stricter, never spoofable). X-Forwarded-For from any other peer is
// ignored, as any client can send it.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = normAddr(ip)
	if len(trusted) > 0 && isTrusted(ip, trusted) {
		if c, ok := forwardedClient(r.Header.Values("X-Forwarded-For"), trusted); ok {
			ip = c
		}
	}
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// normAddr drops a zone and maps IPv4-mapped IPv6 to IPv4.
func normAddr(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks the X-Forwarded-For lines (in order; each a
// comma-separated list) from the right and returns the first address that
// is not a trusted proxy. ok is false when there is none within
// maxForwardedHops, or an entry on the way is not an address.
func forwardedClient(lines []string, trusted []netip.Prefix) (netip.Addr, bool) {
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				elem, rest = rest[j+1:], rest[:j]
			} else {
				elem, rest = rest, ""
			}
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}, false
			}
			a, ok := parseForwardedAddr(elem)
			if !ok {
				return netip.Addr{}, false
			}
			if !isTrusted(a, trusted) {
				return a, true
			}
			if rest == "" {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// parseForwardedAddr parses one X-Forwarded-For entry: an address, or an
// address with a port ("192.0.2.1:443", "[2001:db8::1]:443"), which some
// proxies write.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return normAddr(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normAddr(ap.Addr()), true
	}
	return netip.Addr{}, false
}
