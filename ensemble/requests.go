package ensemble

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// handshake answers a ConnectRequest: a new session (proposed as a
// TxnCreateSession and answered once durable and applied) or a resumed one.
// It reports whether the connection may go on to requests.
func (c *conn) handshake(req *wire.ConnectRequest) bool {
	s := c.s
	if req.ProtocolVersion != wire.ProtocolVersion {
		c.log.Debug("bad protocol version, closing connection", "version", req.ProtocolVersion)
		c.refuse(wire.CodeBadProtocol, fmt.Sprintf("protocol version %d, want %d (or a request before the handshake)",
			req.ProtocolVersion, wire.ProtocolVersion))
		return false
	}
	if !s.serving() {
		// A member with no established leader serves nobody: the client
		// tries another peer.
		c.refuse(wire.CodeShuttingDown, "this peer has no leader yet")
		return false
	}
	if last := s.lastApplied(); req.LastZxidSeen > last {
		// The client has seen a newer state than this peer has: serving it
		// would take it back in time.
		c.refuse(wire.CodeStaleServer, fmt.Sprintf("client has seen zxid %v, this server only %v", req.LastZxidSeen, last))
		return false
	}
	if req.SessionID != 0 {
		return c.resume(req)
	}

	timeout := s.clampTimeout(req.Timeout)
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	id := s.newSessionID()
	type created struct {
		resp wire.ConnectResponse
		err  error
	}
	ch := make(chan created, 1)
	ok := s.prop.propose(&proposal{
		txn: &tree.Txn{Kind: tree.TxnCreateSession, Session: id, Time: s.wallMillis(),
			Timeout: int32(timeout / time.Millisecond), Password: pw},
		done: func(res *tree.Result, err error) {
			if err == nil {
				err = res.Err
			}
			ch <- created{resp: wire.ConnectResponse{
				ProtocolVersion: wire.ProtocolVersion, Timeout: int32(timeout / time.Millisecond),
				SessionID: id, Password: pw, ServerID: s.cfg.ServerID,
				LastZxid: s.tree.LastZxid(), MaxFrame: int32(s.cfg.MaxFrame),
			}, err: err}
		},
	})
	if !ok {
		c.refuse(wire.CodeShuttingDown, "server shutting down")
		return false
	}
	var cr created
	select {
	case cr = <-ch:
	case <-c.done:
		return false
	}
	if cr.err != nil {
		c.log.Warn("cannot create session", "session", id, "err", cr.err)
		c.refuse(wire.CodeOf(cr.err), cr.err.Error())
		return false
	}
	return c.attach(id, &cr.resp)
}

// resume re-attaches an existing session after checking its password.
func (c *conn) resume(req *wire.ConnectRequest) bool {
	s := c.s
	s.treeMu.RLock()
	row, ok := s.tree.Session(req.SessionID)
	last := s.tree.LastZxid()
	s.treeMu.RUnlock()
	if !ok {
		c.log.Debug("resume of an expired session", "session", req.SessionID)
		c.refuse(wire.CodeSessionExpired, "session "+req.SessionID.String()+" has expired")
		return false
	}
	if subtle.ConstantTimeCompare(row.Password, req.Password) != 1 {
		c.log.Warn("wrong session password, closing connection", "session", req.SessionID)
		c.refuse(wire.CodeAuthFailed, "wrong password for session "+req.SessionID.String())
		return false
	}
	return c.attach(req.SessionID, &wire.ConnectResponse{
		ProtocolVersion: wire.ProtocolVersion, Timeout: row.Timeout, SessionID: row.ID,
		Password: row.Password, ServerID: s.cfg.ServerID, LastZxid: last, MaxFrame: int32(s.cfg.MaxFrame),
	})
}

