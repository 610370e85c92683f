package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// Change is one change to a key, as Store.Watch and Cache report it: a new
// value, a deletion, or, with Err set, the end of the stream.
type Change struct {
	// Key is the key, relative to the store's prefix.
	Key string
	// Value is the key's raw data; nil when Deleted.
	Value []byte
	// Deleted reports that the key no longer holds a value (its znode was
	// deleted or cleared into a directory).
	Deleted bool
	// Stat is the key's Stat when it was read; zero when Deleted.
	Stat tree.Stat
	// Zxid orders the changes of one key: it grows strictly from one
	// Change of a key to the next. For a value it is Stat.Mzxid; for a
	// deletion, the delete's zxid when the server's event said it, else
	// (after a reconnect) a zxid between the last value's Mzxid and the
	// zxid of any later re-creation.
	Zxid tree.Zxid
	// Initial marks the Changes that report the state found when the
	// stream started (one per key that held a value), before any change.
	Initial bool
	// Err, when set, ends the stream: client.ErrSessionExpired,
	// client.ErrClosed, or another error the stream could not get past.
	// The other fields are then zero.
	Err error

	codec Codec
}

// Version returns the key's znode version, or -1 for a deletion.
func (c Change) Version() int32 {
	if c.Deleted {
		return -1
	}
	return c.Stat.Version
}

// Decode decodes Value into v with the store's codec. It fails with
// ErrNotFound for a deletion and ErrCodec if the codec fails.
func (c Change) Decode(v any) error {
	if c.Deleted || c.Err != nil {
		return fmt.Errorf("%w: %q", ErrNotFound, c.Key)
	}
	codec := c.codec
	if codec == nil {
		codec = JSON
	}
	return decode(codec, c.Key, c.Value, v)
}

// String returns a short description, e.g. `db/url=3 @0x100000004` or
// `db/url deleted @0x100000007`.
func (c Change) String() string {
	switch {
	case c.Err != nil:
		return "end: " + c.Err.Error()
	case c.Deleted:
		return fmt.Sprintf("%s deleted @%v", c.Key, c.Zxid)
	default:
		return fmt.Sprintf("%s=%d @%v", c.Key, c.Stat.Version, c.Zxid)
	}
}

// Watch streams the changes to key and every key below it ("" for the
// whole store): first the current value of each (Initial set), then every
// change, read back from the server. For each key the values arrive in the
// order the server applied them and never go back: a Change never carries
// an older value (smaller Mzxid) than one sent before it for that key.
// Intermediate values may be skipped when a key changes faster than it is
// read back, but the latest value is always delivered, reconnects or not;
// no value is delivered twice (Change.Zxid grows strictly per key).
//
// How: one persistent recursive watch on key's znode (Conn.AddWatch); each
// event makes the stream read the node back and send it if its Mzxid is
// newer than what it sent for that key (deletions come from the events
// themselves, sent if newer). The server re-adds the watch after a
// reconnect but does not replay what changed while the client was away,
// so after every reconnect the stream re-reads the whole subtree and sends
// what is newer, and deletions of keys it no longer finds.
//
// The channel is unbuffered; the stream waits for the receiver (the client
// queues the server's events meanwhile). When ctx ends, the watch is
// removed and the channel closed, with no final Change. When the session
// expires or the client is closed, the last Change carries Err
// (client.ErrSessionExpired or client.ErrClosed) and the channel is then
// closed. Watch itself fails only with ErrBadKey; errors while starting
// arrive as the final Change.
func (s *Store) Watch(ctx context.Context, key string) (<-chan Change, error) {
	root, err := s.subtree(key)
	if err != nil {
		return nil, err
	}
	out := make(chan Change)
	m := &mirror{s: s, root: root, known: map[string]entry{}}
	m.emit = func(c Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		if err := m.run(ctx, nil); err != nil && ctx.Err() == nil {
			m.emit(Change{Err: err})
		}
	}()
	return out, nil
}

// entry is what a mirror knows of a key.
type entry struct {
	stat tree.Stat
	data []byte // only when the mirror keeps values
}

// mirror follows the keys of one subtree: the engine of Watch and Cache.
// One goroutine runs it; it owns known.
type mirror struct {
	s     *Store
	root  string
	keep  bool              // keep values in known (Cache)
	known map[string]entry  // by znode path: keys that hold a value
	emit  func(Change) bool // false: stop (the consumer is gone)
}

// errStopped is run's way out when emit says the consumer is gone.
var errStopped = errors.New("config: stopped")

// run follows the subtree until ctx ends (nil), the consumer stops (nil),
// or the session ends (its error). ready, if not nil, is called once the
// initial state has been emitted.
func (m *mirror) run(ctx context.Context, ready func()) error {
	err := m.follow(ctx, ready)
	if errors.Is(err, errStopped) || ctx.Err() != nil {
		return nil
	}
	return err
}

