package ensemble

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// maxQueuedBytes caps what one connection's outbound queue may hold (replies
// and watch events not yet written). A client that stops reading while
// events pile up past it is disconnected rather than allowed to grow the
// peer's memory; it reconnects and re-registers its watches.
const maxQueuedBytes = 64 << 20

// readBufferBytes is a connection's read buffer; larger frames are read
// straight into their own buffer.
const readBufferBytes = 16 << 10

// keepReadBuffer is the largest frame buffer a connection keeps between
// requests.
const keepReadBuffer = 64 << 10

// handshakeTimeout bounds how long a new connection may take to send its
// ConnectRequest.
const handshakeTimeout = 10 * time.Second

// outItem is one frame waiting for the writer.
type outItem struct {
	resp    wire.Response
	connect *wire.ConnectResponse // set instead of resp for a handshake reply
	// reply marks the answer to a request: writing it frees one of the
	// connection's outstanding slots.
	reply bool
	// stat, when hasStat, is resp's Stat, kept in the item so that a read's
	// reply costs no allocation for it; the writer points resp.Stat here.
	stat    tree.Stat
	hasStat bool
}

// pendingItem is one request of a connection that is not answered yet and
// must be answered in order: either something in the pipeline (a write or a
// barrier, completed by the applier) or local work (a read, a local error)
// that waits behind it.
type pendingItem struct {
	run func() // nil: a pipeline item
}

// conn is one client connection: a reader goroutine that reads, decodes and
// dispatches requests, and a writer goroutine that sends what the peer
// queues for it, many frames per write.
type conn struct {
	s  *Server
	nc net.Conn
	id uint64 // unique per peer; also the tree.WatcherID of this connection's watches
	ip string
	// counted: the connection holds a slot of its IP's connection limit.
	counted bool
	log     *slog.Logger

	// sess is set by the reader once the handshake succeeds and not changed
	// after; the applier reads it only through the session tracker.
	sess *session

	// watchDead is set (under the server's watch lock) once teardown has
	// removed this connection's watches: no watch may be added after.
	watchDead bool

	// slots holds one token per request read whose reply is not written yet;
	// the reader blocks when it is full (back-pressure).
	slots chan struct{}

	wake      chan struct{} // cap 1: the outbound queue has something
	done      chan struct{} // closed by close(): tear the connection down
	closeOnce sync.Once

	out struct {
		sync.Mutex
		q          []outItem
		bytes      int
		closeAfter bool // write what is queued, then close
		closed     bool // drop anything queued from now on
	}

	// pend orders this connection's answers: lock order is the tree lock,
	// then pend, then the watch lock, then out.
	pend struct {
		sync.Mutex
		items []pendingItem
	}
}

func newConn(s *Server, nc net.Conn, id uint64, ip string) *conn {
	c := &conn{
		s:     s,
		nc:    nc,
		id:    id,
		ip:    ip,
		log:   s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		slots: make(chan struct{}, s.cfg.MaxOutstanding),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	return c
}

// close tears the connection down at once: queued frames are dropped, the
// writer closes the socket, the reader's next read fails. It does no I/O
// and may be called with any lock held, any number of times.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.out.Lock()
		c.out.closed = true
		c.out.q = nil
		c.out.Unlock()
		close(c.done)
		// Unblock a writer stuck on a client that does not read.
		_ = c.nc.SetDeadline(time.Unix(1, 0))
	})
}

