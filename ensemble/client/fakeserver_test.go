package client

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// fakeServer speaks the client protocol on 127.0.0.1 with a small in-memory
// tree, sessions, one-shot and persistent watches, SetWatches and paging.
// Several listeners may share one state (an "ensemble" that agrees on
// everything). Tests steer it with the fields and methods below.
type fakeServer struct {
	t         testing.TB
	listeners []*fakeListener
	wg        sync.WaitGroup

	mu          sync.Mutex
	zxid        tree.Zxid
	nextSession tree.SessionID
	sessions    map[tree.SessionID]*fakeSession
	nodes       map[string]*fakeNode
	conns       map[*fakeConn]struct{}
	pageSize    int                      // children per page; 0: all
	hold        map[string]chan struct{} // requests on these paths wait for the channel to close
	reqs        []wire.Request           // every request but pings, in order
	handshakes  []wire.ConnectRequest
	pings       int
	closed      bool
	// onRequest, if set, runs before a request is handled (without mu);
	// returning true means it was handled (no reply is sent).
	onRequest func(fc *fakeConn, req *wire.Request) bool
}

type fakeListener struct {
	s      *fakeServer
	ln     net.Listener
	refuse atomic.Bool // close connections at once
	stale  atomic.Bool // refuse resumes with CodeStaleServer
}

type fakeSession struct {
	id       tree.SessionID
	password []byte
	timeout  time.Duration
	expired  bool
}

type fakeNode struct {
	data  []byte
	stat  tree.Stat
	seq   int32
	owner tree.SessionID
}

type fakeConn struct {
	s       *fakeServer
	nc      net.Conn
	sess    *fakeSession
	wmu     sync.Mutex
	bw      *bufio.Writer
	closeMu sync.Once
	done    chan struct{}
	watches map[fakeWatch]bool // guarded by s.mu
}

type fakeWatch struct {
	kind watchKind // kindData, kindExist, kindChild, or the two below
	path string
}

const (
	fakePersistent watchKind = 10
	fakeRecursive  watchKind = 11
)

func newFakeServer(t testing.TB, n int) *fakeServer {
	t.Helper()
	s := &fakeServer{
		t:           t,
		nextSession: 0x1000,
		sessions:    make(map[tree.SessionID]*fakeSession),
		nodes:       map[string]*fakeNode{"/": {}},
		conns:       make(map[*fakeConn]struct{}),
		hold:        make(map[string]chan struct{}),
	}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := &fakeListener{s: s, ln: ln}
		s.listeners = append(s.listeners, l)
		s.wg.Add(1)
		go l.accept()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) addrs() []string {
	var out []string
	for _, l := range s.listeners {
		out = append(out, l.ln.Addr().String())
	}
	return out
}

// Close stops every listener and connection and waits for them.
func (s *fakeServer) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*fakeConn, 0, len(s.conns))
	for fc := range s.conns {
		conns = append(conns, fc)
	}
	for _, ch := range s.hold {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	s.mu.Unlock()
	for _, l := range s.listeners {
		l.ln.Close()
	}
	for _, fc := range conns {
		fc.close()
	}
	s.wg.Wait()
}

// setHook sets onRequest.
func (s *fakeServer) setHook(fn func(fc *fakeConn, req *wire.Request) bool) {
	s.mu.Lock()
	s.onRequest = fn
	s.mu.Unlock()
}

// setPageSize sets how many children one GetChildren reply holds.
func (s *fakeServer) setPageSize(n int) {
	s.mu.Lock()
	s.pageSize = n
	s.mu.Unlock()
}

// dropConns closes every connection from the server side.
func (s *fakeServer) dropConns() {
	s.mu.Lock()
	conns := make([]*fakeConn, 0, len(s.conns))
	for fc := range s.conns {
		conns = append(conns, fc)
	}
	s.mu.Unlock()
	for _, fc := range conns {
		fc.close()
	}
}

