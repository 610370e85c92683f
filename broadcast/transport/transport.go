package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/broadcast"
)

const (
	// recvBuffer is the capacity of the channel Recv returns.
	recvBuffer = 4096
	// downBuffer is the capacity of the channel Down returns.
	downBuffer = 256
	// maxPendingHandshakes caps inbound connections that have not yet
	// authenticated; more are closed at once.
	maxPendingHandshakes = 64
	// readBuffer is the size of an inbound connection's bufio.Reader.
	readBuffer = 64 << 10
)

// Packet is one authenticated inbound message. Exactly one of Msg and App is
// non-nil. The receiver owns everything in it: nothing aliases a buffer the
// transport reuses.
type Packet struct {
	// From is the sender's server id, proven by the handshake.
	From uint64
	// Msg is a ZAB message (sent with Send); Msg.From == From and Msg.To
	// is this member.
	Msg *broadcast.Message
	// App is an application payload (sent with SendApp), non-nil even
	// when empty.
	App []byte
}

// Stats counts what a Transport has done since New. Every field only
// grows.
type Stats struct {
	// Refused counts inbound connections refused before authentication:
	// wrong cluster id, a stranger, a bad MAC, a malformed or late
	// handshake, too many handshakes at once.
	Refused uint64
	// DialFailed counts outbound connections that could not be set up: no
	// address, connect failed, or the handshake failed (wrong cluster id,
	// the wrong member answered, a bad proof, a refusal).
	DialFailed uint64
	// Rejected counts authenticated inbound connections closed for a bad
	// frame: too large, malformed, an unknown kind, or a message whose From
	// is not the authenticated peer or whose To is not this member.
	Rejected uint64
	// QueueResets counts destinations whose queue reached QueueLimit and
	// was dropped (the connection reset with it).
	QueueResets uint64
	// Dropped counts outbound messages and payloads dropped: addressed to
	// this member or a non-member, sent after Close, over MaxFrame, or
	// queued on a connection that broke, failed to connect or was reset.
	Dropped uint64
	// Sent counts frames written to a connection (the kernel accepted
	// them; the peer may still lose them if the connection breaks).
	Sent uint64
	// Received counts packets delivered to Recv.
	Received uint64
}

type counters struct {
	refused, dialFailed, rejected, queueResets, dropped, sent, received atomic.Uint64
}

// Transport moves ZAB messages and application payloads between the
// members of a static ensemble over TCP. Its methods are safe for
// concurrent use.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	hs    *handshaker
	dests map[uint64]*dest // every member but this one; read-only after New

	recv    chan Packet
	down    chan uint64
	pending chan struct{} // a slot per handshake in progress

	ctx    context.Context // canceled by Close: interrupts dials
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu struct {
		sync.Mutex
		closed  bool
		conns   map[net.Conn]struct{} // every open connection, for Close
		inbound map[uint64]*inConn    // the current inbound connection per member
	}
	n counters
}

// inConn is an authenticated inbound connection.
type inConn struct {
	conn net.Conn
	stop chan struct{} // closed by the connection that replaces this one
	done chan struct{} // closed when its reader has stopped delivering
}

// New validates cfg, listens on cfg.ListenAddr and starts the accept loop
// and one writer per other member (writers dial lazily, on the first Send).
// It returns an error wrapping ErrConfig for a bad cfg, or the listener's
// error.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", cfg.ListenAddr, err)
	}
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger,
		ln:      ln,
		dests:   make(map[uint64]*dest, len(cfg.Members)),
		recv:    make(chan Packet, recvBuffer),
		down:    make(chan uint64, downBuffer),
		pending: make(chan struct{}, maxPendingHandshakes),
		done:    make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.conns = make(map[net.Conn]struct{})
	t.mu.inbound = make(map[uint64]*inConn)
	for _, id := range cfg.Members {
		if id != cfg.ID {
			t.dests[id] = newDest(t, id)
		}
	}
	t.hs = newHandshaker(cfg.ClusterID, cfg.Secret, cfg.ID, func(id uint64) bool {
		_, ok := t.dests[id]
		return ok
	})
	t.wg.Add(1 + len(t.dests))
	go t.acceptLoop()
	for _, d := range t.dests {
		go d.run()
	}
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// Recv returns the channel every authenticated inbound packet is delivered
// on, in the order each sender sent them (FIFO per sender; nothing is
// promised across senders). The channel is buffered; when it is full the
// connections' readers wait, and TCP pushes back on the senders. Close does
// not close it.
func (t *Transport) Recv() <-chan Packet { return t.recv }

