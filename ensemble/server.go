package ensemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/broadcast"
	"github.com/zabkit/zabkit/broadcast/snap"
	"github.com/zabkit/zabkit/broadcast/transport"
	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/ensemble/membership"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Server is a standalone peer: it serves clients from its own tree and makes
// every write durable in its own txn log before answering it.
//
// Create it with New, then Start; Stop ends it. A Server is not restarted
// after Stop: make a new one on the same DataDir.
type Server struct {
	cfg   Config
	log   *slog.Logger
	epoch time.Time // the tracker's clock starts here (monotonic)

	// treeMu guards tree: the applier holds it to write, readers to read.
	treeMu sync.RWMutex
	tree   *tree.Tree
	// watchMu guards watches (Watches is not safe for concurrent use; the
	// tree's read lock alone is shared).
	watchMu sync.Mutex
	watches *tree.Watches

	lastZxid    atomic.Int64 // last applied zxid, for frames sent outside the tree lock
	sessions    *sessionTracker
	limiter     *ipLimiter
	nextSession atomic.Int64 // low 56 bits of the next session id

	prop proposer
	// zab and net are set for a member of an ensemble (nil standalone).
	zab    *zabNode
	net    *transport.Transport
	gossip *membership.Membership
	wal    *wal.Log
	// crashStop (tests) skips the final snapshot on Stop, so the next
	// start replays the log as after a kill -9.
	crashStop bool
	// walSegmentBytes overrides the log's segment size (tests); 0: default.
	walSegmentBytes int64
	snaps           *snap.Store

	ln       net.Listener
	stopping chan struct{} // closed when Stop begins
	wg       sync.WaitGroup
	connSeq  atomic.Uint64

	conns struct {
		sync.Mutex
		m map[uint64]*conn
	}

	expiring atomic.Int64 // OpDeleteExpired txns in flight
	broken   atomic.Bool  // a txn failed to apply: nothing is applied after it

	snapState struct {
		sync.Mutex
		running bool
		since   int           // txns applied since the last snapshot began
		zxids   []tree.Zxid   // snapshots known to be kept, oldest first
		done    chan struct{} // closed when the running snapshot ends
	}

	state struct {
		sync.Mutex
		started, stopped bool
	}
}

// Status is a point-in-time summary of a peer.
type Status struct {
	Role        string    // "standalone", "leading", "following", "observing", "looking" or "halted"
	ServerID    uint32    // Config.ServerID
	LastZxid    tree.Zxid // last applied txn
	Sessions    int       // live sessions
	Nodes       int       // znodes, "/" included
	Watches     int       // registered watches
	Connections int       // open client connections
	Digest      uint64    // the tree's digest at LastZxid
}

// New checks cfg and returns a server that is not yet started. It does no
// I/O. It returns an error wrapping ErrConfig for an invalid cfg.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		epoch:    time.Now(),
		watches:  tree.NewWatches(),
		sessions: newSessionTracker(),
		limiter:  newIPLimiter(cfg.MaxConnsPerIP),
		stopping: make(chan struct{}),
	}
	s.conns.m = make(map[uint64]*conn)
	return s, nil
}

// Start recovers the tree from the newest valid snapshot and the txn log,
// then listens on ClientAddr and serves. It returns an error if the data
// directory cannot be opened or recovered (ErrLogGap, ErrCorruptTxn,
// ErrBrokenInvariant, or the storage's own errors) or the address cannot be
// listened on; the server is then unusable. ctx bounds nothing yet: recovery
// runs to its end.
func (s *Server) Start(ctx context.Context) error {
	s.state.Lock()
	defer s.state.Unlock()
	if s.state.started || s.state.stopped {
		return ErrStarted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.zabMode() {
		return s.startZab()
	}
	if err := s.recover(); err != nil {
		s.closeStorage()
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.ClientAddr)
	if err != nil {
		s.closeStorage()
		return fmt.Errorf("ensemble: listening on %s: %w", s.cfg.ClientAddr, err)
	}
	s.ln = ln
	s.prop = newLogProposer(s.wal, s.tree.LastZxid(), s.applyBatch, s.log)
	s.state.started = true
	s.wg.Add(2)
	go s.acceptLoop()
	go s.tickLoop()
	s.log.Info("serving", "addr", ln.Addr().String(), "zxid", s.tree.LastZxid(),
		"sessions", s.sessions.count(), "nodes", s.tree.NodeCount())
	return nil
}

// Addr returns the address clients connect to, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.state.Lock()
	defer s.state.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop stops accepting, closes every connection, applies every write
// already proposed (each is durable before it is applied), writes a final
// snapshot, closes the log and waits for every goroutine. If ctx ends first
// the final snapshot is skipped and ctx's error returned, after the same
// waiting. It returns ErrNotStarted if Start did not succeed, or the first
// storage error.
func (s *Server) Stop(ctx context.Context) error {
	s.state.Lock()
	defer s.state.Unlock()
	if !s.state.started || s.state.stopped {
		return ErrNotStarted
	}
	s.state.stopped = true
	close(s.stopping)
	_ = s.ln.Close()

	s.conns.Lock()
	for _, c := range s.conns.m {
		c.close()
	}
	s.conns.Unlock()

	// Connections and the ticker first, so nothing new is proposed; then
	// drain the pipeline.
	s.wg.Wait()
	s.prop.stop()
	if s.net != nil {
		_ = s.net.Close()
	}
	if s.gossip != nil {
		_ = s.gossip.Close()
	}
	s.waitSnapshot()

	var errs []error
	if ctx.Err() == nil && !s.crashStop {
		if err := s.snapshotNow(); err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, ctx.Err())
	}
	if err := s.wal.Close(); err != nil {
		errs = append(errs, fmt.Errorf("ensemble: closing txn log: %w", err))
	}
	s.log.Info("stopped", "zxid", s.lastApplied())
	return errors.Join(errs...)
}

