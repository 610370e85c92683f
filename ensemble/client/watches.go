package client

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Event is what a watch channel receives: a change to the tree, or, with Err
// set (and Type 0), the end of the watch: ErrSessionExpired, ErrClosed or
// ErrWatchRemoved.
type Event struct {
	Type tree.EventType
	Path string
	Zxid tree.Zxid
	Err  error
}

// watchKind is a one-shot watch's kind, as the server keeps them.
type watchKind uint8

const (
	kindData  watchKind = iota // GetW, ExistsW on an existing node
	kindExist                  // ExistsW on a missing node
	kindChild                  // ChildrenW
	numOneShot
)

// watchReg says what a call registers when its reply arrives.
type watchReg struct {
	kind   watchKind
	exists bool       // ExistsW: kindData if found, kindExist on ErrNoNode
	ch     chan Event // one-shot
	w      *Watch     // AddWatch
}

// registry holds the client's watches, keyed by path as the server keeps
// them. The reader registers (on replies) and dispatches (on events) in
// arrival order.
type registry struct {
	c          *Client
	mu         sync.Mutex
	err        error // set by closeAll: nothing more registers
	oneShot    [numOneShot]map[string][]chan Event
	persistent map[string][]*Watch
	recursive  map[string][]*Watch
	live       map[*Watch]struct{} // every Watch whose pump runs
}

func (r *registry) init(c *Client) {
	r.c = c
	for k := range r.oneShot {
		r.oneShot[k] = make(map[string][]chan Event)
	}
	r.persistent = make(map[string][]*Watch)
	r.recursive = make(map[string][]*Watch)
	r.live = make(map[*Watch]struct{})
}

// registerFromReply registers cl's watch if the reply says the server set it.
func (r *registry) registerFromReply(cl *call, resp *wire.Response) {
	reg := cl.reg
	kind := reg.kind
	switch {
	case resp.Code == wire.CodeOK:
	case reg.exists && resp.Code == wire.CodeNoNode:
		kind = kindExist
	default:
		return
	}
	path := cl.req.Path
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg.w != nil {
		if r.err != nil {
			reg.w.mu.Lock()
			reg.w.mu.closed = true
			reg.w.ch <- Event{Err: r.err}
			close(reg.w.ch)
			reg.w.mu.Unlock()
			close(reg.w.done)
			return
		}
		m := r.persistent
		if reg.w.recursive {
			m = r.recursive
		}
		m[path] = append(m[path], reg.w)
		r.live[reg.w] = struct{}{}
		r.c.wg.Add(1)
		go reg.w.pump()
		return
	}
	if r.err != nil {
		reg.ch <- Event{Err: r.err}
		close(reg.ch)
		return
	}
	r.oneShot[kind][path] = append(r.oneShot[kind][path], reg.ch)
}

// fireLocked delivers ev to, and removes, every one-shot watch of kind on path.
func (r *registry) fireLocked(kind watchKind, path string, ev Event) {
	chs, ok := r.oneShot[kind][path]
	if !ok {
		return
	}
	delete(r.oneShot[kind], path)
	for _, ch := range chs {
		ch <- ev // never blocks: cap 1, one send per channel
		close(ch)
	}
}

// dispatch hands a server event to every local watch it matches, with
// ZooKeeper's rules: created and data-changed fire data and exist watches;
// deleted fires data, exist and child watches; children-changed fires child
// watches; a persistent watch on the path gets every event there; a
// recursive one gets every event but children-changed on its path and below.
func (r *registry) dispatch(e *tree.Event) {
	ev := Event{Type: e.Type, Path: e.Path, Zxid: e.Zxid}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Type {
	case tree.EventNodeCreated, tree.EventNodeDataChanged:
		r.fireLocked(kindData, e.Path, ev)
		r.fireLocked(kindExist, e.Path, ev)
	case tree.EventNodeDeleted:
		r.fireLocked(kindData, e.Path, ev)
		r.fireLocked(kindExist, e.Path, ev)
		r.fireLocked(kindChild, e.Path, ev)
	case tree.EventNodeChildrenChanged:
		r.fireLocked(kindChild, e.Path, ev)
	}
	for _, w := range r.persistent[e.Path] {
		w.push(ev)
	}
	if e.Type == tree.EventNodeChildrenChanged || len(r.recursive) == 0 {
		return
	}
	for p := e.Path; ; p = parentPath(p) {
		for _, w := range r.recursive[p] {
			w.push(ev)
		}
		if p == "/" || p == "" {
			return
		}
	}
}