// holdPath makes requests on path wait until the returned func is called.
func (s *fakeServer) holdPath(path string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold[path] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold[path] == ch {
				delete(s.hold, path)
			}
			s.mu.Unlock()
			select {
			case <-ch:
			default:
				close(ch)
			}
		})
	}
}

// expire expires a session as the server's session tracker would.
func (s *fakeServer) expire(id tree.SessionID) {
	s.mu.Lock()
	var conns []*fakeConn
	if sess := s.sessions[id]; sess != nil {
		sess.expired = true
		s.fireLocked(s.closeSessionLocked(sess))
		for fc := range s.conns {
			if fc.sess == sess {
				conns = append(conns, fc)
			}
		}
	}
	s.mu.Unlock()
	for _, fc := range conns {
		fc.close()
	}
}

func (s *fakeServer) requests() []wire.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *fakeServer) countOp(op wire.OpCode) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reqs {
		if r.Op == op {
			n++
		}
	}
	return n
}

func (s *fakeServer) handshakeList() []wire.ConnectRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.handshakes)
}

func (s *fakeServer) sessionLive(id tree.SessionID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	return sess != nil && !sess.expired
}

func (s *fakeServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// setSilently writes data to path (creating it) without firing watches, as
// if the change happened while the client was not connected.
func (s *fakeServer) setSilently(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zxid++
	n := s.nodes[path]
	if n == nil {
		n = &fakeNode{stat: tree.Stat{Czxid: s.zxid, Pzxid: s.zxid}}
		s.nodes[path] = n
		if p := s.nodes[parentPath(path)]; p != nil {
			p.stat.Cversion++
			p.stat.NumChildren++
			p.stat.Pzxid = s.zxid
		}
	} else {
		n.stat.Version++
	}
	n.data = slices.Clone(data)
	n.stat.Mzxid = s.zxid
	n.stat.DataLength = int32(len(data))
}

func (l *fakeListener) accept() {
	s := l.s
	defer s.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			return
		}
		if l.refuse.Load() {
			nc.Close()
			continue
		}
		fc := &fakeConn{s: s, nc: nc, bw: bufio.NewWriter(nc), done: make(chan struct{}), watches: make(map[fakeWatch]bool)}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[fc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go fc.serve(l)
	}
}

func (fc *fakeConn) close() {
	fc.closeMu.Do(func() {
		close(fc.done)
		fc.nc.Close()
	})
}

func (fc *fakeConn) send(resp *wire.Response) {
	body, err := wire.AppendResponse(nil, resp)
	if err != nil {
		fc.s.t.Errorf("fake server: encode: %v", err)
		return
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if wire.WriteFrame(fc.bw, body) == nil {
		fc.bw.Flush()
	}
}

func (fc *fakeConn) serve(l *fakeListener) {
	s := fc.s
	defer s.wg.Done()
	defer func() {
		fc.close()
		s.mu.Lock()
		delete(s.conns, fc)
		s.mu.Unlock()
	}()
	br := bufio.NewReader(fc.nc)
	frame, err := wire.ReadFrame(br, wire.DefaultMaxFrame, nil)
	if err != nil {
		return
	}
	var creq wire.ConnectRequest
	if err := wire.DecodeConnectRequest(frame, &creq); err != nil {
		return
	}
	cresp := fc.handshake(l, &creq)
	body, _ := wire.AppendConnectResponse(nil, &cresp)
	fc.wmu.Lock()
	wire.WriteFrame(fc.bw, body)
	fc.bw.Flush()
	fc.wmu.Unlock()
	if cresp.Code != wire.CodeOK {
		return
	}
	for {
		// The session's timeout: a client that says nothing for that
		// long loses its session, as with a real server.
		fc.nc.SetReadDeadline(time.Now().Add(fc.sess.timeout))
		frame, err := wire.ReadFrame(br, wire.DefaultMaxFrame, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.expire(fc.sess.id)
			}
			return
		}
		var req wire.Request
		if err := wire.DecodeRequest(frame, &req); err != nil {
			s.t.Errorf("fake server: decode: %v", err)
			return
		}
		s.mu.Lock()
		if req.Op == wire.OpPing {
			s.pings++
		} else {
			s.reqs = append(s.reqs, req)
		}
		hold := s.hold[req.Path]
		hook := s.onRequest
		s.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-fc.done:
				return
			}
		}
		if hook != nil && hook(fc, &req) {
			continue
		}
		if !fc.handle(&req) {
			return
		}
	}
}