// closeAfterFlush makes the writer send what is queued and then close the
// connection; anything queued later is dropped. No I/O; any lock may be held.
func (c *conn) closeAfterFlush() {
	c.out.Lock()
	c.out.closeAfter = true
	c.out.Unlock()
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue queues one frame for the writer. It never blocks; a queue over
// maxQueuedBytes closes the connection.
func (c *conn) enqueue(it outItem) {
	size := it.size()
	c.out.Lock()
	if c.out.closed || c.out.closeAfter {
		c.out.Unlock()
		return
	}
	c.out.q = append(c.out.q, it)
	c.out.bytes += size
	over := c.out.bytes > maxQueuedBytes
	c.out.Unlock()
	if over {
		c.log.Warn("outbound queue over its cap, closing connection", "bytes", maxQueuedBytes)
		c.close()
		return
	}
	c.signal()
}

// size estimates an item's encoded size for the queue cap.
func (it *outItem) size() int {
	n := 64 + len(it.resp.Path) + len(it.resp.Data) + len(it.resp.Message) + 96*len(it.resp.Results)
	for _, ch := range it.resp.Children {
		n += len(ch) + 5
	}
	if it.resp.Event != nil {
		n += len(it.resp.Event.Path)
	}
	return n
}

// replyLocked queues resp as the answer to a request, stamped with the last
// applied zxid. The tree lock (read or write) must be held, which also keeps
// any watch event from being queued between the read and its reply.
func (c *conn) replyLocked(resp wire.Response) {
	resp.Zxid = c.s.tree.LastZxid()
	c.enqueue(outItem{resp: resp, reply: true})
}

// replyStatLocked is replyLocked for a reply whose Stat is st (resp.Stat
// is nil); st is copied.
func (c *conn) replyStatLocked(resp wire.Response, st *tree.Stat) {
	resp.Zxid = c.s.tree.LastZxid()
	c.enqueue(outItem{resp: resp, reply: true, stat: *st, hasStat: true})
}

// eventLocked queues a watch event. The watch lock is held.
func (c *conn) eventLocked(ev tree.Event) {
	e := ev
	c.enqueue(outItem{resp: wire.Response{Xid: wire.XidWatchEvent, Zxid: ev.Zxid, Event: &e}})
}

// writeLoop sends everything queued, as many frames per write as are
// waiting, until the connection closes.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer c.nc.Close()
	w := wire.NewWriter(c.nc, c.s.cfg.MaxFrame)
	var spare []outItem
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.out.Lock()
		items := c.out.q
		c.out.q = spare[:0]
		c.out.bytes = 0
		closeAfter := c.out.closeAfter
		c.out.Unlock()

		replies := 0
		for i := range items {
			it := &items[i]
			if it.reply {
				replies++
			}
			if it.hasStat {
				it.resp.Stat = &it.stat
			}
			var err error
			if it.connect != nil {
				err = w.WriteConnectResponse(it.connect)
			} else if err = w.WriteResponse(&it.resp); errors.Is(err, wire.ErrFrameTooLarge) {
				// The reply does not fit the client's frame: say so instead.
				c.log.Warn("reply over the frame cap", "op", "reply", "err", err)
				err = w.WriteResponse(&wire.Response{Xid: it.resp.Xid, Zxid: it.resp.Zxid,
					Code: wire.CodeFrameTooLarge, Message: "reply exceeds the frame cap"})
			}
			if err != nil {
				c.log.Warn("cannot encode reply, closing connection", "err", err)
				c.close()
				return
			}
			items[i] = outItem{}
		}
		if err := w.Flush(); err != nil {
			c.log.Debug("write failed, closing connection", "err", err)
			c.close()
			return
		}
		for range replies {
			select {
			case <-c.slots:
			default: // never block the writer on a miscount
			}
		}
		spare = items
		if closeAfter {
			c.out.Lock()
			empty := len(c.out.q) == 0
			c.out.Unlock()
			if empty {
				c.close()
				return
			}
			c.signal()
		}
	}
}

// acquireSlot takes an outstanding-request slot, waiting while the
// connection is at MaxOutstanding. It reports false when the connection
// closes first.
func (c *conn) acquireSlot() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return true
	case <-c.done:
		return false
	}
}

