package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Client is a session with a zabkit ensemble. It is safe for concurrent use.
// Create it with Connect and release it with Close.
type Client struct {
	servers []string // shuffled once at Connect
	opts    options
	log     *slog.Logger
	epoch   time.Time // monotonic base for the nanosecond clocks below

	lastZxid atomic.Int64 // largest zxid seen in any reply or event
	xid      atomic.Int64 // last xid sent; only the current writer advances it
	heard    atomic.Int64 // now() when a frame last arrived from any server

	runCtx    context.Context // canceled by Close
	runCancel context.CancelFunc
	runDone   chan struct{} // closed when the run loop has returned

	mu struct {
		sync.Mutex
		state    State
		err      error // ErrSessionExpired or ErrClosed once final; calls fail with it
		session  tree.SessionID
		password []byte
		timeout  time.Duration // negotiated session timeout
		queue    []*call       // calls not yet written, in call order
		conn     *conn         // the live connection, nil while disconnected
		subs     map[*subscriber]struct{}
		next     int // index in servers of the next one to try
	}

	watches   registry
	closeOnce sync.Once
	wg        sync.WaitGroup // the run loop and the persistent watches' pumps
}

// Connect dials the servers (in a random order, each in turn) until one
// accepts a new session, and returns a Client holding it. servers are
// "host:port" addresses; an entry may hold several separated by commas, and
// a missing port means DefaultPort. It returns when connected, or when ctx
// ends: then with an error wrapping ErrNoServer, ctx.Err() and the last
// server's refusal. An empty list returns ErrNoServer at once.
//
// After Connect the Client keeps the session alive on its own: it pings when
// idle and, when the connection breaks, reconnects to any listed server and
// resumes the session, until Close or session expiry.
func Connect(ctx context.Context, servers []string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	addrs := parseServers(servers)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: empty server list", ErrNoServer)
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	if o.connectTimeout == 0 {
		o.connectTimeout = max(o.sessionTimeout/time.Duration(len(addrs)), 100*time.Millisecond)
	}
	c := &Client{
		servers: addrs,
		opts:    o,
		log:     o.logger,
		epoch:   time.Now(),
		runDone: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.mu.subs = make(map[*subscriber]struct{})
	c.watches.init(c)

	cn, err := c.connectFirst(ctx)
	if err != nil {
		return nil, err
	}
	c.runCtx, c.runCancel = context.WithCancel(context.Background())
	c.mu.Lock()
	c.setStateLocked(StateConnected)
	c.mu.Unlock()
	c.wg.Add(1)
	go c.run(cn)
	return c, nil
}

// parseServers splits comma-separated entries, trims them and adds the
// default port where none is given.
func parseServers(in []string) []string {
	var out []string
	for _, s := range in {
		for _, a := range strings.Split(s, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				a = net.JoinHostPort(strings.Trim(a, "[]"), DefaultPort)
			}
			out = append(out, a)
		}
	}
	return out
}

// SessionID returns the id of the client's session.
func (c *Client) SessionID() tree.SessionID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.session
}

// SessionTimeout returns the session timeout the server granted.
func (c *Client) SessionTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.timeout
}

// now returns the time since c.epoch on the monotonic clock.
func (c *Client) now() int64 { return int64(time.Since(c.epoch)) }

// seeZxid raises lastZxid to z.
func (c *Client) seeZxid(z tree.Zxid) {
	for {
		old := c.lastZxid.Load()
		if int64(z) <= old || c.lastZxid.CompareAndSwap(old, int64(z)) {
			return
		}
	}
}

// call states.
const (
	callWaiting   int32 = iota // queued or in flight
	callDone                   // finished: resp/err are set and done has a value
	callAbandoned              // the caller's ctx ended first; the result is dropped
)

// call is one request and, once finished, its outcome.
type call struct {
	req   wire.Request
	resp  wire.Response
	err   error
	state atomic.Int32
	done  chan struct{} // gets one value when finished
	// encMu is held by the writer while it encodes req and by a caller
	// giving up, so that a caller never returns while its data is read.
	encMu sync.Mutex

	// Set before enqueueing, read by the reader goroutine on the reply.
	reg   *watchReg                            // a watch to register on success
	after func(resp *wire.Response, err error) // internal calls: runs on the reader
}

func newCall(op wire.OpCode, path string) *call {
	cl := &call{done: make(chan struct{}, 1)}
	cl.req.Op = op
	cl.req.Path = path
	return cl
}

