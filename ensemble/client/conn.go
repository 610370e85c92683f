package client

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
)

// conn is one TCP connection to a server after a successful handshake. Three
// goroutines run it: the writer (drains the client's queue, many frames per
// write), the reader (matches replies to calls by xid, hands watch events to
// the registry) and the pinger. Any of them that hits an error calls fail,
// which closes the socket, stops the others and fails every call in flight.
type conn struct {
	c        *Client
	nc       net.Conn
	addr     string
	br       *bufio.Reader
	ww       *wire.Writer  // batches frames; refuses one over maxFrame
	timeout  time.Duration // negotiated session timeout
	maxFrame int           // the largest request body the server accepts

	wake      chan struct{} // cap 1: the queue has calls
	stop      chan struct{} // closed by fail
	failOnce  sync.Once
	lastWrite atomic.Int64 // Client.now() of the last flush
	lastRecv  atomic.Int64 // Client.now() of the last frame read
	wg        sync.WaitGroup

	mu struct {
		sync.Mutex
		dead    bool
		pending map[int64]*call // written, awaiting a reply
	}
}

const bufSize = 64 << 10

// minBatch is the size below which the writer yields once before flushing,
// so that callers about to queue join the batch.
const minBatch = 4 << 10

func newConn(c *Client, nc net.Conn, addr string) *conn {
	cn := &conn{
		c:        c,
		nc:       nc,
		addr:     addr,
		br:       bufio.NewReaderSize(nc, bufSize),
		ww:       wire.NewWriter(nc, wire.DefaultMaxFrame),
		maxFrame: wire.DefaultMaxFrame,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	cn.mu.pending = make(map[int64]*call)
	return cn
}

// start launches the connection's goroutines; the writer starts at once on
// whatever is queued.
func (cn *conn) start() {
	cn.wg.Add(3)
	go cn.writeLoop()
	go cn.readLoop()
	go cn.pingLoop()
	cn.kick()
}

// kick wakes the writer without blocking.
func (cn *conn) kick() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// fail tears the connection down once: cause is logged, every call in flight
// finishes with callErr (ErrConnectionLoss, or ErrClosed on Close), in the
// order they were sent.
func (cn *conn) fail(cause, callErr error) {
	cn.failOnce.Do(func() {
		cn.mu.Lock()
		cn.mu.dead = true
		pend := make([]*call, 0, len(cn.mu.pending))
		for _, cl := range cn.mu.pending {
			pend = append(pend, cl)
		}
		cn.mu.pending = nil
		cn.mu.Unlock()
		close(cn.stop)
		cn.nc.Close()
		cn.c.mu.Lock()
		final := cn.c.mu.err != nil // closing or expired: expected
		cn.c.mu.Unlock()
		if final || errors.Is(cause, ErrClosed) {
			cn.c.log.Debug("connection closed", "peer", cn.addr, "err", cause)
		} else {
			cn.c.log.Info("connection lost", "peer", cn.addr, "err", cause)
		}
		slices.SortFunc(pend, func(a, b *call) int { return compareInt64(a.req.Xid, b.req.Xid) })
		for _, cl := range pend {
			cn.c.finish(cl, nil, callErr)
		}
	})
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (cn *conn) lost(cause error) {
	cn.fail(cause, fmt.Errorf("%w: %v", ErrConnectionLoss, cause))
}

// addPending records cl as written; false if the connection already failed.
func (cn *conn) addPending(cl *call) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.mu.dead {
		return false
	}
	cn.mu.pending[cl.req.Xid] = cl
	return true
}

func (cn *conn) takePending(xid int64) *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cl := cn.mu.pending[xid]
	if cl != nil {
		delete(cn.mu.pending, xid)
	}
	return cl
}

// writeLoop drains the client's queue in order. Each call gets the next
// xid, is encoded into the batch, and is recorded as pending before the
// batch is flushed: one write per batch (or per 64 KiB of it). A batch
// under minBatch, sent while other calls are in flight, waits for one yield
// of the processor before it is sent.
func (cn *conn) writeLoop() {
	defer cn.wg.Done()
	c := cn.c
	var batch []*call
	for {
		select {
		case <-cn.wake:
		case <-cn.stop:
			return
		}
		cn.mu.Lock()
		inFlight := len(cn.mu.pending)
		cn.mu.Unlock()
		var ok bool
		if batch, ok = cn.encodeQueued(batch); !ok {
			return
		}
		if inFlight > 0 && cn.ww.Buffered() < minBatch {
			// A small batch while replies are on their way: yield once so
			// that the callers about to queue (typically those the reader
			// just woke) join it, and one write carries many requests
			// instead of one each. With nothing in flight no one is about
			// to queue, and the yield would only add latency.
			runtime.Gosched()
			if batch, ok = cn.encodeQueued(batch); !ok {
				return
			}
		}
		if err := cn.ww.Flush(); err != nil {
			cn.lost(err)
			return
		}
		cn.lastWrite.Store(c.now())
	}
}

