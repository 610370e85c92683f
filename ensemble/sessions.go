package ensemble

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/tree"
)

// session is the tracker's view of one live session: when it expires and
// which connection, if any, it is attached to.
type session struct {
	id      tree.SessionID
	timeout time.Duration
	// deadline is when the session expires unless touched, on the tracker's
	// clock (time since the server started).
	deadline atomic.Int64
	// closing is set once a TxnCloseSession has been proposed for it (expiry
	// or an OpCloseSession); it never resets.
	closing atomic.Bool
	// conn is the attached connection; guarded by sessionTracker.mu.
	conn *conn
	// fresh is set by touch and cleared when a follower reports the
	// session alive to its leader.
	fresh atomic.Bool
}

// touch pushes s's deadline to now+timeout: any request or ping calls it.
func (s *session) touch(now time.Duration) {
	s.deadline.Store(int64(now + s.timeout))
	if !s.fresh.Load() {
		s.fresh.Store(true)
	}
}

// sessionTracker decides expiry. It lives on the peer that orders writes
// (the leader; the standalone peer) and knows nothing of clocks: callers pass
// now, so tests drive it directly.
type sessionTracker struct {
	mu       sync.Mutex
	sessions map[tree.SessionID]*session
}

func newSessionTracker() *sessionTracker {
	return &sessionTracker{sessions: make(map[tree.SessionID]*session)}
}

// add starts tracking id with a full timeout from now and returns it. Adding
// an id already tracked returns the existing session, touched.
func (t *sessionTracker) add(id tree.SessionID, timeout time.Duration, now time.Duration) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.sessions[id]; ok {
		s.touch(now)
		return s
	}
	s := &session{id: id, timeout: timeout}
	s.touch(now)
	t.sessions[id] = s
	return s
}

// reset forgets every session (a new tree replaces the old one); attached
// connections are closed by the caller beforehand.
func (t *sessionTracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.sessions)
}

// get returns the tracked session id, or nil.
func (t *sessionTracker) get(id tree.SessionID) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions[id]
}

// remove stops tracking id and returns the connection it was attached to
// (nil if none).
func (t *sessionTracker) remove(id tree.SessionID) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sessions[id]
	if !ok {
		return nil
	}
	delete(t.sessions, id)
	c := s.conn
	s.conn = nil
	s.closing.Store(true)
	return c
}

// attach makes c the connection of session id and touches it. It returns
// the connection c replaces (to be closed by the caller; nil if none), and
// ok=false when id is not tracked or is closing: the session has expired.
func (t *sessionTracker) attach(id tree.SessionID, c *conn, now time.Duration) (s *session, prev *conn, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s = t.sessions[id]
	if s == nil || s.closing.Load() {
		return nil, nil, false
	}
	prev = s.conn
	if prev == c {
		prev = nil
	}
	s.conn = c
	s.touch(now)
	return s, prev, true
}

// detach forgets c as the connection of s, unless another connection has
// taken its place.
func (t *sessionTracker) detach(s *session, c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.conn == c {
		s.conn = nil
	}
}

// expire marks closing and returns, sorted by id, every session whose
// deadline is at or before now and that is not closing already. The caller
// proposes a TxnCloseSession for each.
func (t *sessionTracker) expire(now time.Duration) []tree.SessionID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []tree.SessionID
	for id, s := range t.sessions {
		if s.closing.Load() || time.Duration(s.deadline.Load()) > now {
			continue
		}
		s.closing.Store(true)
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// markClosing marks s closing and reports whether this call did it (false
// when it was closing already).
func (t *sessionTracker) markClosing(id tree.SessionID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[id]
	if s == nil {
		return false
	}
	return s.closing.CompareAndSwap(false, true)
}

// takeFresh returns the sessions touched since the last call (a follower
// reports them to its leader, which decides expiry).
func (t *sessionTracker) takeFresh() []tree.SessionID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []tree.SessionID
	for id, s := range t.sessions {
		if s.fresh.Swap(false) {
			ids = append(ids, id)
		}
	}
	return ids
}

// touchIDs touches every tracked session in ids (a follower's report).
func (t *sessionTracker) touchIDs(ids []tree.SessionID, now time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if s := t.sessions[id]; s != nil {
			s.touch(now)
		}
	}
}

// refreshAll gives every session a full timeout from now: a new leader
// does not know when the others last heard from a session, so it starts
// every clock afresh, as ZooKeeper does.
func (t *sessionTracker) refreshAll(now time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.sessions {
		s.deadline.Store(int64(now + s.timeout))
	}
}

// count returns the number of tracked sessions.
func (t *sessionTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}