func (fc *fakeConn) handshake(l *fakeListener, req *wire.ConnectRequest) wire.ConnectResponse {
	s := fc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakes = append(s.handshakes, *req)
	resp := wire.ConnectResponse{ProtocolVersion: wire.ProtocolVersion, LastZxid: s.zxid, MaxFrame: wire.DefaultMaxFrame}
	if req.ProtocolVersion != wire.ProtocolVersion {
		resp.Code = wire.CodeBadProtocol
		return resp
	}
	if req.SessionID == 0 {
		s.nextSession++
		sess := &fakeSession{
			id:       s.nextSession,
			password: []byte(fmt.Sprintf("pw-%d", s.nextSession)),
			timeout:  max(time.Duration(req.Timeout)*time.Millisecond, 30*time.Millisecond),
		}
		s.sessions[sess.id] = sess
		fc.sess = sess
	} else {
		sess := s.sessions[req.SessionID]
		switch {
		case sess == nil || sess.expired:
			resp.Code = wire.CodeSessionExpired
			return resp
		case string(sess.password) != string(req.Password):
			resp.Code = wire.CodeAuthFailed
			return resp
		case l.stale.Load() || req.LastZxidSeen > s.zxid:
			resp.Code = wire.CodeStaleServer
			return resp
		}
		fc.sess = sess
		for other := range s.conns {
			if other != fc && other.sess == sess {
				go other.close()
			}
		}
	}
	resp.SessionID = fc.sess.id
	resp.Password = fc.sess.password
	resp.Timeout = int32(fc.sess.timeout / time.Millisecond)
	return resp
}