// Down returns a channel of hints: a member's connection (either direction)
// broke, a dial or handshake to it failed, or its queue was reset. Hints are
// sent without blocking and dropped when the buffer is full; a hint may
// also be stale. Close does not close it.
func (t *Transport) Down() <-chan uint64 { return t.down }

// Connected reports whether an authenticated outbound connection to id is
// up. It is false for this member and non-members.
func (t *Transport) Connected(id uint64) bool {
	d, ok := t.dests[id]
	return ok && d.connected.Load()
}

// Stats returns a snapshot of the transport's counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Refused:     t.n.refused.Load(),
		DialFailed:  t.n.dialFailed.Load(),
		Rejected:    t.n.rejected.Load(),
		QueueResets: t.n.queueResets.Load(),
		Dropped:     t.n.dropped.Load(),
		Sent:        t.n.sent.Load(),
		Received:    t.n.received.Load(),
	}
}

// Send queues m for m.To and returns at once. Messages to one destination
// are written in the order Send and SendApp were called, on one connection;
// if it breaks, what was queued or in flight is lost (see the package doc).
// A message to this member or a non-member, with a From other than this
// member, or sent after Close is dropped. The transport keeps m's slices
// (Epochs, Entries and their Data, Snapshot) until the message is written:
// the caller must not modify them after Send.
func (t *Transport) Send(m broadcast.Message) {
	if m.From != t.cfg.ID {
		t.n.dropped.Add(1)
		t.log.Warn("dropping message with a foreign sender", "peer", m.To, "from", m.From, "type", m.Type.String())
		return
	}
	t.enqueue(m.To, item{msg: m})
}

// SendApp queues payload for member to and returns at once. It travels in
// the same ordered stream as Send's messages to that member and is dropped
// in the same cases. The caller must not modify payload after SendApp.
func (t *Transport) SendApp(to uint64, payload []byte) {
	t.enqueue(to, item{app: payload, isApp: true})
}

func (t *Transport) enqueue(to uint64, it item) {
	d, ok := t.dests[to]
	if !ok {
		t.n.dropped.Add(1)
		t.log.Debug("dropping message to self or a non-member", "peer", to)
		return
	}
	select {
	case <-t.done:
		t.n.dropped.Add(1)
		return
	default:
	}
	d.push(it)
}

// hint sends a Down hint without blocking.
func (t *Transport) hint(id uint64) {
	select {
	case t.down <- id:
	default:
	}
}

// Close stops accepting, closes every connection, drops whatever is queued
// and waits for every goroutine of the transport to return. It is
// idempotent; every call returns the listener's close error, if any.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		t.cancel()
		if err := t.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.closeErr = fmt.Errorf("transport: close listener: %w", err)
		}
		t.mu.Lock()
		t.mu.closed = true
		conns := t.mu.conns
		t.mu.conns = nil
		t.mu.Unlock()
		for c := range conns {
			_ = c.Close()
		}
		t.wg.Wait()
	})
	return t.closeErr
}

// track registers c for Close; it returns false (and c must be closed by
// the caller) when the transport is already closed.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return false
	}
	t.mu.conns[c] = struct{}{}
	return true
}

// release closes c and forgets it.
func (t *Transport) release(c net.Conn) {
	_ = c.Close()
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
}

