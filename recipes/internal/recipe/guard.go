package recipe

import (
	"sync"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
)

// LostFraction is the part of the session timeout a disconnected client
// may go without hearing from any server before a Guard reports the
// session lost: the server expires it only after a full timeout, so the
// holder is told with half a timeout to spare.
const LostFraction = 0.5

// Guard watches a Conn's session for one holder and closes Lost at the
// first sign that what the holder owns can no longer be trusted: the
// session expired or the client closed, or the client is disconnected and
// has heard nothing from any server for LostFraction of the session
// timeout. A reconnect before that cancels the alarm. Stop it when the
// holder lets go.
type Guard struct {
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewGuard starts a Guard on c. If the session is already gone, Lost is
// closed at once.
func NewGuard(c recipes.Conn) *Guard {
	g := &Guard{lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	states, unsubscribe := c.Subscribe()
	go g.run(c, states, unsubscribe)
	return g
}

// Lost is closed when the session is lost (see Guard).
func (g *Guard) Lost() <-chan struct{} { return g.lost }

// IsLost reports whether Lost is closed.
func (g *Guard) IsLost() bool {
	select {
	case <-g.lost:
		return true
	default:
		return false
	}
}

// MarkLost closes Lost (for a holder that learned of the loss from the
// server itself, e.g. its node is gone).
func (g *Guard) MarkLost() { g.lostOnce.Do(func() { close(g.lost) }) }

// Stop ends the Guard and waits for its goroutine. Lost stays as it is.
// Calling it again does nothing.
func (g *Guard) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
}

func (g *Guard) run(c recipes.Conn, states <-chan client.State, unsubscribe func()) {
	defer close(g.done)
	defer unsubscribe()
	var alarm <-chan time.Time
	var timer *time.Timer
	disarm := func() {
		if timer != nil {
			timer.Stop()
			timer, alarm = nil, nil
		}
	}
	defer disarm()
	limit := func() time.Duration {
		return time.Duration(float64(c.SessionTimeout()) * LostFraction)
	}
	for {
		select {
		case <-g.stop:
			return
		case st, ok := <-states:
			if !ok {
				g.MarkLost()
				return
			}
			switch st {
			case client.StateExpired, client.StateClosed:
				g.MarkLost()
				return
			case client.StateDisconnected:
				if timer == nil {
					timer = time.NewTimer(max(limit()-time.Since(c.LastHeard()), 0))
					alarm = timer.C
				}
			case client.StateConnected:
				disarm()
			}
		case <-alarm:
			timer, alarm = nil, nil
			if c.State() == client.StateConnected {
				continue
			}
			if wait := limit() - time.Since(c.LastHeard()); wait > 0 {
				timer = time.NewTimer(wait)
				alarm = timer.C
				continue
			}
			g.MarkLost()
			return
		}
	}
}
