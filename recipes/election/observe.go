package election

import (
	"context"
	"errors"

	"github.com/zabkit/zabkit/ensemble/client"
)

// Observe streams the election's leader as it changes: first the current
// state, then every change, each a Leader; the zero Leader (None) means no
// candidate stands. A change is a new leader, the same leader's new value
// (Proclaim), or no leader. Repeats are not sent, and a leader older than
// one already sent (a lower Token, or the same Token with a lower
// Version) never is; intermediate states may be skipped when they change
// faster than they are read, but the last one sent is the server's latest
// once things settle. The channel is unbuffered; Observe reads the server
// again after each send, so a slow reader never gets a stale backlog.
//
// The channel is closed when ctx ends or the session is gone (expired or
// the client closed). Observe starts one goroutine, owned by ctx: cancel
// ctx and drain the channel until it is closed to wait for it. A bad path
// gives a closed channel at once.
//
// An observer watches the leader node (or, with no leader, the election
// path's children), so every observer wakes when the leader changes: that
// is inherent to observing a leader.
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	out := make(chan Leader)
	if e.err != nil {
		close(out)
		return out
	}
	go e.observe(ctx, out)
	return out
}

func (e *Election) observe(ctx context.Context, out chan<- Leader) {
	defer close(out)
	states, unsubscribe := e.conn.Subscribe()
	defer unsubscribe()
	var (
		sent        bool  // something was sent
		lastNone    bool  // the last sent was "no leader"
		lastToken   int64 // the newest leader sent
		lastVersion int32
	)
	for {
		ld, ch, err := e.readLeader(ctx, true, false)
		if err != nil {
			if errors.Is(err, client.ErrConnectionLoss) {
				continue
			}
			return // ctx ended, the session is gone, or a server error
		}
		var send bool
		switch {
		case ld.None():
			send = !sent || !lastNone
		case !sent || lastNone:
			// after "no leader", only a newer leader can come
			send = ld.Token > lastToken
		default:
			send = ld.Token > lastToken || (ld.Token == lastToken && ld.Version > lastVersion)
		}
		if send {
			select {
			case out <- ld:
			case <-ctx.Done():
				return
			}
			sent, lastNone = true, ld.None()
			if !ld.None() {
				lastToken, lastVersion = ld.Token, ld.Version
			}
		}
		select {
		case ev := <-ch:
			if errors.Is(ev.Err, client.ErrSessionExpired) || errors.Is(ev.Err, client.ErrClosed) {
				return
			}
		case st, ok := <-states:
			if !ok {
				return
			}
			if st == client.StateExpired || st == client.StateClosed {
				return
			}
			// a reconnect or a disconnect: read again
		case <-ctx.Done():
			return
		}
	}
}