// parentPath returns the parent of an absolute path ("/" for "/a").
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// removeLocal drops the local watches a successful RemoveWatches removed on
// the server; each channel gets Event{Err: ErrWatchRemoved} and closes.
func (r *registry) removeLocal(path string, t wire.WatchType) {
	ev := Event{Err: ErrWatchRemoved}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t == wire.WatchTypeData || t == wire.WatchTypeAny {
		r.fireLocked(kindData, path, ev)
		r.fireLocked(kindExist, path, ev)
	}
	if t == wire.WatchTypeChildren || t == wire.WatchTypeAny {
		r.fireLocked(kindChild, path, ev)
	}
	var maps []map[string][]*Watch
	switch t {
	case wire.WatchTypeAny:
		maps = []map[string][]*Watch{r.persistent, r.recursive}
	case wire.WatchTypePersistent:
		maps = []map[string][]*Watch{r.persistent}
	case wire.WatchTypePersistentRecursive:
		maps = []map[string][]*Watch{r.recursive}
	}
	for _, m := range maps {
		for _, w := range m[path] {
			w.finish(ErrWatchRemoved)
		}
		delete(m, path)
	}
}

// unregister removes w from the registry. It reports whether w was there,
// and whether another watch of the same kind (persistent or recursive)
// remains on w's path (so that the server's watch must stay).
func (r *registry) unregister(w *Watch) (found, others bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.persistent
	if w.recursive {
		m = r.recursive
	}
	ws := m[w.path]
	if i := slices.Index(ws, w); i >= 0 {
		found = true
		ws = slices.Delete(ws, i, i+1)
		if len(ws) == 0 {
			delete(m, w.path)
		} else {
			m[w.path] = ws
		}
	}
	others = len(m[w.path]) > 0
	for k := range r.oneShot {
		others = others || len(r.oneShot[k][w.path]) > 0
	}
	return found, others
}

// setWatchesCalls returns the OpSetWatches calls that re-register every
// local watch on a new connection, split so that no frame comes near
// maxFrame. The server fires at once every watch whose node changed after
// rel.
func (r *registry) setWatchesCalls(rel tree.Zxid, maxFrame int, log *slog.Logger) []*call {
	r.mu.Lock()
	lists := [5][]string{
		slices.Sorted(maps.Keys(r.oneShot[kindData])),
		slices.Sorted(maps.Keys(r.oneShot[kindExist])),
		slices.Sorted(maps.Keys(r.oneShot[kindChild])),
		slices.Sorted(maps.Keys(r.persistent)),
		slices.Sorted(maps.Keys(r.recursive)),
	}
	r.mu.Unlock()
	budget := max(maxFrame/2, 1024)
	var calls []*call
	var ws *wire.WatchSet
	size := 0
	for i, paths := range lists {
		for _, p := range paths {
			if ws == nil || size+len(p)+8 > budget {
				cl := newCall(wire.OpSetWatches, "")
				cl.req.RelZxid = rel
				ws = new(wire.WatchSet)
				cl.req.Watches = ws
				cl.after = func(_ *wire.Response, err error) {
					if err != nil {
						log.Warn("set watches failed", "zxid", rel, "err", err)
					}
				}
				calls = append(calls, cl)
				size = 0
			}
			size += len(p) + 8
			switch i {
			case 0:
				ws.Data = append(ws.Data, p)
			case 1:
				ws.Exist = append(ws.Exist, p)
			case 2:
				ws.Child = append(ws.Child, p)
			case 3:
				ws.Persistent = append(ws.Persistent, p)
			case 4:
				ws.PersistentRecursive = append(ws.PersistentRecursive, p)
			}
		}
	}
	return calls
}

// closeAll ends every watch with err: one-shot channels get Event{Err: err}
// and close. Persistent watches get it after what is queued (drain) or, when
// force is set, their pumps stop at once and C gets it only if there is room.
func (r *registry) closeAll(err error, force bool) {
	ev := Event{Err: err}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil || force {
		r.err = err
	}
	for k := range r.oneShot {
		for p := range r.oneShot[k] {
			r.fireLocked(watchKind(k), p, ev)
		}
	}
	clear(r.persistent)
	clear(r.recursive)
	for w := range r.live {
		if force {
			w.kill(&ev)
		} else {
			w.finish(err)
		}
	}
}

func (r *registry) removeLive(w *Watch) {
	r.mu.Lock()
	delete(r.live, w)
	r.mu.Unlock()
}

// persistentBuffer is the capacity of a persistent Watch's C. Events beyond
// it wait in an unbounded queue inside the Watch.
const persistentBuffer = 64