// encodeQueued takes everything in the client's queue, gives each call the
// next xid, encodes it into the batch and records it as pending, flushing
// only when 64 KiB are buffered. It returns batch (emptied, for reuse) and
// false if the connection failed.
func (cn *conn) encodeQueued(batch []*call) ([]*call, bool) {
	c := cn.c
	c.mu.Lock()
	batch, c.mu.queue = c.mu.queue, batch[:0]
	c.mu.Unlock()
	for i, cl := range batch {
		cl.encMu.Lock()
		if cl.state.Load() == callAbandoned {
			cl.encMu.Unlock()
			batch[i] = nil
			continue
		}
		cl.req.Xid = c.xid.Add(1)
		err := cn.ww.WriteRequest(&cl.req)
		cl.encMu.Unlock()
		if err != nil {
			// Nothing was buffered: the call fails alone (too large
			// for the server, or not encodable).
			batch[i] = nil
			c.finish(cl, nil, err)
			continue
		}
		// After addPending the reader may finish cl at any moment:
		// cl must not be touched again here.
		if !cn.addPending(cl) {
			cn.requeue(batch[i:])
			return batch[:0], false
		}
		batch[i] = nil
		if cn.ww.Buffered() >= bufSize {
			if err := cn.ww.Flush(); err != nil {
				cn.lost(err)
				cn.requeue(batch[i+1:])
				return batch[:0], false
			}
		}
	}
	return batch[:0], true
}

// requeue puts calls that were never written back at the head of the
// client's queue, for the next connection; after expiry or Close they fail.
func (cn *conn) requeue(rest []*call) {
	c := cn.c
	var keep []*call
	for i, cl := range rest {
		if cl != nil {
			keep = append(keep, cl)
		}
		rest[i] = nil
	}
	if len(keep) == 0 {
		return
	}
	c.mu.Lock()
	err := c.mu.err
	if err == nil {
		c.mu.queue = append(keep, c.mu.queue...)
	}
	c.mu.Unlock()
	if err != nil {
		for _, cl := range keep {
			c.finish(cl, nil, err)
		}
	}
}

// readLoop reads frames until the connection breaks. Frames are handled one
// at a time in arrival order, so a watch event reaches its channel before
// the reply that follows it reaches its caller.
func (cn *conn) readLoop() {
	defer cn.wg.Done()
	c := cn.c
	readTimeout := cn.timeout * 2 / 3
	var buf []byte
	var resp wire.Response
	var armed int64 = -1 << 62
	now := c.now()
	for {
		// The deadline is pushed forward at most every quarter of the read
		// timeout: a silent server is noticed after 3/4 to 1 read timeout.
		// now is when the last frame arrived (one clock read per frame);
		// the deadline itself is set from a fresh reading.
		if now-armed > int64(readTimeout/4) {
			now = c.now()
			cn.nc.SetReadDeadline(c.epoch.Add(time.Duration(now) + readTimeout))
			armed = now
		}
		body, err := wire.ReadFrame(cn.br, c.opts.maxFrame, buf)
		if err != nil {
			cn.lost(err)
			return
		}
		buf = body
		now = c.now()
		cn.lastRecv.Store(now)
		c.heard.Store(now)
		if err := wire.DecodeResponse(body, &resp); err != nil {
			cn.lost(err)
			return
		}
		if cap(buf) > bufSize {
			buf = nil
		}
		c.seeZxid(resp.Zxid)
		if resp.Xid == wire.XidWatchEvent {
			if resp.Event != nil {
				c.watches.dispatch(resp.Event)
			}
			continue
		}
		cl := cn.takePending(resp.Xid)
		if cl == nil {
			cn.lost(fmt.Errorf("%w: reply to unknown xid %d", wire.ErrBadProtocol, resp.Xid))
			return
		}
		c.finish(cl, &resp, nil)
	}
}

// pingLoop queues a ping whenever nothing was written for a third of the
// session timeout, so the server keeps the session and the reader keeps
// hearing from the server.
func (cn *conn) pingLoop() {
	defer cn.wg.Done()
	c := cn.c
	idle := cn.timeout / 3
	t := time.NewTicker(max(idle/2, time.Millisecond))
	defer t.Stop()
	cn.lastWrite.Store(c.now())
	for {
		select {
		case <-cn.stop:
			return
		case <-t.C:
		}
		if c.now()-cn.lastWrite.Load() < int64(idle) {
			continue
		}
		if c.enqueue(newCall(wire.OpPing, "")) != nil {
			return
		}
		// Count the ping as a write now so that a slow reply does not
		// queue a second one.
		cn.lastWrite.Store(c.now())
	}
}