// handle answers one request; false ends the connection.
func (fc *fakeConn) handle(req *wire.Request) bool {
	s := fc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if fc.sess.expired {
		return false
	}
	resp := &wire.Response{Xid: req.Xid}
	var events []tree.Event
	code := wire.CodeOK
	switch req.Op {
	case wire.OpPing:
	case wire.OpCreate:
		var p string
		p, code, events = s.createLocked(fc, req.Path, req.Data, req.Mode)
		resp.Path = p
		if code == wire.CodeOK {
			st := s.nodes[p].stat
			resp.Stat = &st
		}
	case wire.OpDelete:
		code, events = s.deleteLocked(req.Path, req.Version)
	case wire.OpSetData:
		code, events = s.setLocked(req.Path, req.Data, req.Version)
		if code == wire.CodeOK {
			st := s.nodes[req.Path].stat
			resp.Stat = &st
		}
	case wire.OpGetData, wire.OpLinearizedRead:
		n := s.nodes[req.Path]
		if n == nil {
			code = wire.CodeNoNode
			break
		}
		resp.Data = slices.Clone(n.data)
		st := n.stat
		resp.Stat = &st
		if req.Watch {
			fc.watches[fakeWatch{kindData, req.Path}] = true
		}
	case wire.OpExists:
		n := s.nodes[req.Path]
		if n == nil {
			code = wire.CodeNoNode
			if req.Watch {
				fc.watches[fakeWatch{kindExist, req.Path}] = true
			}
			break
		}
		st := n.stat
		resp.Stat = &st
		if req.Watch {
			fc.watches[fakeWatch{kindData, req.Path}] = true
		}
	case wire.OpGetChildren:
		n := s.nodes[req.Path]
		if n == nil {
			code = wire.CodeNoNode
			break
		}
		names := s.childrenLocked(req.Path)
		i := sort.SearchStrings(names, req.After)
		if req.After != "" && i < len(names) && names[i] == req.After {
			i++
		}
		names = names[i:]
		limit := s.pageSize
		if req.Max > 0 && (limit == 0 || int(req.Max) < limit) {
			limit = int(req.Max)
		}
		if limit > 0 && len(names) > limit {
			names = names[:limit]
			resp.More = true
		}
		resp.Children = names
		st := n.stat
		resp.Stat = &st
		if req.Watch {
			fc.watches[fakeWatch{kindChild, req.Path}] = true
		}
	case wire.OpCountChildren:
		if s.nodes[req.Path] == nil {
			code = wire.CodeNoNode
			break
		}
		prefix := strings.TrimSuffix(req.Path, "/") + "/"
		for p := range s.nodes {
			if p != "/" && strings.HasPrefix(p, prefix) {
				resp.Count++
			}
		}
	case wire.OpSync:
		resp.Path = req.Path
	case wire.OpGetEphemerals:
		for p, n := range s.nodes {
			if n.owner == fc.sess.id && strings.HasPrefix(p, req.Path) {
				resp.Children = append(resp.Children, p)
			}
		}
		sort.Strings(resp.Children)
	case wire.OpMulti:
		code, events, resp.Results = s.multiLocked(fc, req.Ops)
	case wire.OpAddWatch:
		k := fakePersistent
		if req.WatchMode == wire.WatchPersistentRecursive {
			k = fakeRecursive
		}
		fc.watches[fakeWatch{k, req.Path}] = true
	case wire.OpRemoveWatches:
		var kinds []watchKind
		switch req.WatchType {
		case wire.WatchTypeData:
			kinds = []watchKind{kindData, kindExist}
		case wire.WatchTypeChildren:
			kinds = []watchKind{kindChild}
		default:
			kinds = []watchKind{kindData, kindExist, kindChild, fakePersistent, fakeRecursive}
		}
		found := false
		for _, k := range kinds {
			if fc.watches[fakeWatch{k, req.Path}] {
				delete(fc.watches, fakeWatch{k, req.Path})
				found = true
			}
		}
		if !found {
			code = wire.CodeNoWatcher
		}
	case wire.OpSetWatches:
		fc.setWatchesLocked(req.RelZxid, req.Watches)
	case wire.OpCloseSession:
		fc.sess.expired = true
		events = s.closeSessionLocked(fc.sess)
		s.fireLocked(events)
		resp.Zxid = s.zxid
		fc.send(resp)
		return false
	default:
		code = wire.CodeUnimplemented
	}
	s.fireLocked(events)
	resp.Code = code
	resp.Zxid = s.zxid
	fc.send(resp)
	return true
}

func (s *fakeServer) childrenLocked(path string) []string {
	prefix := strings.TrimSuffix(path, "/") + "/"
	var names []string
	for p := range s.nodes {
		if p != "/" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			names = append(names, p[len(prefix):])
		}
	}
	sort.Strings(names)
	return names
}

func (s *fakeServer) createLocked(fc *fakeConn, path string, data []byte, mode tree.CreateMode) (string, wire.Code, []tree.Event) {
	if path == "/" || strings.HasSuffix(path, "/") {
		return "", wire.CodeBadArguments, nil
	}
	parent := s.nodes[parentPath(path)]
	if parent == nil {
		return "", wire.CodeNoNode, nil
	}
	if parent.owner != 0 {
		return "", wire.CodeNoChildrenForEphemeral, nil
	}
	if mode.IsSequential() {
		path = fmt.Sprintf("%s%010d", path, parent.seq)
	}
	if s.nodes[path] != nil {
		return "", wire.CodeNodeExists, nil
	}
	s.zxid++
	parent.seq++
	n := &fakeNode{data: slices.Clone(data), stat: tree.Stat{Czxid: s.zxid, Mzxid: s.zxid, Pzxid: s.zxid, DataLength: int32(len(data))}}
	if mode.IsEphemeral() {
		n.owner = fc.sess.id
		n.stat.EphemeralOwner = fc.sess.id
	}
	s.nodes[path] = n
	parent.stat.Cversion++
	parent.stat.NumChildren++
	parent.stat.Pzxid = s.zxid
	return path, wire.CodeOK, []tree.Event{
		{Type: tree.EventNodeCreated, Path: path, Zxid: s.zxid},
		{Type: tree.EventNodeChildrenChanged, Path: parentPath(path), Zxid: s.zxid},
	}
}

