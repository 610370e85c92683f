package tree

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
)

// WatcherID identifies who is watching (a client connection or session,
// as the caller chooses).
type WatcherID uint64

// WatchKind is the kind of a watch.
type WatchKind uint8

// The watch kinds. Data, exist and child watches are one-shot: they are
// removed when they fire. Persistent and persistent-recursive watches stay
// until removed (ZooKeeper 3.6 addWatch).
const (
	// WatchData is set by getData: NodeDataChanged or NodeDeleted on the path.
	WatchData WatchKind = 1
	// WatchExist is set by exists: NodeCreated, NodeDataChanged or NodeDeleted on the path.
	WatchExist WatchKind = 2
	// WatchChild is set by getChildren: NodeChildrenChanged or NodeDeleted on the path.
	WatchChild WatchKind = 3
	// WatchPersistent gets every event on the path, NodeChildrenChanged included.
	WatchPersistent WatchKind = 4
	// WatchPersistentRecursive gets NodeCreated, NodeDeleted and
	// NodeDataChanged on the path and every path below it, never
	// NodeChildrenChanged.
	WatchPersistentRecursive WatchKind = 5

	maxWatchKind = WatchPersistentRecursive
)

// String returns the kind's name.
func (k WatchKind) String() string {
	switch k {
	case WatchData:
		return "data"
	case WatchExist:
		return "exist"
	case WatchChild:
		return "child"
	case WatchPersistent:
		return "persistent"
	case WatchPersistentRecursive:
		return "persistentRecursive"
	}
	return fmt.Sprintf("WatchKind(%d)", uint8(k))
}

// watchMask is a set of kinds: bit k for kind k.
type watchMask uint8

func maskOf(k WatchKind) watchMask { return 1 << k }

const (
	oneShot   = 1<<WatchData | 1<<WatchExist | 1<<WatchChild
	recursive = 1 << WatchPersistentRecursive
	allKinds  = oneShot | 1<<WatchPersistent | recursive
)

// firesAt returns the kinds registered on an event's own path that it fires.
func firesAt(t EventType) watchMask {
	switch t {
	case EventNodeCreated:
		// A data watch cannot be set on a missing node through getData, but
		// ZooKeeper keeps data and exist watches in one table: both fire.
		return 1<<WatchData | 1<<WatchExist | 1<<WatchPersistent | recursive
	case EventNodeDataChanged:
		return 1<<WatchData | 1<<WatchExist | 1<<WatchPersistent | recursive
	case EventNodeDeleted:
		return 1<<WatchData | 1<<WatchExist | 1<<WatchChild | 1<<WatchPersistent | recursive
	case EventNodeChildrenChanged:
		return 1<<WatchChild | 1<<WatchPersistent
	}
	return 0
}

// Watches is the table of watches one peer holds for its clients (watches
// are not replicated). It is not safe for concurrent use: the caller
// serializes every method, typically under the lock it applies under.
type Watches struct {
	byPath    map[string]map[WatcherID]watchMask
	byWatcher map[WatcherID]map[string]watchMask
	count     int // registered (path, kind, watcher) triples
	recursive int // registered recursive watches: 0 skips the ancestor walk
	fired     []WatcherID
}

// NewWatches returns an empty table.
func NewWatches() *Watches {
	return &Watches{
		byPath:    map[string]map[WatcherID]watchMask{},
		byWatcher: map[WatcherID]map[string]watchMask{},
	}
}

// Add registers a watch of kind on path for id. Adding a watch that is
// already there changes nothing. Kinds outside the defined ones are ignored.
func (w *Watches) Add(path string, kind WatchKind, id WatcherID) {
	if kind < WatchData || kind > maxWatchKind {
		return
	}
	m := maskOf(kind)
	ws := w.byPath[path]
	if ws == nil {
		ws = map[WatcherID]watchMask{}
		w.byPath[path] = ws
	}
	old := ws[id]
	if old&m != 0 {
		return
	}
	ws[id] = old | m
	ps := w.byWatcher[id]
	if ps == nil {
		ps = map[string]watchMask{}
		w.byWatcher[id] = ps
	}
	ps[path] = old | m
	w.count++
	if kind == WatchPersistentRecursive {
		w.recursive++
	}
}