func (m *mirror) follow(ctx context.Context, ready func()) error {
	conn := m.s.conn
	states, unsubscribe := conn.Subscribe()
	defer unsubscribe()
	// The first state is the current one; any later StateConnected is a
	// reconnect, after which the server re-added the watch without replaying
	// what changed meanwhile.
	select {
	case <-states:
	case <-ctx.Done():
		return ctx.Err()
	}
	w, err := m.addWatch(ctx)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), recipe.CleanupTimeout)
		defer cancel()
		_ = w.Remove(rctx)
	}()
	initial := true
	needSync := true
	for {
		if needSync {
			err := m.resync(ctx, initial)
			switch {
			case errors.Is(err, client.ErrConnectionLoss):
				continue // calls wait for the next connection
			case err != nil:
				return err
			}
			needSync = false
			if initial && ready != nil {
				ready()
			}
			initial = false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st, ok := <-states:
			if !ok {
				states = nil // closed client: the watch's end says so
				continue
			}
			if st == client.StateConnected {
				needSync = true
			}
		case ev, ok := <-w.C:
			if !ok {
				return finalErr(conn.State())
			}
			batch := []client.Event{ev}
		drain:
			for len(batch) < 1024 {
				select {
				case ev, ok := <-w.C:
					if !ok {
						break drain
					}
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			err := m.apply(ctx, batch)
			switch {
			case errors.Is(err, client.ErrWatchRemoved):
				// Someone removed this session's watches on the path:
				// set ours again and catch up.
				if w, err = m.addWatch(ctx); err != nil {
					return err
				}
				needSync = true
			case errors.Is(err, client.ErrConnectionLoss):
				needSync = true
			case err != nil:
				return err
			}
		}
	}
}

// finalErr names the end of a watch channel closed without a final event.
func finalErr(st client.State) error {
	if st == client.StateExpired {
		return client.ErrSessionExpired
	}
	return client.ErrClosed
}

// addWatch sets the persistent recursive watch, retrying after a lost
// reply (a watch set on a connection that then broke dies with it).
func (m *mirror) addWatch(ctx context.Context) (*client.Watch, error) {
	for {
		w, err := m.s.conn.AddWatch(ctx, m.root, true)
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config: watch %s: %w", m.root, err)
		}
		return w, nil
	}
}

// keyOf returns the key of path p if p may hold one: under the store's
// prefix (the prefix itself holds none).
func (m *mirror) keyOf(p string) (string, bool) { return m.s.key(p) }

// apply handles a batch of watch events in order. A delete event is sent
// as it is if it is newer than what was sent for the key; a create or data
// change newer than that is read back, and sent if what was read is newer.
// It stops at an event carrying an error (returned) or a client error.
func (m *mirror) apply(ctx context.Context, batch []client.Event) error {
	for _, ev := range batch {
		if ev.Err != nil {
			return ev.Err
		}
		key, ok := m.keyOf(ev.Path)
		if !ok {
			continue
		}
		cur, known := m.known[ev.Path]
		switch ev.Type {
		case tree.EventNodeDeleted:
			if known && cur.stat.Mzxid < ev.Zxid {
				if err := m.deleted(key, ev.Path, ev.Zxid); err != nil {
					return err
				}
			}
		case tree.EventNodeCreated, tree.EventNodeDataChanged:
			if known && cur.stat.Mzxid >= ev.Zxid {
				continue // already read at least this new
			}
			data, st, err := m.s.conn.Get(ctx, ev.Path)
			if errors.Is(err, tree.ErrNoNode) {
				// Deleted since: its delete event is already queued (the
				// client delivers events before the reply that follows),
				// or a reconnect lost it and the resync will see it.
				continue
			}
			if err != nil {
				return err
			}
			if err := m.observe(key, ev.Path, data, st, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// observe takes a value read from the server for key at p: empty data is
// no value (a directory), so a known key is then deleted as of the
// clearing's Mzxid; otherwise it is sent if newer than what was sent.
func (m *mirror) observe(key, p string, data []byte, st tree.Stat, initial bool) error {
	cur, known := m.known[p]
	if known && st.Mzxid <= cur.stat.Mzxid {
		return nil // not newer: never send it
	}
	if len(data) == 0 {
		if known {
			return m.deleted(key, p, st.Mzxid)
		}
		return nil
	}
	e := entry{stat: st}
	if m.keep {
		e.data = data
	}
	m.known[p] = e
	if !m.emit(Change{Key: key, Value: data, Stat: st, Zxid: st.Mzxid, Initial: initial, codec: m.s.codec}) {
		return errStopped
	}
	return nil
}

// deleted forgets key and sends its deletion at zxid z.
func (m *mirror) deleted(key, p string, z tree.Zxid) error {
	delete(m.known, p)
	if !m.emit(Change{Key: key, Deleted: true, Zxid: z, codec: m.s.codec}) {
		return errStopped
	}
	return nil
}

// resync reads the whole subtree and sends, key by key in key order, what
// is newer than what was sent, then the deletion of every known key the
// walk did not find.
func (m *mirror) resync(ctx context.Context, initial bool) error {
	v, err := walk(ctx, m.s.conn, m.root, true)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(v.nodes))
	for p := range v.nodes {
		if _, ok := m.keyOf(p); ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		key, _ := m.keyOf(p)
		n := v.nodes[p]
		if err := m.observe(key, p, n.data, n.stat, initial); err != nil {
			return err
		}
	}
	var gone []string
	for p := range m.known {
		if _, ok := v.nodes[p]; !ok {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	for _, p := range gone {
		z, ok := v.deletedAt(p)
		if !ok {
			continue // deleted during the walk: its event follows
		}
		key, _ := m.keyOf(p)
		if err := m.deleted(key, p, z); err != nil {
			return err
		}
	}
	return nil
}
