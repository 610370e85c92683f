package transport

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/broadcast"
)

// Redial backoff after a failed dial or handshake: it starts at minBackoff,
// doubles up to maxBackoff and is reset by a successful handshake.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

// item is one queued message or payload.
type item struct {
	msg   broadcast.Message
	app   []byte
	isApp bool
}

// dest is the outbound side towards one member: a queue filled by Send and
// SendApp, and one writer goroutine (run) that owns the connection, dials it
// when there is something to send and drains the queue into it, many frames
// per write.
type dest struct {
	t         *Transport
	id        uint64
	wake      chan struct{} // capacity 1: something was queued
	connected atomic.Bool

	mu struct {
		sync.Mutex
		q    []item
		conn net.Conn // the connection being set up or in use, for a queue reset to close
	}

	// Owned by run.
	conn    net.Conn
	broken  chan struct{} // closed by watch when conn ends; nil without conn
	backoff time.Duration
	next    time.Time // no dial before this
	out     batch
	bufs    net.Buffers
	group   net.Buffers
	spare   []item
}

func newDest(t *Transport, id uint64) *dest {
	return &dest{t: t, id: id, wake: make(chan struct{}, 1)}
}

// push queues it and wakes the writer. A full queue is dropped first, and
// the connection closed, as if it had broken.
func (d *dest) push(it item) {
	var reset net.Conn
	dropped := 0
	d.mu.Lock()
	if len(d.mu.q) >= d.t.cfg.QueueLimit {
		dropped = len(d.mu.q)
		d.mu.q = nil
		reset, d.mu.conn = d.mu.conn, nil
	}
	d.mu.q = append(d.mu.q, it)
	d.mu.Unlock()
	if dropped > 0 {
		d.t.n.queueResets.Add(1)
		d.t.n.dropped.Add(uint64(dropped))
		d.t.log.Warn("peer queue limit reached, dropping queue and resetting connection", "peer", d.id, "dropped", dropped)
		if reset != nil {
			_ = reset.Close() // the writer sees the break and sends the Down hint
		} else {
			d.t.hint(d.id)
		}
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// take swaps the queue out, handing the writer's spare backing array back.
func (d *dest) take() []item {
	spare := d.spare[:0]
	d.spare = nil
	d.mu.Lock()
	q := d.mu.q
	d.mu.q = spare
	d.mu.Unlock()
	return q
}

// recycle clears q and keeps it as the spare backing array unless large.
func (d *dest) recycle(q []item) {
	clear(q)
	if cap(q) <= maxKeptItems {
		d.spare = q[:0]
	}
}

// dropQueue drops everything queued and returns how many.
func (d *dest) dropQueue() int {
	q := d.take()
	n := len(q)
	d.recycle(q)
	d.t.n.dropped.Add(uint64(n))
	return n
}

func (d *dest) run() {
	defer d.t.wg.Done()
	defer d.closeConn()
	for {
		select {
		case <-d.t.done:
			return
		case <-d.broken:
			d.lost(errors.New("connection closed by peer"))
			continue
		case <-d.wake:
		}
		if !d.drain() {
			return
		}
	}
}

// drain writes everything queued, dialing first if needed. It returns false
// when the transport is closing.
func (d *dest) drain() bool {
	for {
		if d.conn == nil {
			d.mu.Lock()
			empty := len(d.mu.q) == 0
			d.mu.Unlock()
			if empty {
				return true
			}
			if wait := time.Until(d.next); wait > 0 && !d.t.wait(wait) {
				return false
			}
			if err := d.dial(); err != nil {
				if d.t.closing() {
					return false
				}
				d.dialFailed(err)
				return true
			}
		}
		q := d.take()
		if len(q) == 0 {
			d.recycle(q)
			return true
		}
		err := d.write(q)
		d.recycle(q)
		if err != nil {
			if d.t.closing() {
				return false
			}
			d.lost(err)
			return true
		}
	}
}

// write encodes q into batches of about flushBytes (plus any large data
// written in place) and writes each with one writev.
func (d *dest) write(q []item) error {
	d.out.reset()
	for i := range q {
		var err error
		if q[i].isApp {
			err = d.out.addApp(q[i].app, d.t.cfg.MaxFrame)
		} else {
			err = d.out.addMessage(&q[i].msg, d.t.cfg.MaxFrame)
		}
		if err != nil {
			d.t.n.dropped.Add(1)
			d.t.log.Warn("dropping unsendable message", "peer", d.id, "err", err)
		}
		if len(d.out.b) >= flushBytes {
			if err := d.flush(); err != nil {
				d.t.n.dropped.Add(uint64(len(q) - i - 1))
				return err
			}
		}
	}
	return d.flush()
}

// flush writes the batch and empties it.
func (d *dest) flush() error {
	if d.out.empty() {
		return nil
	}
	frames := d.out.frames
	d.bufs = d.out.buffers(d.bufs)
	var err error
	d.group, err = writeBuffers(d.conn, d.bufs, d.group, d.t.cfg.WriteTimeout)
	clear(d.bufs)
	d.out.reset()
	if err != nil {
		d.t.n.dropped.Add(uint64(frames))
		return err
	}
	d.t.n.sent.Add(uint64(frames))
	return nil
}

// dial connects to the member's current address and authenticates.
func (d *dest) dial() error {
	addr, ok := d.t.cfg.Resolve(d.id)
	if !ok {
		return fmt.Errorf("%w %d", ErrUnresolved, d.id)
	}
	dialer := net.Dialer{Timeout: d.t.cfg.DialTimeout}
	c, err := dialer.DialContext(d.t.ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if !d.t.track(c) {
		_ = c.Close()
		return ErrClosed
	}
	d.mu.Lock()
	d.mu.conn = c
	d.mu.Unlock()
	r := bufio.NewReaderSize(c, 512)
	var ours nonce
	_, _ = rand.Read(ours[:]) // never fails (crypto/rand panics instead)
	err = c.SetDeadline(time.Now().Add(d.t.cfg.HandshakeTimeout))
	if err == nil {
		err = d.t.hs.dial(r, c, d.id, ours)
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		d.mu.Lock()
		if d.mu.conn == c {
			d.mu.conn = nil
		}
		d.mu.Unlock()
		d.t.release(c)
		return fmt.Errorf("%s: %w", addr, err)
	}
	d.conn = c
	d.broken = make(chan struct{})
	d.backoff = 0
	d.connected.Store(true)
	d.t.wg.Add(1)
	go d.watch(c, r, d.broken)
	d.t.log.Debug("peer connected out", "peer", d.id, "addr", addr)
	return nil
}

// watch reads the outbound connection, on which the listener never sends
// after the handshake, so that a peer that goes away is noticed at once
// rather than on the next write. It closes c and broken when c ends.
func (d *dest) watch(c net.Conn, r *bufio.Reader, broken chan struct{}) {
	defer d.t.wg.Done()
	defer close(broken)
	_, err := r.ReadByte()
	if err == nil {
		d.t.log.Warn("peer sent data on an outbound connection", "peer", d.id)
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !d.t.closing() {
		d.t.log.Debug("peer connection out read failed", "peer", d.id, "err", err)
	}
	_ = c.Close()
}

func (d *dest) dialFailed(err error) {
	n := d.dropQueue()
	d.backoff = min(max(2*d.backoff, minBackoff), maxBackoff)
	d.next = time.Now().Add(d.backoff)
	d.t.n.dialFailed.Add(1)
	if errors.Is(err, ErrHandshake) {
		d.t.log.Warn("peer handshake failed", "peer", d.id, "err", err, "dropped", n)
	} else {
		d.t.log.Debug("peer dial failed", "peer", d.id, "err", err, "dropped", n, "retry", d.backoff)
	}
	d.t.hint(d.id) // last: whoever acts on the hint sees the counters and logs
}

// lost tears down a connection that broke: what is queued is dropped, a
// Down hint is sent, and the next Send redials after minBackoff.
func (d *dest) lost(err error) {
	d.closeConn()
	n := d.dropQueue()
	// A peer that authenticates and then drops every connection (say, it
	// cannot read this format version) is redialed at most every
	// minBackoff, not as fast as Sends come.
	d.next = time.Now().Add(minBackoff)
	d.t.log.Info("peer connection out lost", "peer", d.id, "err", err, "dropped", n)
	d.t.hint(d.id)
}

func (d *dest) closeConn() {
	if d.conn == nil {
		return
	}
	d.connected.Store(false)
	d.mu.Lock()
	if d.mu.conn == d.conn {
		d.mu.conn = nil
	}
	d.mu.Unlock()
	d.t.release(d.conn)
	d.conn = nil
	d.broken = nil
}