// Watch is a persistent watch set by AddWatch. C receives every matching
// event, in order, until Remove, Close or session expiry; it is closed after
// the last. The client never blocks on C: events the receiver has not taken
// wait in an unbounded queue.
type Watch struct {
	// C delivers the events. After a session expiry it gets
	// Event{Err: ErrSessionExpired} after the queued events, and after a
	// RemoveWatches that removed the watch, Event{Err: ErrWatchRemoved};
	// then it is closed. Remove and Close close it at once (Close first
	// puts Event{Err: ErrClosed} in it if its buffer has room); events
	// queued but not yet in C are dropped.
	C <-chan Event

	c         *Client
	path      string
	recursive bool
	ch        chan Event
	wake      chan struct{} // cap 1
	stop      chan struct{} // closed by kill
	stopOnce  sync.Once
	done      chan struct{} // closed when the pump has returned

	mu struct {
		sync.Mutex
		q         []Event
		sending   bool   // the pump is sending q's former head
		finishing bool   // close C once q is delivered
		closed    bool   // C is closed
		final     *Event // kill: offered to C before it closes
	}
}

func newWatch(c *Client, path string, recursive bool) *Watch {
	w := &Watch{
		c:         c,
		path:      path,
		recursive: recursive,
		ch:        make(chan Event, persistentBuffer),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	w.C = w.ch
	return w
}

// Path returns the watched path.
func (w *Watch) Path() string { return w.path }

// Recursive reports whether the watch covers the path's descendants too.
func (w *Watch) Recursive() bool { return w.recursive }

// push queues ev. When nothing is queued or being sent it goes straight
// into C, so that, unless the receiver lags, an event is in C before the
// reply that follows it is returned.
func (w *Watch) push(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed || w.mu.finishing {
		return
	}
	if len(w.mu.q) == 0 && !w.mu.sending {
		select {
		case w.ch <- ev:
			return
		default:
		}
	}
	w.mu.q = append(w.mu.q, ev)
	w.signal()
}

func (w *Watch) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// finish queues Event{Err: err} as the last event; C closes after it.
func (w *Watch) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.closed || w.mu.finishing {
		return
	}
	w.mu.q = append(w.mu.q, Event{Err: err})
	w.mu.finishing = true
	w.signal()
}

// kill stops the pump at once; final, if not nil, is offered to C before it
// closes.
func (w *Watch) kill(final *Event) {
	w.mu.Lock()
	w.mu.final = final
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stop) })
}

// pump moves queued events into C. It owns C's closing.
func (w *Watch) pump() {
	defer w.c.wg.Done()
	defer close(w.done)
	defer w.c.watches.removeLive(w)
	for {
		w.mu.Lock()
		select {
		case <-w.stop:
			if !w.mu.closed {
				if w.mu.final != nil {
					select {
					case w.ch <- *w.mu.final:
					default:
					}
				}
				w.mu.closed = true
				w.mu.q = nil
				close(w.ch)
			}
			w.mu.Unlock()
			return
		default:
		}
		if len(w.mu.q) == 0 {
			if w.mu.finishing {
				w.mu.closed = true
				close(w.ch)
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			select {
			case <-w.wake:
			case <-w.stop:
			}
			continue
		}
		ev := w.mu.q[0]
		w.mu.q[0] = Event{}
		w.mu.q = w.mu.q[1:]
		if len(w.mu.q) == 0 {
			w.mu.q = nil // let a burst's backing array go
		}
		w.mu.sending = true
		w.mu.Unlock()
		select {
		case w.ch <- ev:
		case <-w.stop:
		}
		w.mu.Lock()
		w.mu.sending = false
		w.mu.Unlock()
	}
}

// Remove ends the watch: C is closed at once (events not yet in C are
// dropped; those in its buffer can still be received)
// and, unless another watch of this client of the same kind (persistent or
// recursive) remains on the same path, the server is asked to remove that
// kind of watch on the path (WatchTypePersistent or
// WatchTypePersistentRecursive), leaving one-shot watches there alone. It
// returns ctx.Err() if ctx ends first, or the server's error; removing a
// watch that is already gone, or after Close or expiry, returns nil.
func (w *Watch) Remove(ctx context.Context) error {
	found, others := w.c.watches.unregister(w)
	w.kill(nil)
	<-w.done
	if !found || others {
		return nil
	}
	cl := newCall(wire.OpRemoveWatches, w.path)
	cl.req.WatchType = wire.WatchTypePersistent
	if w.recursive {
		cl.req.WatchType = wire.WatchTypePersistentRecursive
	}
	err := w.c.do(ctx, cl)
	if errors.Is(err, ErrNoWatcher) || errors.Is(err, ErrClosed) || errors.Is(err, ErrSessionExpired) {
		return nil
	}
	return err
}
