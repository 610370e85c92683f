package ensemble

import (
	"net"
	"sync"
)

// ipLimiter counts open connections per remote IP.
type ipLimiter struct {
	max int // <= 0: no limit
	mu  struct {
		sync.Mutex
		open map[string]int
	}
}

func newIPLimiter(max int) *ipLimiter {
	l := &ipLimiter{max: max}
	l.mu.open = make(map[string]int)
	return l
}

// ipOf returns the IP part of addr, or addr's string when it has none.
func ipOf(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// acquire counts one more connection from ip and reports true, or reports
// false (and counts nothing) when ip is at the limit.
func (l *ipLimiter) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.mu.open[ip] >= l.max {
		return false
	}
	l.mu.open[ip]++
	return true
}

// release forgets one connection from ip.
func (l *ipLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.mu.open[ip]; n <= 1 {
		delete(l.mu.open, ip)
	} else {
		l.mu.open[ip] = n - 1
	}
}