// Status returns a consistent summary of the peer.
func (s *Server) Status() Status {
	st := Status{Role: "standalone", ServerID: s.cfg.ServerID}
	if s.zab != nil {
		st.Role = s.zab.roleName()
	}
	s.conns.Lock()
	st.Connections = len(s.conns.m)
	s.conns.Unlock()
	st.Sessions = s.sessions.count()
	s.treeMu.RLock()
	if s.tree != nil {
		st.LastZxid = s.tree.LastZxid()
		st.Nodes = s.tree.NodeCount()
		st.Digest = s.tree.Digest()
	}
	s.watchMu.Lock()
	st.Watches = s.watches.Count()
	s.watchMu.Unlock()
	s.treeMu.RUnlock()
	return st
}

// PeerStatus returns the peer's status as `zabkit status` shows it.
func (s *Server) PeerStatus() wire.PeerStatus {
	st := s.Status()
	ps := wire.PeerStatus{
		ServerID: st.ServerID, Role: st.Role, LastZxid: st.LastZxid, LogZxid: st.LastZxid,
		Committed: st.LastZxid, Sessions: st.Sessions, Nodes: st.Nodes, Watches: st.Watches,
		Connections: st.Connections, Digest: st.Digest, Serving: s.zab == nil,
	}
	s.zabStatus(&ps)
	return ps
}

// now is the tracker's clock: monotonic time since New.
func (s *Server) now() time.Duration { return time.Since(s.epoch) }

// wallMillis is the time a txn carries (ms since the Unix epoch).
func (s *Server) wallMillis() int64 { return time.Now().UnixMilli() }

// lastApplied returns the last applied zxid without the tree lock.
func (s *Server) lastApplied() tree.Zxid { return tree.Zxid(s.lastZxid.Load()) }

// clampTimeout bounds a requested session timeout (ms) to the configured range.
func (s *Server) clampTimeout(ms int32) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	return min(max(d, s.cfg.MinSessionTimeout), s.cfg.MaxSessionTimeout).Truncate(time.Millisecond)
}

// sessionLowBits masks the counter part of a session id.
const sessionLowBits = 1<<56 - 1

// seedSessions sets the session counter so ids never repeat across
// restarts: from the wall clock (ms << 14, room for 16,384 sessions per ms
// of uptime and good until the year 2109) and above every id restored.
func (s *Server) seedSessions(restored []tree.Session) {
	seed := (time.Now().UnixMilli() << 14) & sessionLowBits
	for _, r := range restored {
		if uint64(r.ID)>>56 == uint64(s.cfg.ServerID) {
			seed = max(seed, int64(r.ID)&sessionLowBits)
		}
	}
	s.nextSession.Store(seed)
}

// newSessionID returns a session id never used before by this server:
// ServerID<<56 | a counter.
func (s *Server) newSessionID() tree.SessionID {
	low := s.nextSession.Add(1) & sessionLowBits
	return tree.SessionID(int64(uint64(s.cfg.ServerID)<<56) | low)
}

// acceptLoop accepts connections until the listener closes.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			select {
			case <-s.stopping:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		s.serve(nc)
	}
}

// serve starts the goroutines of a new connection, or refuses it.
func (s *Server) serve(nc net.Conn) {
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	ip := ipOf(nc.RemoteAddr())
	c := newConn(s, nc, s.connSeq.Add(1), ip)
	refuse := wire.CodeOK
	if !s.limiter.acquire(ip) {
		c.log.Warn("too many connections from one address", "ip", ip)
		refuse = wire.CodeTooManyConnections
	} else {
		c.counted = true
	}
	s.conns.Lock()
	select {
	case <-s.stopping:
		s.conns.Unlock()
		if c.counted {
			s.limiter.release(ip)
		}
		_ = nc.Close()
		return
	default:
	}
	s.conns.m[c.id] = c
	s.conns.Unlock()
	s.wg.Add(2)
	go c.writeLoop()
	go c.readLoop(refuse)
}

