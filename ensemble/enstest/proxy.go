package enstest

import (
	"net"
	"sync"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one peer's client port.
// Every connection accepted is forwarded to the peer on a new connection;
// Cut, Pause and Resume act on them. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	paused  bool
	refuse  bool
	closed  bool
	conns   map[net.Conn]struct{}
	cutting int // bumped by Cut: pumps of older connections stop
}

// NewProxy listens on a free loopback port and forwards to target. It
// returns the listen error, if any.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection through the proxy, as a network failure
// would; new connections are accepted as before.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.cutting++
	p.cond.Broadcast()
}

// Pause stops forwarding bytes in both directions on every connection,
// present and future, without closing any: the client's requests and pings
// go unanswered, as on a network that drops packets, until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume forwards again what Pause held back.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Refuse makes the proxy close new connections at once (on) or accept them
// again (off), as if the peer were unreachable; it does not touch existing
// connections (Cut does).
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Close stops the proxy, closes every connection and waits for its
// goroutines. Calling it again does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve forwards one client connection to the target until either side
// closes or Cut.
func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	p.conns[in] = struct{}{}
	p.conns[out] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(out, in) }()
	go func() { defer wg.Done(); p.pump(in, out) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

// pump copies src to dst, holding bytes while paused; it closes both when
// either side fails.
func (p *Proxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitUnpaused() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or a broken connection: either way, done
			return
		}
	}
}

// waitUnpaused blocks while the proxy is paused; it returns false if the
// proxy was cut or closed meanwhile.
func (p *Proxy) waitUnpaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	gen := p.cutting
	for p.paused && !p.closed && p.cutting == gen {
		p.cond.Wait()
	}
	return !p.closed && p.cutting == gen
}
