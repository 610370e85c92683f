package ensemble

import (
	"errors"
	"fmt"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// replyOverhead is what a reply needs besides its names or data: xid, zxid,
// code, stat and map keys, with room to spare.
const replyOverhead = 1 << 10

// readLocked answers a read-only request from memory. The tree lock (read
// or write) is held, so a watch it sets is registered atomically with the
// read: no change can slip between them.
func (c *conn) readLocked(req *wire.Request) {
	s := c.s
	xid := req.Xid
	switch req.Op {
	case wire.OpGetData:
		data, st, err := s.tree.Get(req.Path)
		if err != nil {
			// ZooKeeper sets no watch when getData fails.
			c.replyLocked(errResponse(xid, err))
			return
		}
		if req.Watch {
			c.addWatch(req.Path, tree.WatchData)
		}
		c.replyStatLocked(wire.Response{Xid: xid, Data: data}, &st)

	case wire.OpExists:
		st, err := s.tree.Exists(req.Path)
		if err != nil && !errors.Is(err, tree.ErrNoNode) {
			c.replyLocked(errResponse(xid, err))
			return
		}
		if req.Watch {
			// Set either way: on a missing node it fires on create.
			c.addWatch(req.Path, tree.WatchExist)
		}
		if err != nil {
			c.replyLocked(errResponse(xid, err))
			return
		}
		c.replyStatLocked(wire.Response{Xid: xid}, &st)

	case wire.OpGetChildren:
		// Ask the tree for no more names than could fit in one frame (each
		// costs at least one byte of name and five of framing), then trim
		// by the real sizes so that no reply exceeds the frame cap.
		budget := s.cfg.MaxFrame - replyOverhead
		limit := int(req.Max)
		if fit := budget/6 + 1; limit <= 0 || limit > fit {
			limit = fit
		}
		names, st, more, err := s.tree.Children(req.Path, req.After, limit)
		if err != nil {
			c.replyLocked(errResponse(xid, err))
			return
		}
		for i, name := range names {
			budget -= len(name) + 5
			if budget < 0 {
				names, more = names[:i], true
				break
			}
		}
		if req.Watch {
			c.addWatch(req.Path, tree.WatchChild)
		}
		c.replyStatLocked(wire.Response{Xid: xid, Children: names, More: more}, &st)

	case wire.OpCountChildren:
		n, err := s.tree.CountDescendants(req.Path)
		if err != nil {
			c.replyLocked(errResponse(xid, err))
			return
		}
		c.replyLocked(wire.Response{Xid: xid, Count: n})

	case wire.OpAddWatch:
		switch req.WatchMode {
		case wire.WatchPersistent:
			c.addWatch(req.Path, tree.WatchPersistent)
		case wire.WatchPersistentRecursive:
			c.addWatch(req.Path, tree.WatchPersistentRecursive)
		default:
			c.replyLocked(errResponse(xid, fmt.Errorf("%w: watch mode %d", tree.ErrBadArguments, req.WatchMode)))
			return
		}
		c.replyLocked(wire.Response{Xid: xid})

	case wire.OpRemoveWatches:
		var kinds []tree.WatchKind
		switch req.WatchType {
		case wire.WatchTypeChildren:
			kinds = []tree.WatchKind{tree.WatchChild}
		case wire.WatchTypeData:
			kinds = []tree.WatchKind{tree.WatchData, tree.WatchExist}
		case wire.WatchTypeAny:
			kinds = []tree.WatchKind{tree.WatchData, tree.WatchExist, tree.WatchChild,
				tree.WatchPersistent, tree.WatchPersistentRecursive}
		case wire.WatchTypePersistent:
			kinds = []tree.WatchKind{tree.WatchPersistent}
		case wire.WatchTypePersistentRecursive:
			kinds = []tree.WatchKind{tree.WatchPersistentRecursive}
		default:
			c.replyLocked(errResponse(xid, fmt.Errorf("%w: watch type %d", tree.ErrBadArguments, req.WatchType)))
			return
		}
		s.watchMu.Lock()
		removed := !c.watchDead && s.watches.Remove(req.Path, kinds, tree.WatcherID(c.id))
		s.watchMu.Unlock()
		if !removed {
			c.replyLocked(errResponse(xid, fmt.Errorf("%w: on %s", wire.ErrNoWatcher, req.Path)))
			return
		}
		c.replyLocked(wire.Response{Xid: xid})

	default:
		c.replyLocked(errResponse(xid, fmt.Errorf("%w: op %d", wire.ErrUnimplemented, req.Op)))
	}
}

// addWatch registers a watch of this connection. The tree lock is held.
func (c *conn) addWatch(path string, kind tree.WatchKind) {
	s := c.s
	s.watchMu.Lock()
	if !c.watchDead {
		s.watches.Add(path, kind, tree.WatcherID(c.id))
	}
	s.watchMu.Unlock()
}

// setWatchesLocked re-registers the watches a client had before it
// reconnected. A watch whose node changed after RelZxid fires at once
// instead, as ZooKeeper's setWatches does; persistent watches are re-added.
// The tree lock is held.
func (c *conn) setWatchesLocked(req *wire.Request) {
	s := c.s
	rel := req.RelZxid
	last := s.tree.LastZxid()
	ws := req.Watches
	if ws == nil {
		ws = &wire.WatchSet{}
	}
	var fire []tree.Event
	add := func(path string, kind tree.WatchKind) {
		if tree.ValidatePath(path, false) == nil {
			c.addWatch(path, kind)
		}
	}
	for _, p := range ws.Data {
		st, err := s.tree.Exists(p)
		switch {
		case err != nil:
			fire = append(fire, tree.Event{Type: tree.EventNodeDeleted, Path: p, Zxid: last})
		case st.Mzxid > rel:
			fire = append(fire, tree.Event{Type: tree.EventNodeDataChanged, Path: p, Zxid: last})
		default:
			add(p, tree.WatchData)
		}
	}
	for _, p := range ws.Exist {
		st, err := s.tree.Exists(p)
		switch {
		case err != nil:
			add(p, tree.WatchExist)
		case st.Czxid > rel:
			fire = append(fire, tree.Event{Type: tree.EventNodeCreated, Path: p, Zxid: last})
		case st.Mzxid > rel:
			fire = append(fire, tree.Event{Type: tree.EventNodeDataChanged, Path: p, Zxid: last})
		default:
			add(p, tree.WatchExist)
		}
	}
	for _, p := range ws.Child {
		st, err := s.tree.Exists(p)
		switch {
		case err != nil:
			fire = append(fire, tree.Event{Type: tree.EventNodeDeleted, Path: p, Zxid: last})
		case st.Pzxid > rel:
			fire = append(fire, tree.Event{Type: tree.EventNodeChildrenChanged, Path: p, Zxid: last})
		default:
			add(p, tree.WatchChild)
		}
	}
	for _, p := range ws.Persistent {
		add(p, tree.WatchPersistent)
	}
	for _, p := range ws.PersistentRecursive {
		add(p, tree.WatchPersistentRecursive)
	}
	// Events first, then the reply: the client sees each fired watch before
	// it learns its watches are back.
	for _, ev := range fire {
		c.eventLocked(ev)
	}
	c.replyLocked(wire.Response{Xid: req.Xid})
}

// errResponse answers xid with err's code and message.
func errResponse(xid int64, err error) wire.Response {
	return wire.Response{Xid: xid, Code: wire.CodeOf(err), Message: err.Error()}
}

// opResponse answers a single-op write from its applied result.
func opResponse(xid int64, res *tree.Result) wire.Response {
	if res.Err != nil {
		return errResponse(xid, res.Err)
	}
	resp := wire.Response{Xid: xid}
	if len(res.Ops) == 1 {
		r := res.Ops[0]
		switch r.Type {
		case tree.OpCreate:
			resp.Path = r.Path
			resp.Stat = &r.Stat
		case tree.OpSetData:
			resp.Stat = &r.Stat
		}
	}
	return resp
}

// multiResponse answers a multi: Results always has one entry per op; Code
// is the first failing op's code (CodeOK when all succeeded).
func multiResponse(xid int64, res *tree.Result) wire.Response {
	resp := wire.Response{Xid: xid, Results: make([]wire.OpResult, len(res.Ops))}
	if res.Err != nil {
		resp.Code = wire.CodeOf(res.Err)
		resp.Message = res.Err.Error()
	}
	for i := range res.Ops {
		r := &res.Ops[i]
		out := wire.OpResult{Type: r.Type, Code: wire.CodeOf(r.Err)}
		if r.Err == nil {
			switch r.Type {
			case tree.OpCreate:
				out.Path = r.Path
				out.Stat = &r.Stat
			case tree.OpSetData:
				out.Stat = &r.Stat
			}
		}
		resp.Results[i] = out
	}
	return resp
}

// validateOp checks what can be checked without the tree, so obviously bad
// requests are answered without a txn. It returns nil or an error wrapping
// tree.ErrBadArguments.
func (s *Server) validateOp(op *tree.Op) error {
	if op.Type == tree.OpDeleteExpired {
		// Only the peer itself proposes these.
		return fmt.Errorf("%w: op %v not allowed from a client", tree.ErrBadArguments, op.Type)
	}
	return tree.CheckOp(op, s.cfg.MaxDataBytes)
}