// readLoop runs the handshake, then reads and dispatches requests until the
// connection fails or closes, then tears it down.
func (c *conn) readLoop(refuse wire.Code) {
	defer c.s.wg.Done()
	defer c.teardown()
	r := bufio.NewReaderSize(c.nc, readBufferBytes)
	var buf []byte

	_ = c.nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	body, err := wire.ReadFrame(r, c.s.cfg.MaxFrame, buf)
	if err != nil {
		c.frameError(err, true)
		return
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	if refuse != wire.CodeOK {
		c.refuse(refuse, "too many connections from "+c.ip)
		return
	}
	var creq wire.ConnectRequest
	if err := wire.DecodeConnectRequest(body, &creq); err != nil {
		c.log.Debug("malformed connect request, closing connection", "err", err)
		c.refuse(wire.CodeMarshalling, err.Error())
		return
	}
	if creq.Admin != "" {
		c.admin(&creq)
		return
	}
	if !c.handshake(&creq) {
		return
	}
	var req wire.Request
	for {
		body, err := wire.ReadFrame(r, c.s.cfg.MaxFrame, buf)
		if err != nil {
			c.frameError(err, false)
			return
		}
		if cap(body) <= keepReadBuffer {
			buf = body // reused for the next frame
		} else {
			buf = nil // do not pin a big frame's buffer to an idle connection
		}
		if err := wire.DecodeRequest(body, &req); err != nil {
			// A malformed body: the stream cannot be trusted any more.
			c.log.Debug("malformed request, closing connection", "err", err)
			c.lastWords(wire.Response{Code: wire.CodeMarshalling, Message: err.Error()})
			return
		}
		if !c.acquireSlot() {
			return
		}
		c.sess.touch(c.s.now())
		c.dispatch(&req)
	}
}

// frameError handles a failed ReadFrame: an over-cap frame is answered with
// CodeFrameTooLarge before the connection closes; anything else just closes it.
func (c *conn) frameError(err error, handshake bool) {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		c.log.Warn("frame over the cap, closing connection", "err", err)
		if handshake {
			c.refuse(wire.CodeFrameTooLarge, err.Error())
		} else {
			c.lastWords(wire.Response{Code: wire.CodeFrameTooLarge, Message: err.Error()})
		}
	case errors.Is(err, wire.ErrMarshalling):
		c.log.Debug("malformed frame, closing connection", "err", err)
		if handshake {
			c.refuse(wire.CodeMarshalling, err.Error())
		} else {
			c.lastWords(wire.Response{Code: wire.CodeMarshalling, Message: err.Error()})
		}
	case errors.Is(err, io.EOF):
		c.log.Debug("connection closed by client")
	default:
		c.log.Debug("read failed, closing connection", "err", err)
	}
}

// refuse answers the handshake with code and closes the connection once it
// is written.
func (c *conn) refuse(code wire.Code, msg string) {
	c.enqueue(outItem{connect: &wire.ConnectResponse{
		Code: code, Message: msg, ProtocolVersion: wire.ProtocolVersion,
		ServerID: c.s.cfg.ServerID, LastZxid: c.s.lastApplied(), MaxFrame: int32(c.s.cfg.MaxFrame),
	}})
	c.closeAfterFlush()
	c.awaitClose()
}

// admin answers an admin request (no session) and closes the connection.
func (c *conn) admin(req *wire.ConnectRequest) {
	if req.Admin != wire.AdminStatus {
		c.refuse(wire.CodeBadArguments, fmt.Sprintf("unknown admin request %q", req.Admin))
		return
	}
	st := c.s.PeerStatus()
	body, err := wire.EncodePeerStatus(&st)
	if err != nil {
		c.refuse(wire.CodeSystemError, err.Error())
		return
	}
	c.enqueue(outItem{connect: &wire.ConnectResponse{
		ProtocolVersion: wire.ProtocolVersion, ServerID: c.s.cfg.ServerID,
		LastZxid: c.s.lastApplied(), MaxFrame: int32(c.s.cfg.MaxFrame), Status: body,
	}})
	c.closeAfterFlush()
	c.awaitClose()
}

// lastWords sends resp (xid 0: it answers no request in particular) and
// closes the connection once it is written.
func (c *conn) lastWords(resp wire.Response) {
	resp.Zxid = c.s.lastApplied()
	c.enqueue(outItem{resp: resp})
	c.closeAfterFlush()
	c.awaitClose()
}

// awaitClose waits until the writer has flushed and closed the connection
// (or the peer stops), so teardown does not cut the last frame short.
func (c *conn) awaitClose() {
	select {
	case <-c.done:
	case <-c.s.stopping:
	}
}

// teardown releases everything the connection holds. The session stays:
// only expiry or OpCloseSession ends it.
func (c *conn) teardown() {
	c.close()
	c.s.unregister(c)
	if c.sess != nil {
		c.s.sessions.detach(c.sess, c)
	}
	c.s.treeMu.Lock()
	c.s.watchMu.Lock()
	c.watchDead = true
	c.s.watches.RemoveWatcher(tree.WatcherID(c.id))
	c.s.watchMu.Unlock()
	c.s.treeMu.Unlock()
}