// attach binds session id to this connection (closing the connection it
// had, if any) and sends resp.
func (c *conn) attach(id tree.SessionID, resp *wire.ConnectResponse) bool {
	sess, prev, ok := c.s.sessions.attach(id, c, c.s.now())
	if !ok {
		c.refuse(wire.CodeSessionExpired, "session "+id.String()+" has expired")
		return false
	}
	if prev != nil {
		// One connection per session: the newest wins.
		prev.log.Debug("session moved to another connection", "session", id)
		prev.close()
	}
	c.sess = sess
	c.enqueue(outItem{connect: resp})
	c.log.Debug("session attached", "session", id, "timeout", resp.Timeout)
	return true
}

// dispatch routes one request. Every request gets exactly one reply, in the
// order the requests arrived.
func (c *conn) dispatch(req *wire.Request) {
	s := c.s
	xid := req.Xid
	if c.sess.closing.Load() {
		c.local(func() { c.replyLocked(errResponse(xid, wire.ErrSessionExpired)) })
		return
	}
	switch req.Op {
	case wire.OpPing:
		c.local(func() { c.replyLocked(wire.Response{Xid: xid}) })

	case wire.OpCreate, wire.OpDelete, wire.OpSetData, wire.OpCheck:
		op := tree.Op{Path: req.Path, Data: req.Data, Version: req.Version, Mode: req.Mode, TTL: req.TTL}
		switch req.Op {
		case wire.OpCreate:
			op.Type = tree.OpCreate
		case wire.OpDelete:
			op.Type = tree.OpDelete
		case wire.OpSetData:
			op.Type = tree.OpSetData
		default:
			op.Type = tree.OpCheck
		}
		if err := s.validateOp(&op); err != nil {
			c.local(func() { c.replyLocked(errResponse(xid, err)) })
			return
		}
		c.write(xid, &tree.Txn{Kind: tree.TxnOps, Ops: []tree.Op{op}}, func(res *tree.Result) wire.Response {
			return opResponse(xid, res)
		})

	case wire.OpMulti:
		for i := range req.Ops {
			if err := s.validateOp(&req.Ops[i]); err != nil {
				err = fmt.Errorf("multi op %d: %w", i, err)
				c.local(func() { c.replyLocked(errResponse(xid, err)) })
				return
			}
		}
		if len(req.Ops) == 0 {
			c.local(func() { c.replyLocked(wire.Response{Xid: xid}) })
			return
		}
		ops := req.Ops
		req.Ops = nil // the txn owns them now; the decoder starts afresh next time
		c.write(xid, &tree.Txn{Kind: tree.TxnMulti, Ops: ops}, func(res *tree.Result) wire.Response {
			return multiResponse(xid, res)
		})

	case wire.OpCloseSession:
		s.sessions.markClosing(c.sess.id)
		c.write(xid, &tree.Txn{Kind: tree.TxnCloseSession}, func(res *tree.Result) wire.Response {
			// A session already gone is closed all the same.
			return wire.Response{Xid: xid}
		})

	case wire.OpGetData, wire.OpExists, wire.OpGetChildren, wire.OpCountChildren, wire.OpAddWatch,
		wire.OpRemoveWatches:
		if err := tree.ValidatePath(req.Path, false); err != nil {
			c.local(func() { c.replyLocked(errResponse(xid, err)) })
			return
		}
		if c.idle() {
			// The common case, without the closure and the copy of req
			// that queueing behind a write needs.
			c.s.treeMu.RLock()
			c.readLocked(req)
			c.s.treeMu.RUnlock()
			return
		}
		r := *req
		c.local(func() { c.readLocked(&r) })

	case wire.OpGetEphemerals:
		prefix := req.Path
		if prefix == "" {
			prefix = "/"
		}
		if !strings.HasPrefix(prefix, "/") {
			err := fmt.Errorf("%w: prefix %q is not absolute", tree.ErrBadArguments, prefix)
			c.local(func() { c.replyLocked(errResponse(xid, err)) })
			return
		}
		c.local(func() {
			c.replyLocked(wire.Response{Xid: xid, Children: s.tree.Ephemerals(c.sess.id, prefix)})
		})

	case wire.OpSetWatches:
		r := *req
		c.local(func() { c.setWatchesLocked(&r) })

	case wire.OpSync:
		// Answered once every write accepted before it is applied.
		path := req.Path
		c.barrier(func() { c.replyLocked(wire.Response{Xid: xid, Path: path}) })

	case wire.OpLinearizedRead:
		if err := tree.ValidatePath(req.Path, false); err != nil {
			c.local(func() { c.replyLocked(errResponse(xid, err)) })
			return
		}
		r := *req
		r.Op = wire.OpGetData
		c.barrier(func() { c.readLocked(&r) })

	default:
		op := req.Op
		c.log.Debug("unknown op", "op", op)
		c.local(func() {
			c.replyLocked(wire.Response{Xid: xid, Code: wire.CodeUnimplemented,
				Message: fmt.Sprintf("op %d is not implemented", op)})
		})
	}
}