// callPool recycles the calls of the common ops, whose callers hand them
// back with putCall once they have read the result.
var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall(op wire.OpCode, path string) *call {
	cl := callPool.Get().(*call)
	cl.req.Op = op
	cl.req.Path = path
	return cl
}

// putCall recycles cl if it finished and its caller took the result: then
// no goroutine holds it any more (the reader's send on done was its last
// touch). An abandoned call, or one never queued, is left to the GC.
func putCall(cl *call) {
	if cl.state.Load() != callDone {
		return
	}
	cl.req = wire.Request{}
	cl.resp = wire.Response{}
	cl.err = nil
	cl.reg = nil
	cl.after = nil
	cl.state.Store(callWaiting)
	callPool.Put(cl)
}

// do queues cl and waits for its reply or for ctx. If ctx ends first it
// returns ctx.Err(); the request may still reach the server and take effect.
func (c *Client) do(ctx context.Context, cl *call) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.enqueue(cl); err != nil {
		return err
	}
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		cl.encMu.Lock()
		abandoned := cl.state.CompareAndSwap(callWaiting, callAbandoned)
		cl.encMu.Unlock()
		if abandoned {
			return ctx.Err()
		}
		<-cl.done // finished just now
		return cl.err
	}
}

// enqueue appends cl to the send queue. The queue order is the wire order.
func (c *Client) enqueue(cl *call) error {
	c.mu.Lock()
	if err := c.mu.err; err != nil {
		c.mu.Unlock()
		return err
	}
	c.mu.queue = append(c.mu.queue, cl)
	cn := c.mu.conn
	c.mu.Unlock()
	if cn != nil {
		cn.kick()
	}
	return nil
}

// finish completes cl with resp (a reply) or err (no reply). It runs the
// call's side effects, then hands the result to the caller unless the caller
// has given up. Only the reader, a failing connection, expiry and Close call
// it, and each call is finished once: it is in exactly one queue or pending
// table when they do.
func (c *Client) finish(cl *call, resp *wire.Response, err error) {
	if resp != nil {
		err = resp.Code.Err(resp.Message)
		// Removing watches must happen even if the caller has gone: the
		// server has dropped them.
		if cl.req.Op == wire.OpRemoveWatches && (err == nil || errors.Is(err, ErrNoWatcher)) {
			c.watches.removeLocal(cl.req.Path, cl.req.WatchType)
		}
	}
	if cl.after != nil {
		cl.after(resp, err)
	}
	if !cl.state.CompareAndSwap(callWaiting, callDone) {
		return
	}
	if resp != nil {
		if cl.reg != nil {
			c.watches.registerFromReply(cl, resp)
		}
		cl.resp = *resp
	}
	cl.err = err
	cl.done <- struct{}{}
}

