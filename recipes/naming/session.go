package naming

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/tree"
)

// Dialer opens a new session for a Registry: typically
//
//	func(ctx context.Context) (recipes.Conn, error) { return client.Connect(ctx, servers) }
//
// The Registry owns every Conn it returns: when that session expires or
// is closed it closes the Conn (if it has a Close method, as a
// *client.Client does) and dials again. It must honour ctx, which ends
// when the Registry is closed.
type Dialer func(ctx context.Context) (recipes.Conn, error)

// Redial backoff after a failed dial.
const (
	minRedial = 50 * time.Millisecond
	maxRedial = 2 * time.Second
)

// session is one session a Registry uses. done is closed once the session
// can serve no more calls (expired or closed, or the Registry stopped).
type session struct {
	conn recipes.Conn
	done chan struct{}

	mu     sync.Mutex
	synced bool // Sync ran on it: reads are at least as new as any earlier session's
}

// sync makes the session's server catch up with every write committed
// before the call, once per session, so that what is read on it is never
// older than what was read on an earlier session.
func (s *session) sync(ctx context.Context) error {
	s.mu.Lock()
	ok := s.synced
	s.mu.Unlock()
	if ok {
		return nil
	}
	for {
		err := s.conn.Sync(ctx, "/")
		if err == nil {
			break
		}
		if !connLoss(err) || ctx.Err() != nil {
			return err
		}
	}
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
	return nil
}

// sessions holds the Registry's current session: a fixed Conn (dial nil),
// or sessions it dials itself, one after the other, each time the last
// one expired or was closed.
type sessions struct {
	dial   Dialer
	log    *slog.Logger
	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	done   chan struct{} // run returned

	mu struct {
		sync.Mutex
		cur     *session      // nil while dialing
		changed chan struct{} // closed and replaced when cur or final changes
		final   error         // set once no session will come again
		dialErr error         // the last dial's error, for callers that give up waiting
	}
}

// newSessions starts the holder: on conn if dial is nil, else dialing.
func newSessions(conn recipes.Conn, dial Dialer, log *slog.Logger) *sessions {
	ss := &sessions{dial: dial, log: log, done: make(chan struct{})}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	ss.mu.changed = make(chan struct{})
	if dial == nil {
		s := &session{conn: conn, done: make(chan struct{}), synced: true} // one session: nothing to catch up with
		ss.mu.cur = s
		go ss.runFixed(s)
	} else {
		go ss.runDial()
	}
	return ss
}

// get returns the current session, waiting for one while dialing. It
// fails with the final error (client.ErrSessionExpired or
// client.ErrClosed for a fixed Conn whose session ended, ErrClosed after
// stop) or with ctx.Err() (wrapped with the last dial error, if any).
func (ss *sessions) get(ctx context.Context) (*session, error) {
	for {
		ss.mu.Lock()
		cur, final, changed, dialErr := ss.mu.cur, ss.mu.final, ss.mu.changed, ss.mu.dialErr
		ss.mu.Unlock()
		if cur != nil && !closed(cur.done) {
			return cur, nil
		}
		if final != nil {
			return nil, final
		}
		select {
		case <-changed:
		case <-ctx.Done():
			if dialErr != nil {
				return nil, fmt.Errorf("waiting for a session (last dial: %v): %w", dialErr, ctx.Err())
			}
			return nil, ctx.Err()
		}
	}
}

// publish sets the current session and final error and wakes waiters.
func (ss *sessions) publish(cur *session, final error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.mu.cur = cur
	if final != nil && ss.mu.final == nil {
		ss.mu.final = final
	}
	close(ss.mu.changed)
	ss.mu.changed = make(chan struct{})
}

func (ss *sessions) setDialErr(err error) {
	ss.mu.Lock()
	ss.mu.dialErr = err
	ss.mu.Unlock()
}

// stop ends the holder and waits for it: a dialed session is closed, a
// fixed Conn is left to its owner. Calling it again does nothing.
func (ss *sessions) stop() {
	ss.cancel()
	<-ss.done
}

// over waits until conn's session ends (true, with client.ErrSessionExpired
// or client.ErrClosed) or the holder stops (false).
func (ss *sessions) over(conn recipes.Conn) (ended bool, why error) {
	states, unsubscribe := conn.Subscribe()
	defer unsubscribe()
	for {
		select {
		case st, ok := <-states:
			switch {
			case !ok, st == client.StateClosed:
				return true, client.ErrClosed
			case st == client.StateExpired:
				return true, client.ErrSessionExpired
			}
		case <-ss.ctx.Done():
			return false, nil
		}
	}
}

func (ss *sessions) runFixed(s *session) {
	defer close(ss.done)
	ended, err := ss.over(s.conn)
	close(s.done)
	if ended {
		ss.publish(nil, err)
		return
	}
	ss.publish(nil, ErrClosed)
}

func (ss *sessions) runDial() {
	defer close(ss.done)
	backoff := minRedial
	for {
		conn, err := ss.dial(ss.ctx)
		if err == nil && conn == nil {
			err = fmt.Errorf("naming: Dialer returned no Conn and no error: %w", tree.ErrBadArguments)
		}
		if err != nil {
			if ss.ctx.Err() != nil {
				ss.publish(nil, ErrClosed)
				return
			}
			ss.setDialErr(err)
			ss.log.Warn("naming: dial failed", "err", err, "retry", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ss.ctx.Done():
				t.Stop()
				ss.publish(nil, ErrClosed)
				return
			}
			backoff = min(2*backoff, maxRedial)
			continue
		}
		backoff = minRedial
		ss.setDialErr(nil)
		s := &session{conn: conn, done: make(chan struct{})}
		ss.publish(s, nil)
		ss.log.Info("naming: session opened", "session", conn.SessionID())
		ended, why := ss.over(conn)
		close(s.done)
		closeConn(conn)
		if !ended {
			ss.publish(nil, ErrClosed)
			return
		}
		ss.log.Info("naming: session ended, dialing a new one", "session", conn.SessionID(), "err", why)
		ss.publish(nil, nil)
	}
}

// closeConn closes a dialed Conn if it can be closed.
func closeConn(conn recipes.Conn) {
	if c, ok := conn.(io.Closer); ok {
		_ = c.Close()
	}
}