// Remove removes id's watches of the given kinds on path (every kind when
// kinds is empty) and reports whether it removed any.
func (w *Watches) Remove(path string, kinds []WatchKind, id WatcherID) bool {
	m := watchMask(allKinds)
	if len(kinds) > 0 {
		m = 0
		for _, k := range kinds {
			if k >= WatchData && k <= maxWatchKind {
				m |= maskOf(k)
			}
		}
	}
	return w.clear(path, id, m) != 0
}

// clear removes the kinds in m from id's watches on path and returns the
// kinds it removed.
func (w *Watches) clear(path string, id WatcherID, m watchMask) watchMask {
	ws := w.byPath[path]
	old := ws[id]
	gone := old & m
	if gone == 0 {
		return 0
	}
	left := old &^ m
	ps := w.byWatcher[id]
	if left == 0 {
		delete(ws, id)
		if len(ws) == 0 {
			delete(w.byPath, path)
		}
		delete(ps, path)
		if len(ps) == 0 {
			delete(w.byWatcher, id)
		}
	} else {
		ws[id] = left
		ps[path] = left
	}
	w.count -= bits.OnesCount8(uint8(gone))
	if gone&recursive != 0 {
		w.recursive--
	}
	return gone
}

// RemoveWatcher removes every watch of id.
func (w *Watches) RemoveWatcher(id WatcherID) {
	for path, m := range w.byWatcher[id] {
		w.clear(path, id, m)
	}
}

// Trigger calls deliver once for each watcher that ev fires (never twice
// for one event, however many of its watches match), removing the one-shot
// watches that fired. Which watches fire follows ZooKeeper 3.6: see the
// WatchKind constants. deliver must not call w's methods.
func (w *Watches) Trigger(ev Event, deliver func(id WatcherID, ev Event)) {
	at := firesAt(ev.Type)
	if at == 0 {
		return
	}
	fired := w.fired[:0]
	for id, m := range w.byPath[ev.Path] {
		hit := m & at
		if hit == 0 {
			continue
		}
		fired = append(fired, id)
		if hit&oneShot != 0 {
			w.clear(ev.Path, id, hit&oneShot)
		}
	}
	if w.recursive > 0 && at&recursive != 0 && ev.Path != "/" && strings.HasPrefix(ev.Path, "/") {
		direct := len(fired)
		var seen map[WatcherID]struct{}
		if direct > 8 {
			seen = make(map[WatcherID]struct{}, direct)
			for _, id := range fired {
				seen[id] = struct{}{}
			}
		}
		for p := ev.Path; p != "/"; {
			p, _ = splitPath(p)
			for id, m := range w.byPath[p] {
				if m&recursive == 0 {
					continue
				}
				if seen != nil {
					if _, ok := seen[id]; ok {
						continue
					}
				} else if slices.Contains(fired[:direct], id) {
					continue
				}
				fired = append(fired, id)
			}
		}
		if len(fired)-direct > 1 {
			// A watcher may have recursive watches on several ancestors.
			tail := fired[direct:]
			slices.Sort(tail)
			fired = fired[:direct+len(slices.Compact(tail))]
		}
	}
	for _, id := range fired {
		deliver(id, ev)
	}
	clear(fired)
	w.fired = fired[:0]
}

// Count returns the number of registered watches, counting each (path,
// kind, watcher) once.
func (w *Watches) Count() int { return w.count }

// Of returns id's watches: for each kind, the sorted paths it watches.
func (w *Watches) Of(id WatcherID) map[WatchKind][]string {
	out := map[WatchKind][]string{}
	for path, m := range w.byWatcher[id] {
		for k := WatchData; k <= maxWatchKind; k++ {
			if m&maskOf(k) != 0 {
				out[k] = append(out[k], path)
			}
		}
	}
	for k := range maps.Keys(out) {
		slices.Sort(out[k])
	}
	return out
}