func (s *fakeServer) deleteLocked(path string, version int32) (wire.Code, []tree.Event) {
	n := s.nodes[path]
	switch {
	case n == nil:
		return wire.CodeNoNode, nil
	case version != -1 && version != n.stat.Version:
		return wire.CodeBadVersion, nil
	case n.stat.NumChildren > 0:
		return wire.CodeNotEmpty, nil
	}
	s.zxid++
	delete(s.nodes, path)
	if p := s.nodes[parentPath(path)]; p != nil {
		p.stat.Cversion++
		p.stat.NumChildren--
		p.stat.Pzxid = s.zxid
	}
	return wire.CodeOK, []tree.Event{
		{Type: tree.EventNodeDeleted, Path: path, Zxid: s.zxid},
		{Type: tree.EventNodeChildrenChanged, Path: parentPath(path), Zxid: s.zxid},
	}
}

func (s *fakeServer) setLocked(path string, data []byte, version int32) (wire.Code, []tree.Event) {
	n := s.nodes[path]
	switch {
	case n == nil:
		return wire.CodeNoNode, nil
	case version != -1 && version != n.stat.Version:
		return wire.CodeBadVersion, nil
	}
	s.zxid++
	n.data = slices.Clone(data)
	n.stat.Version++
	n.stat.Mzxid = s.zxid
	n.stat.DataLength = int32(len(data))
	return wire.CodeOK, []tree.Event{{Type: tree.EventNodeDataChanged, Path: path, Zxid: s.zxid}}
}

// multiLocked applies ops one by one; if one fails it restores the tree as
// it was and reports which.
func (s *fakeServer) multiLocked(fc *fakeConn, ops []tree.Op) (wire.Code, []tree.Event, []wire.OpResult) {
	saved := make(map[string]fakeNode, len(s.nodes))
	for p, n := range s.nodes {
		saved[p] = *n
	}
	savedZxid := s.zxid
	results := make([]wire.OpResult, len(ops))
	var events []tree.Event
	failed := -1
	for i, op := range ops {
		results[i].Type = op.Type
		var code wire.Code
		var evs []tree.Event
		switch op.Type {
		case tree.OpCreate:
			var p string
			p, code, evs = s.createLocked(fc, op.Path, op.Data, op.Mode)
			if code == wire.CodeOK {
				results[i].Path = p
				st := s.nodes[p].stat
				results[i].Stat = &st
			}
		case tree.OpDelete:
			code, evs = s.deleteLocked(op.Path, op.Version)
		case tree.OpSetData:
			code, evs = s.setLocked(op.Path, op.Data, op.Version)
			if code == wire.CodeOK {
				st := s.nodes[op.Path].stat
				results[i].Stat = &st
			}
		case tree.OpCheck:
			n := s.nodes[op.Path]
			if n == nil {
				code = wire.CodeNoNode
			} else if op.Version != -1 && op.Version != n.stat.Version {
				code = wire.CodeBadVersion
			}
		default:
			code = wire.CodeBadArguments
		}
		if code != wire.CodeOK {
			failed = i
			results[i].Code = code
			break
		}
		events = append(events, evs...)
	}
	if failed < 0 {
		return wire.CodeOK, events, results
	}
	clear(s.nodes)
	for p, n := range saved {
		s.nodes[p] = &n
	}
	s.zxid = savedZxid
	for i := range results {
		results[i].Path, results[i].Stat = "", nil
		switch {
		case i < failed:
			results[i].Code = wire.CodeRolledBack
		case i > failed:
			results[i].Code = wire.CodeRuntimeInconsistency
		}
	}
	return results[failed].Code, nil, results
}

