package election

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// Leadership is a won election, returned by Campaign. It stays valid until
// Resign releases it or it is lost.
//
// Lost is closed, and Context cancelled, at the first of:
//   - the session is expired or the client closed;
//   - the client has been disconnected and has heard nothing from any
//     server for half the session timeout (recipe.Guard), before the
//     server can have expired the session;
//   - the server says the leader node is gone (a watch event, a re-check
//     after a reconnect, or a Proclaim that found it missing).
//
// Resign cancels Context but does not close Lost. A lost leadership's node
// is deleted in the background if it may still exist (the session can
// survive a long disconnection), so a stale node never blocks the next
// candidate; Resign waits for that and then confirms the delete itself.
//
// A Leadership runs two goroutines (one watches its node, one its
// session); they end when it is lost (after that clean-up) or resigned,
// and Resign waits for them.
type Leadership struct {
	conn  recipes.Conn
	node  string
	token int64
	log   *slog.Logger
	guard *recipe.Guard

	ctx    context.Context
	cancel context.CancelFunc
	// stopCtx ends the background clean-up when Resign takes over.
	stopCtx    context.Context
	stopCancel context.CancelFunc

	lost     chan struct{}
	lostOnce sync.Once
	resigned atomic.Bool
	gone     atomic.Bool // the server confirmed the node is gone (or the session is)
	wg       sync.WaitGroup
}

// newLeadership starts the goroutines that watch a leader's node (ch is
// the watch GetW set on it) and its session.
func newLeadership(conn recipes.Conn, node string, token int64, ch <-chan client.Event, log *slog.Logger) *Leadership {
	l := &Leadership{conn: conn, node: node, token: token, log: log, lost: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.stopCtx, l.stopCancel = context.WithCancel(context.Background())
	l.guard = recipe.NewGuard(conn)
	states, unsubscribe := conn.Subscribe()
	l.wg.Add(2)
	go l.watchGuard()
	go l.watchNode(ch, states, unsubscribe)
	return l
}

// Lost returns a channel closed when the leadership is lost (see
// Leadership); it is never closed by Resign.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Context returns a context cancelled when the leadership is lost or
// Resign is called. Work done as leader should run under it.
func (l *Leadership) Context() context.Context { return l.ctx }

// Token returns the fencing token: the leader node's czxid. Tokens
// strictly increase from one leadership to the next on the same election
// path, so a store that remembers the highest token it accepted can
// refuse a late write from a leader that lost.
func (l *Leadership) Token() int64 { return l.token }

// Node returns the full path of the leader's candidate node.
func (l *Leadership) Node() string { return l.node }

// live reports whether the leadership is neither lost nor resigned.
func (l *Leadership) live() bool { return l.ctx.Err() == nil }

// lose closes Lost and cancels Context (unless Resign came first).
func (l *Leadership) lose() {
	if l.resigned.Load() {
		return
	}
	l.lostOnce.Do(func() { close(l.lost) })
	l.cancel()
}

func (l *Leadership) markGone()    { l.gone.Store(true) }
func (l *Leadership) isGone() bool { return l.gone.Load() }

// release is Resign's first half: cancel Context, stop the goroutines
// (ending a background clean-up) and wait for them.
func (l *Leadership) release() {
	l.resigned.Store(true)
	l.cancel()
	l.stopCancel()
	l.wg.Wait()
	l.guard.Stop()
}

// watchGuard turns the Guard's signal into a loss.
func (l *Leadership) watchGuard() {
	defer l.wg.Done()
	select {
	case <-l.guard.Lost():
		l.lose()
	case <-l.ctx.Done():
	}
}

// watchNode watches the leader node until the leadership ends: a watch
// event or a reconnect makes it read the node again from the server, and
// the node missing (or the session gone) is a loss. After a loss it
// deletes the node if it may still exist.
func (l *Leadership) watchNode(ch <-chan client.Event, states <-chan client.State, unsubscribe func()) {
	defer l.wg.Done()
	defer l.guard.Stop()
	defer unsubscribe()
	disconnected := false
	for l.ctx.Err() == nil {
		select {
		case <-ch:
			ch = nil // look again below, with a new watch
		case st, ok := <-states:
			if !ok {
				states = nil
				continue
			}
			switch st {
			case client.StateDisconnected:
				disconnected = true
				continue
			case client.StateConnected:
				if !disconnected {
					continue
				}
				disconnected = false // a reconnect: the server decides, not local state
			case client.StateExpired, client.StateClosed:
				l.markGone()
				l.lose()
				continue
			default:
				continue
			}
		case <-l.ctx.Done():
			continue
		}
		l.check(&ch)
	}
	if l.resigned.Load() || l.isGone() {
		return
	}
	// Lost while the node may still exist (the Guard fired, the session may
	// come back): delete it so it does not block the next candidate.
	ctx, cancel := context.WithTimeout(l.stopCtx, l.conn.SessionTimeout()+recipe.CleanupTimeout)
	defer cancel()
	err := recipe.DeleteNode(ctx, l.conn, l.node)
	if err == nil || sessionGone(err) {
		l.markGone()
		return
	}
	if !errors.Is(err, context.Canceled) {
		l.log.Warn("lost leader node not deleted", "path", l.node, "err", err)
	}
}

// check reads the node from the server, with a new watch if *ch is nil,
// and loses the leadership if the node or the session is gone. It returns
// when it has an answer or the Context ended.
func (l *Leadership) check(ch *<-chan client.Event) {
	for l.ctx.Err() == nil {
		var err error
		if *ch == nil {
			_, _, *ch, err = l.conn.GetW(l.ctx, l.node)
		} else {
			var ok bool
			ok, _, err = l.conn.Exists(l.ctx, l.node)
			if err == nil && !ok {
				err = tree.ErrNoNode
			}
		}
		switch {
		case err == nil:
			return
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		case errors.Is(err, tree.ErrNoNode), sessionGone(err):
			l.markGone()
			l.lose()
			return
		default:
			if l.ctx.Err() == nil {
				l.log.Warn("leader node check failed", "path", l.node, "err", err)
			}
			return // the next wake-up (event, reconnect) checks again
		}
	}
}
