package client

import "fmt"

// State is the state of a Client's session and connection.
type State int32

// The states a Client goes through. Connecting and Connected alternate with
// Disconnected while the session lives; Expired and Closed are final (Closed
// follows Expired when Close is called after an expiry).
const (
	// StateConnecting: Connect has not finished its first handshake.
	StateConnecting State = 0
	// StateConnected: a server holds the session; calls are sent at once.
	StateConnected State = 1
	// StateDisconnected: the connection broke; the client is reconnecting
	// and calls wait for it.
	StateDisconnected State = 2
	// StateExpired: the session is gone; every call fails with
	// ErrSessionExpired.
	StateExpired State = 3
	// StateClosed: Close was called; every call fails with ErrClosed.
	StateClosed State = 4
)

// String returns the state's name, e.g. "connected".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateExpired:
		return "expired"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// stateBuffer is the capacity of a Subscribe channel. A subscriber that falls
// further behind loses the oldest states, never the newest.
const stateBuffer = 16

type subscriber struct {
	ch chan State
}

// State returns the client's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.state
}

// Subscribe returns a channel that receives the current state at once and
// then every state change, and a func that unsubscribes and closes the
// channel. The client never blocks on a subscriber: when the channel's
// buffer is full the oldest state is dropped, so the last value received is
// always the current state. The channel is closed after StateClosed.
func (c *Client) Subscribe() (<-chan State, func()) {
	s := &subscriber{ch: make(chan State, stateBuffer)}
	c.mu.Lock()
	s.ch <- c.mu.state
	if c.mu.state == StateClosed {
		close(s.ch)
		c.mu.Unlock()
		return s.ch, func() {}
	}
	c.mu.subs[s] = struct{}{}
	c.mu.Unlock()
	return s.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.mu.subs[s]; ok {
			delete(c.mu.subs, s)
			close(s.ch)
		}
	}
}

// setStateLocked moves to st and tells the subscribers. It never blocks.
func (c *Client) setStateLocked(st State) {
	if c.mu.state == st {
		return
	}
	c.log.Info("client state", "state", st.String(), "session", c.mu.session)
	c.mu.state = st
	for s := range c.mu.subs {
		select {
		case s.ch <- st:
		default:
			// Full: drop the oldest. Only this func sends, under c.mu,
			// so after one receive there is room.
			select {
			case <-s.ch:
			default:
			}
			select {
			case s.ch <- st:
			default:
			}
		}
		if st == StateClosed {
			close(s.ch)
			delete(c.mu.subs, s)
		}
	}
}