func (t *Transport) closing() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// wait waits for d or Close; it returns false on Close.
func (t *Transport) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.done:
		return false
	}
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or the like: back off, never spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("peer accept failed", "err", err, "retry", delay)
			if !t.wait(delay) {
				return
			}
			continue
		}
		delay = 0
		select {
		case t.pending <- struct{}{}:
		default:
			_ = c.Close()
			t.n.refused.Add(1)
			t.log.Warn("peer handshake refused", "addr", c.RemoteAddr().String(), "reason", "too many handshakes in progress")
			continue
		}
		if !t.track(c) {
			_ = c.Close()
			<-t.pending
			return
		}
		t.wg.Add(1)
		go t.serve(c)
	}
}

// serve authenticates an accepted connection, then reads its frames into
// Recv until it breaks, is replaced, or the transport closes.
func (t *Transport) serve(c net.Conn) {
	defer t.wg.Done()
	defer t.release(c)
	addr := c.RemoteAddr().String()
	r := bufio.NewReaderSize(c, readBuffer)
	var ours nonce
	_, _ = rand.Read(ours[:]) // never fails (crypto/rand panics instead)
	_ = c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	from, err := t.hs.accept(r, c, ours)
	<-t.pending
	if err != nil {
		if !t.closing() {
			t.n.refused.Add(1)
			t.log.Warn("peer handshake refused", "addr", addr, "peer", from, "err", err)
		}
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return
	}
	ic := &inConn{conn: c, stop: make(chan struct{}), done: make(chan struct{})}
	defer close(ic.done)
	// One inbound connection per member: a newer one replaces an older
	// one, whose reader stops delivering before this one starts, so
	// packets from one sender never interleave across connections.
	t.mu.Lock()
	old := t.mu.inbound[from]
	t.mu.inbound[from] = ic
	t.mu.Unlock()
	if old != nil {
		close(old.stop)
		_ = old.conn.Close()
		<-old.done
	}
	t.log.Debug("peer connected in", "peer", from, "addr", addr)
	err = t.read(r, from, ic)
	t.mu.Lock()
	current := t.mu.inbound[from] == ic
	if current {
		delete(t.mu.inbound, from)
	}
	t.mu.Unlock()
	if !current || t.closing() {
		return
	}
	if err != nil {
		t.n.rejected.Add(1)
		t.log.Warn("peer connection rejected", "peer", from, "addr", addr, "err", err)
	} else {
		t.log.Info("peer connection in closed", "peer", from, "addr", addr)
	}
	t.hint(from)
}

// read delivers r's frames from member from until the connection ends. It
// returns nil when it ended (EOF, a read error, replaced, or Close) and an
// error when a frame was bad.
func (t *Transport) read(r *bufio.Reader, from uint64, ic *inConn) error {
	buf := make([]byte, 0, 4<<10)
	for {
		body, owned, err := readFrame(r, t.cfg.MaxFrame, buf)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
				return err
			}
			return nil
		}
		if !owned {
			buf = body[:0]
		}
		p := Packet{From: from}
		switch body[0] {
		case kindMessage:
			m, err := decodePacket(body[1:], owned)
			if err != nil {
				return err
			}
			if m.From != from || m.To != t.cfg.ID {
				return fmt.Errorf("%w: %v message from %d to %d on the connection of member %d", ErrMalformed, m.Type, m.From, m.To, from)
			}
			p.Msg = m
		case kindApp:
			if owned {
				p.App = body[1:]
			} else {
				p.App = make([]byte, len(body)-1)
				copy(p.App, body[1:])
			}
		default:
			return fmt.Errorf("%w: frame kind %d", ErrMalformed, body[0])
		}
		select {
		case t.recv <- p:
			t.n.received.Add(1)
		case <-ic.stop:
			return nil
		case <-t.done:
			return nil
		}
	}
}