// local runs fn, which answers a request from memory, in order with this
// connection's other requests: at once under the tree read lock when
// nothing of this connection is in the pipeline, else by the applier right
// after the last pipeline item before it (FIFO per session).
func (c *conn) local(fn func()) {
	c.pend.Lock()
	if len(c.pend.items) > 0 {
		c.pend.items = append(c.pend.items, pendingItem{run: fn})
		c.pend.Unlock()
		return
	}
	c.pend.Unlock()
	c.s.treeMu.RLock()
	fn()
	c.s.treeMu.RUnlock()
}

// idle reports whether nothing of this connection is in the pipeline, so a
// read may be answered at once. Only the reader adds pipeline items, so the
// answer holds until the reader itself proposes something.
func (c *conn) idle() bool {
	c.pend.Lock()
	n := len(c.pend.items)
	c.pend.Unlock()
	return n == 0
}

// write proposes txn for this connection's session; reply builds the answer
// from the applied result. The answer is queued only after the txn is
// durable and applied.
func (c *conn) write(xid int64, txn *tree.Txn, reply func(res *tree.Result) wire.Response) {
	s := c.s
	txn.Session = c.sess.id
	txn.Time = s.wallMillis()
	c.enterPipeline(&proposal{txn: txn, done: func(res *tree.Result, err error) {
		if err != nil {
			c.log.Warn("write failed", "err", err)
			c.replyLocked(errResponse(xid, err))
		} else {
			c.replyLocked(reply(res))
		}
	}}, txn)
}

// barrier queues fn behind every write proposed so far (by anyone); it runs
// with the tree write lock held, once they are applied.
func (c *conn) barrier(fn func()) {
	c.enterPipeline(&proposal{done: func(*tree.Result, error) { fn() }}, nil)
}

// enterPipeline records p as this connection's newest pending item and
// proposes it; when the applier delivers it, p's answer is queued and the
// local work waiting behind it runs.
func (c *conn) enterPipeline(p *proposal, txn *tree.Txn) {
	done := p.done
	p.done = func(res *tree.Result, err error) {
		done(res, err)
		c.completeLocked()
	}
	c.pend.Lock()
	c.pend.items = append(c.pend.items, pendingItem{})
	c.pend.Unlock()
	if !c.s.prop.propose(p) {
		// The peer is stopping; the connection is closing with it.
		c.close()
	}
}

// completeLocked pops this connection's oldest pipeline item (just answered
// by the applier, which holds the tree write lock) and runs the local work
// that waited behind it, up to the next pipeline item.
func (c *conn) completeLocked() {
	c.pend.Lock()
	defer c.pend.Unlock()
	if len(c.pend.items) == 0 || c.pend.items[0].run != nil {
		// Cannot happen: pipeline items complete in the order proposed.
		c.log.Error("pipeline item completed out of order")
		c.close()
		return
	}
	c.pend.items[0] = pendingItem{}
	c.pend.items = c.pend.items[1:]
	for len(c.pend.items) > 0 && c.pend.items[0].run != nil {
		c.pend.items[0].run()
		c.pend.items[0] = pendingItem{}
		c.pend.items = c.pend.items[1:]
	}
	if len(c.pend.items) == 0 {
		c.pend.items = nil
	}
}