// connectFirst opens the session: it tries every server in turn, with a
// growing pause after each round, until one accepts or ctx ends.
func (c *Client) connectFirst(ctx context.Context) (*conn, error) {
	var lastErr error
	pause := 10 * time.Millisecond
	for {
		for range c.servers {
			if err := ctx.Err(); err != nil {
				return nil, noServer(err, lastErr)
			}
			addr := c.nextServer()
			actx, cancel := context.WithTimeout(ctx, c.opts.connectTimeout)
			cn, err := c.dial(actx, addr)
			cancel()
			if err == nil {
				return cn, nil
			}
			lastErr = err
			c.log.Debug("connect failed", "peer", addr, "err", err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, noServer(ctx.Err(), lastErr)
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

func noServer(ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("%w: %w", ErrNoServer, ctxErr)
	}
	return fmt.Errorf("%w: %w (last error: %v)", ErrNoServer, ctxErr, last)
}

func (c *Client) nextServer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.servers[c.mu.next%len(c.servers)]
	c.mu.next = (c.mu.next + 1) % len(c.servers)
	return a
}

// errLocalExpiry is the cause logged when no server answered within the
// session timeout.
var errLocalExpiry = errors.New("no server reachable within the session timeout")

// run owns the connection's lifecycle: it serves cn until it breaks, then
// reconnects and resumes the session, until Close or expiry.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	defer close(c.runDone)
	for {
		c.serve(cn)
		if c.closing() {
			return
		}
		c.mu.Lock()
		c.mu.conn = nil
		c.setStateLocked(StateDisconnected)
		timeout := c.mu.timeout
		c.mu.Unlock()
		// The server expires the session timeout after it last heard from
		// us; we last heard from it at lastRecv, which is no later.
		deadline := c.epoch.Add(time.Duration(cn.lastRecv.Load()) + timeout)
		next, err := c.reconnect(deadline)
		if err != nil {
			if c.closing() {
				return
			}
			c.log.Warn("session expired", "session", c.SessionID(), "err", err)
			c.expire()
			return
		}
		cn = next
	}
}

// LastHeard returns when the client last received anything (a reply, a
// ping's answer, a watch event or a handshake) from any server. While
// disconnected it says how long the session may already have been silent:
// the server expires it once it has heard nothing for the session timeout,
// counted from no later than this. Recipes use it to decide when a lock or
// a leadership can no longer be trusted.
func (c *Client) LastHeard() time.Time {
	return c.epoch.Add(time.Duration(c.heard.Load()))
}

// closing reports whether Close has begun.
func (c *Client) closing() bool {
	if c.runCtx.Err() != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Is(c.mu.err, ErrClosed)
}

// serve makes cn the live connection and runs it until it breaks or Close.
func (c *Client) serve(cn *conn) {
	c.mu.Lock()
	// Re-register watches before anything queued: the server fires what
	// changed while we were away, and those events must precede the replies
	// to later calls.
	if sw := c.watches.setWatchesCalls(tree.Zxid(c.lastZxid.Load()), cn.maxFrame, c.log); len(sw) > 0 {
		c.mu.queue = append(sw, c.mu.queue...)
	}
	c.mu.conn = cn
	if c.mu.err == nil {
		c.setStateLocked(StateConnected)
	}
	c.mu.Unlock()
	cn.start()
	select {
	case <-cn.stop:
	case <-c.runCtx.Done():
		cn.fail(ErrClosed, ErrClosed)
	}
	cn.wg.Wait()
	c.mu.Lock()
	if c.mu.conn == cn {
		c.mu.conn = nil
	}
	c.mu.Unlock()
}

// reconnect tries every server in turn, pausing between rounds, until one
// resumes the session. It gives up with an error wrapping ErrSessionExpired
// when a server says the session is gone or deadline passes, and with
// ErrClosed when Close begins.
func (c *Client) reconnect(deadline time.Time) (*conn, error) {
	pause := 10 * time.Millisecond
	for {
		for range c.servers {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, fmt.Errorf("%w: %w", ErrSessionExpired, errLocalExpiry)
			}
			addr := c.nextServer()
			ctx, cancel := context.WithTimeout(c.runCtx, min(c.opts.connectTimeout, left))
			cn, err := c.dial(ctx, addr)
			cancel()
			switch {
			case err == nil:
				c.log.Info("session resumed", "peer", addr, "session", c.SessionID())
				return cn, nil
			case c.runCtx.Err() != nil:
				return nil, ErrClosed
			case errors.Is(err, ErrSessionExpired), errors.Is(err, ErrAuthFailed):
				return nil, fmt.Errorf("%w: %w", ErrSessionExpired, err)
			}
			c.log.Debug("reconnect failed", "peer", addr, "err", err)
		}
		t := time.NewTimer(min(pause, max(time.Until(deadline), 0)))
		select {
		case <-c.runCtx.Done():
			t.Stop()
			return nil, ErrClosed
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

// dial connects to addr and runs the handshake, asking for a new session or
// resuming the current one. It returns the refusal's sentinel (wrapped with
// the server's message) when the server says no.
func (c *Client) dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cn, err := c.handshake(ctx, nc, addr)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return cn, nil
}

func (c *Client) handshake(ctx context.Context, nc net.Conn, addr string) (*conn, error) {
	// Any blocking read or write ends when ctx does.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c.mu.Lock()
	req := wire.ConnectRequest{
		ProtocolVersion: wire.ProtocolVersion,
		LastZxidSeen:    tree.Zxid(c.lastZxid.Load()),
		Timeout:         int32(c.opts.sessionTimeout / time.Millisecond),
		SessionID:       c.mu.session,
		Password:        c.mu.password,
	}
	c.mu.Unlock()
	cn := newConn(c, nc, addr)
	if err := cn.ww.WriteConnectRequest(&req); err != nil {
		return nil, err
	}
	if err := cn.ww.Flush(); err != nil {
		return nil, err
	}
	frame, err := wire.ReadFrame(cn.br, c.opts.maxFrame, nil)
	if err != nil {
		return nil, err
	}
	var resp wire.ConnectResponse
	if err := wire.DecodeConnectResponse(frame, &resp); err != nil {
		return nil, err
	}
	if !stop() {
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	if resp.Code != wire.CodeOK {
		return nil, fmt.Errorf("server %s: %w", addr, resp.Code.Err(resp.Message))
	}
	resuming := req.SessionID != 0
	if resp.Timeout <= 0 {
		if resuming {
			return nil, fmt.Errorf("server %s: %w", addr, ErrSessionExpired)
		}
		return nil, fmt.Errorf("server %s: %w: negotiated timeout %dms", addr, wire.ErrBadProtocol, resp.Timeout)
	}
	if resuming && resp.SessionID != req.SessionID {
		// Never adopt a session we did not ask for.
		return nil, fmt.Errorf("server %s: %w: resumed %v as %v", addr, ErrSessionExpired, req.SessionID, resp.SessionID)
	}
	timeout := time.Duration(resp.Timeout) * time.Millisecond
	if !resuming {
		// The server's last zxid covers the txn that created the session:
		// a later reconnect must only land on a peer that has applied it.
		// (Not on a resume: the zxid re-registered watches count from
		// must stay the last one this client saw, or it would miss the
		// changes made while it was away.)
		c.seeZxid(resp.LastZxid)
	}
	c.mu.Lock()
	c.mu.session = resp.SessionID
	c.mu.password = resp.Password
	c.mu.timeout = timeout
	c.mu.Unlock()
	cn.timeout = timeout
	if resp.MaxFrame > 0 {
		cn.maxFrame = int(resp.MaxFrame)
		cn.ww = wire.NewWriter(nc, cn.maxFrame)
	}
	cn.lastRecv.Store(c.now())
	c.heard.Store(cn.lastRecv.Load())
	c.log.Debug("connected", "peer", addr, "session", resp.SessionID, "timeout", timeout)
	return cn, nil
}

// expire makes the session's loss final: every queued call fails with
// ErrSessionExpired, and every watch channel gets an Event with it.
func (c *Client) expire() {
	c.mu.Lock()
	if c.mu.err == nil {
		c.mu.err = ErrSessionExpired
	}
	q := c.mu.queue
	c.mu.queue = nil
	c.mu.conn = nil
	if c.mu.state != StateClosed {
		c.setStateLocked(StateExpired)
	}
	err := c.mu.err
	c.mu.Unlock()
	for _, cl := range q {
		c.finish(cl, nil, err)
	}
	c.watches.closeAll(err, false)
}

// Close ends the session and releases everything the Client holds. If
// connected, it sends a close-session request so the server deletes the
// session's ephemeral nodes at once, and waits briefly (2s at most) for the
// answer; otherwise the server deletes them when the session times out. Calls
// still waiting fail with ErrClosed, every watch channel gets an Event with
// ErrClosed (when there is room in its buffer) and is closed, the state
// becomes StateClosed, and Close waits for every goroutine the Client
// started. Every call after Close returns ErrClosed. Close always returns
// nil; calling it again does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(c.close)
	return nil
}

func (c *Client) close() {
	c.mu.Lock()
	var cl *call
	cn := c.mu.conn
	if c.mu.err == nil && cn != nil {
		cl = newCall(wire.OpCloseSession, "")
		c.mu.queue = append(c.mu.queue, cl)
	}
	c.mu.err = ErrClosed
	c.mu.Unlock()
	if cl != nil {
		cn.kick()
		t := time.NewTimer(c.opts.closeWait)
		select {
		case <-cl.done:
			if cl.err != nil {
				c.log.Warn("close session failed", "session", c.SessionID(), "err", cl.err)
			}
		case <-cn.stop:
		case <-t.C:
			c.log.Warn("close session timed out", "session", c.SessionID())
		}
		t.Stop()
	}
	c.runCancel()
	<-c.runDone
	c.mu.Lock()
	q := c.mu.queue
	c.mu.queue = nil
	c.setStateLocked(StateClosed)
	c.mu.Unlock()
	for _, cl := range q {
		c.finish(cl, nil, ErrClosed)
	}
	c.watches.closeAll(ErrClosed, true)
	c.wg.Wait()
}