// unregister forgets a closed connection.
func (s *Server) unregister(c *conn) {
	s.conns.Lock()
	delete(s.conns.m, c.id)
	s.conns.Unlock()
	if c.counted {
		s.limiter.release(c.ip)
	}
}

// connOf returns the open connection with id, or nil.
func (s *Server) connOf(id uint64) *conn {
	s.conns.Lock()
	defer s.conns.Unlock()
	return s.conns.m[id]
}

// tickLoop runs the per-tick duties: session expiry and container/TTL
// expiry.
func (s *Server) tickLoop() {
	defer s.wg.Done()
	every := s.cfg.TickTime
	if s.zab != nil {
		every /= 2 // followers report live sessions twice a tick
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case <-t.C:
			s.tick()
		}
	}
}

// tick proposes a TxnCloseSession for every session unseen for its timeout
// and an OpDeleteExpired txn for every container or TTL node due.
func (s *Server) tick() {
	if s.zab != nil {
		// The leader decides expiry; the others report who is alive.
		s.zab.reportSessions()
		s.zab.hello()
		if cs := s.zab.coreStatus(); !cs.Serving || cs.State != broadcast.StateLeading {
			return
		}
	}
	for _, id := range s.sessions.expire(s.now()) {
		s.log.Info("session expired", "session", id)
		s.prop.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnCloseSession, Session: id, Time: s.wallMillis()}})
	}
	if s.expiring.Load() > 0 {
		return // the last round is still in flight
	}
	nowMs := s.wallMillis()
	s.treeMu.RLock()
	ops := s.tree.Expired(nowMs)
	s.treeMu.RUnlock()
	for _, op := range ops {
		s.expiring.Add(1)
		ok := s.prop.propose(&proposal{
			txn:  &tree.Txn{Kind: tree.TxnOps, Ops: []tree.Op{op}, Time: nowMs},
			done: func(*tree.Result, error) { s.expiring.Add(-1) },
		})
		if !ok {
			s.expiring.Add(-1)
		}
	}
}

// applyBatch is the applier: the proposer calls it, from one goroutine,
// with batches of durable txns (and barriers) in zxid order.
func (s *Server) applyBatch(batch []*proposal) {
	applied := 0
	s.treeMu.Lock()
	for _, p := range batch {
		var res tree.Result
		if p.txn != nil && p.err == nil && s.broken.Load() {
			// Durable but after a broken invariant: never applied.
			p.err = fmt.Errorf("%w: writes halted after a broken invariant", wire.ErrSystemError)
		}
		if p.txn != nil && p.err == nil {
			r, events, err := s.tree.Apply(p.txn)
			if err != nil {
				// A broken invariant: stop all writes, loudly.
				err = fmt.Errorf("%w: applying %v: %w", ErrBrokenInvariant, p.txn.Zxid, err)
				s.log.Error("cannot apply txn, writes halted", "zxid", p.txn.Zxid, "err", err)
				s.broken.Store(true)
				s.prop.halt(err)
				p.err = fmt.Errorf("%w: %w", wire.ErrSystemError, err)
			} else {
				res = r
				applied++
				s.lastZxid.Store(int64(p.txn.Zxid))
				// Watches fire under the same lock as the apply, into the
				// watchers' queues, before the writer's reply is queued:
				// no reply can overtake the event it implies.
				if len(events) > 0 {
					s.watchMu.Lock()
					for _, ev := range events {
						s.watches.Trigger(ev, s.deliverLocked)
					}
					s.watchMu.Unlock()
				}
			}
		}
		ok := p.txn != nil && p.err == nil
		if ok && p.txn.Kind == tree.TxnCreateSession && res.Err == nil {
			// Tracked before the handshake that waits for it can attach.
			s.sessions.add(p.txn.Session, time.Duration(p.txn.Timeout)*time.Millisecond, s.now())
		}
		if p.done != nil {
			// Persist before reply: p is durable (or failed) by now.
			p.done(&res, p.err)
		}
		if ok && p.txn.Kind == tree.TxnCloseSession {
			if c := s.sessions.remove(p.txn.Session); c != nil {
				// The reply to an OpCloseSession is queued already: send
				// it, then close.
				c.closeAfterFlush()
			}
		}
	}
	if applied > 0 {
		s.maybeSnapshotLocked(applied)
	}
	s.treeMu.Unlock()
}

// deliverLocked queues a watch event for the connection that owns the
// watch. The tree and watch locks are held.
func (s *Server) deliverLocked(id tree.WatcherID, ev tree.Event) {
	if c := s.connOf(uint64(id)); c != nil {
		c.eventLocked(ev)
	}
}