// closeSessionLocked deletes the session's ephemerals and returns the events.
func (s *fakeServer) closeSessionLocked(sess *fakeSession) []tree.Event {
	var paths []string
	for p, n := range s.nodes {
		if n.owner == sess.id {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var events []tree.Event
	for _, p := range paths {
		_, evs := s.deleteLocked(p, -1)
		events = append(events, evs...)
	}
	delete(s.sessions, sess.id)
	sess.expired = true
	return events
}

// fireLocked sends each event to every connection with a matching watch,
// once per connection, removing the one-shot watches that fired.
func (s *fakeServer) fireLocked(events []tree.Event) {
	for _, ev := range events {
		for fc := range s.conns {
			if fc.sess == nil || fc.sess.expired {
				continue
			}
			hit := false
			take := func(k watchKind) {
				w := fakeWatch{k, ev.Path}
				if fc.watches[w] {
					delete(fc.watches, w)
					hit = true
				}
			}
			switch ev.Type {
			case tree.EventNodeCreated, tree.EventNodeDataChanged:
				take(kindData)
				take(kindExist)
			case tree.EventNodeDeleted:
				take(kindData)
				take(kindExist)
				take(kindChild)
			case tree.EventNodeChildrenChanged:
				take(kindChild)
			}
			if fc.watches[fakeWatch{fakePersistent, ev.Path}] {
				hit = true
			}
			if ev.Type != tree.EventNodeChildrenChanged {
				for p := ev.Path; ; p = parentPath(p) {
					if fc.watches[fakeWatch{fakeRecursive, p}] {
						hit = true
					}
					if p == "/" {
						break
					}
				}
			}
			if hit {
				e := ev
				fc.send(&wire.Response{Xid: wire.XidWatchEvent, Zxid: s.zxid, Event: &e})
			}
		}
	}
}

// setWatchesLocked re-registers watches and fires those that missed a
// change after rel, as ZooKeeper's setWatches does.
func (fc *fakeConn) setWatchesLocked(rel tree.Zxid, ws *wire.WatchSet) {
	if ws == nil {
		return
	}
	s := fc.s
	send := func(t tree.EventType, p string) {
		fc.send(&wire.Response{Xid: wire.XidWatchEvent, Zxid: s.zxid, Event: &tree.Event{Type: t, Path: p, Zxid: s.zxid}})
	}
	for _, p := range ws.Data {
		n := s.nodes[p]
		switch {
		case n == nil:
			send(tree.EventNodeDeleted, p)
		case n.stat.Mzxid > rel:
			send(tree.EventNodeDataChanged, p)
		default:
			fc.watches[fakeWatch{kindData, p}] = true
		}
	}
	for _, p := range ws.Exist {
		if n := s.nodes[p]; n != nil {
			send(tree.EventNodeCreated, p)
		} else {
			fc.watches[fakeWatch{kindExist, p}] = true
		}
	}
	for _, p := range ws.Child {
		n := s.nodes[p]
		switch {
		case n == nil:
			send(tree.EventNodeDeleted, p)
		case n.stat.Pzxid > rel:
			send(tree.EventNodeChildrenChanged, p)
		default:
			fc.watches[fakeWatch{kindChild, p}] = true
		}
	}
	for _, p := range ws.Persistent {
		fc.watches[fakeWatch{fakePersistent, p}] = true
	}
	for _, p := range ws.PersistentRecursive {
		fc.watches[fakeWatch{fakeRecursive, p}] = true
	}
}
