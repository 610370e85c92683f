package tree

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type watchReg struct {
	path string
	kind WatchKind
	id   WatcherID
}

// fire triggers ev and returns the sorted ids delivered, failing on a
// watcher delivered twice.
func fire(t *testing.T, w *Watches, ev Event) []WatcherID {
	t.Helper()
	var got []WatcherID
	w.Trigger(ev, func(id WatcherID, e Event) {
		assert.Equal(t, ev, e)
		assert.NotContains(t, got, id, "delivered twice")
		got = append(got, id)
	})
	slices.Sort(got)
	return got
}

func TestWatchTrigger(t *testing.T) {
	tests := []struct {
		name string
		regs []watchReg
		ev   Event
		want []WatcherID
		left int // watches left afterwards
	}{
		{"data on created", []watchReg{{"/a", WatchData, 1}}, Event{Type: EventNodeCreated, Path: "/a"}, []WatcherID{1}, 0},
		{"exist on created", []watchReg{{"/a", WatchExist, 1}}, Event{Type: EventNodeCreated, Path: "/a"}, []WatcherID{1}, 0},
		{"child not on created", []watchReg{{"/a", WatchChild, 1}}, Event{Type: EventNodeCreated, Path: "/a"}, nil, 1},
		{"data on changed", []watchReg{{"/a", WatchData, 1}, {"/a", WatchExist, 2}}, Event{Type: EventNodeDataChanged, Path: "/a"}, []WatcherID{1, 2}, 0},
		{"child not on changed", []watchReg{{"/a", WatchChild, 1}}, Event{Type: EventNodeDataChanged, Path: "/a"}, nil, 1},
		{"all on deleted", []watchReg{{"/a", WatchData, 1}, {"/a", WatchExist, 2}, {"/a", WatchChild, 3}}, Event{Type: EventNodeDeleted, Path: "/a"}, []WatcherID{1, 2, 3}, 0},
		{"deleted once per watcher", []watchReg{{"/a", WatchData, 1}, {"/a", WatchChild, 1}, {"/a", WatchExist, 1}}, Event{Type: EventNodeDeleted, Path: "/a"}, []WatcherID{1}, 0},
		{"children changed: child only", []watchReg{{"/a", WatchChild, 1}, {"/a", WatchData, 2}, {"/a", WatchExist, 3}}, Event{Type: EventNodeChildrenChanged, Path: "/a"}, []WatcherID{1}, 2},
		{"other path", []watchReg{{"/a", WatchData, 1}, {"/a/b", WatchData, 2}, {"/", WatchData, 3}}, Event{Type: EventNodeDataChanged, Path: "/ab"}, nil, 3},
		{"one-shot on parent not fired", []watchReg{{"/a", WatchData, 1}, {"/a", WatchExist, 1}}, Event{Type: EventNodeCreated, Path: "/a/b"}, nil, 2},

		{"persistent created", []watchReg{{"/a", WatchPersistent, 1}}, Event{Type: EventNodeCreated, Path: "/a"}, []WatcherID{1}, 1},
		{"persistent changed", []watchReg{{"/a", WatchPersistent, 1}}, Event{Type: EventNodeDataChanged, Path: "/a"}, []WatcherID{1}, 1},
		{"persistent deleted stays", []watchReg{{"/a", WatchPersistent, 1}}, Event{Type: EventNodeDeleted, Path: "/a"}, []WatcherID{1}, 1},
		{"persistent children", []watchReg{{"/a", WatchPersistent, 1}}, Event{Type: EventNodeChildrenChanged, Path: "/a"}, []WatcherID{1}, 1},
		{"persistent not below", []watchReg{{"/a", WatchPersistent, 1}}, Event{Type: EventNodeCreated, Path: "/a/b"}, nil, 1},
		{"persistent and one-shot: one delivery, one-shot gone", []watchReg{{"/a", WatchPersistent, 1}, {"/a", WatchData, 1}}, Event{Type: EventNodeDataChanged, Path: "/a"}, []WatcherID{1}, 1},

		{"recursive on itself", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeCreated, Path: "/a"}, []WatcherID{1}, 1},
		{"recursive below", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeDataChanged, Path: "/a/b/c"}, []WatcherID{1}, 1},
		{"recursive deleted below", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeDeleted, Path: "/a/b"}, []WatcherID{1}, 1},
		{"recursive from root", []watchReg{{"/", WatchPersistentRecursive, 1}}, Event{Type: EventNodeCreated, Path: "/x/y"}, []WatcherID{1}, 1},
		{"recursive never children changed", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeChildrenChanged, Path: "/a"}, nil, 1},
		{"recursive never children changed below", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeChildrenChanged, Path: "/a/b"}, nil, 1},
		{"recursive not a sibling prefix", []watchReg{{"/a", WatchPersistentRecursive, 1}}, Event{Type: EventNodeCreated, Path: "/ab"}, nil, 1},
		{"recursive on root for root", []watchReg{{"/", WatchPersistentRecursive, 1}}, Event{Type: EventNodeDataChanged, Path: "/"}, []WatcherID{1}, 1},
		{"recursive on several ancestors once", []watchReg{{"/", WatchPersistentRecursive, 1}, {"/a", WatchPersistentRecursive, 1}, {"/a/b", WatchPersistentRecursive, 1}},
			Event{Type: EventNodeCreated, Path: "/a/b/c"}, []WatcherID{1}, 3},
		{"recursive and data on the path once", []watchReg{{"/a", WatchPersistentRecursive, 1}, {"/a/b", WatchData, 1}, {"/a/b", WatchExist, 2}},
			Event{Type: EventNodeDeleted, Path: "/a/b"}, []WatcherID{1, 2}, 1},
		{"mixed watchers", []watchReg{{"/a", WatchPersistentRecursive, 1}, {"/a/b", WatchPersistent, 2}, {"/a/b", WatchChild, 3}, {"/a", WatchChild, 4}},
			Event{Type: EventNodeChildrenChanged, Path: "/a/b"}, []WatcherID{2, 3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatches()
			for _, r := range tt.regs {
				w.Add(r.path, r.kind, r.id)
			}
			assert.Equal(t, len(tt.regs), w.Count())
			assert.Equal(t, tt.want, fire(t, w, tt.ev))
			assert.Equal(t, tt.left, w.Count())
		})
	}
}

func TestWatchManyDedupe(t *testing.T) {
	w := NewWatches()
	for id := WatcherID(1); id <= 50; id++ {
		w.Add("/a/b", WatchData, id)
		w.Add("/a", WatchPersistentRecursive, id)
		w.Add("/", WatchPersistentRecursive, id+25)
	}
	got := fire(t, w, Event{Type: EventNodeDataChanged, Path: "/a/b"})
	require.Len(t, got, 75)
	assert.Equal(t, WatcherID(1), got[0])
	assert.Equal(t, WatcherID(75), got[74])
	assert.Equal(t, 100, w.Count())
}

func TestWatchAddRemove(t *testing.T) {
	w := NewWatches()
	w.Add("/a", WatchData, 1)
	w.Add("/a", WatchData, 1) // no-op
	w.Add("/a", WatchChild, 1)
	w.Add("/b", WatchPersistentRecursive, 1)
	w.Add("/a", WatchExist, 2)
	w.Add("/a", 0, 2)  // ignored
	w.Add("/a", 17, 2) // ignored
	assert.Equal(t, 4, w.Count())
	assert.Equal(t, map[WatchKind][]string{WatchData: {"/a"}, WatchChild: {"/a"}, WatchPersistentRecursive: {"/b"}}, w.Of(1))
	assert.Equal(t, map[WatchKind][]string{WatchExist: {"/a"}}, w.Of(2))
	assert.Empty(t, w.Of(3))

	assert.False(t, w.Remove("/a", []WatchKind{WatchExist}, 1))
	assert.True(t, w.Remove("/a", []WatchKind{WatchData, WatchExist}, 1))
	assert.Equal(t, map[WatchKind][]string{WatchChild: {"/a"}, WatchPersistentRecursive: {"/b"}}, w.Of(1))
	assert.Equal(t, 3, w.Count())
	assert.True(t, w.Remove("/b", nil, 1))
	assert.Equal(t, 0, w.recursive)
	assert.Equal(t, []WatcherID{2}, fire(t, w, Event{Type: EventNodeCreated, Path: "/a"}))

	w.Add("/x", WatchPersistent, 1)
	w.Add("/y", WatchPersistentRecursive, 1)
	w.RemoveWatcher(1)
	assert.Equal(t, 0, w.Count())
	assert.Empty(t, w.byPath)
	assert.Empty(t, w.byWatcher)
	assert.Equal(t, 0, w.recursive)
	assert.Nil(t, fire(t, w, Event{Type: EventNodeDeleted, Path: "/y/z"}))
	assert.Equal(t, "persistentRecursive", WatchPersistentRecursive.String())
	assert.Equal(t, "WatchKind(9)", WatchKind(9).String())
}

// TestWatchesWithApply runs the tree's events for a small scenario through
// a watch table, the way a peer does.
func TestWatchesWithApply(t *testing.T) {
	a := newApplier(t)
	w := NewWatches()
	w.Add("/a", WatchExist, 1)               // fires on create
	w.Add("/", WatchChild, 2)                // fires on the root's children changing
	w.Add("/a", WatchPersistentRecursive, 3) // everything under /a
	var log []string
	deliver := func(id WatcherID, ev Event) { log = append(log, fmt.Sprintf("%d:%v:%s", id, ev.Type, ev.Path)) }
	run := func(op Op) {
		_, evs := a.op(op)
		for _, ev := range evs {
			w.Trigger(ev, deliver)
		}
	}
	run(Op{Type: OpCreate, Path: "/a"})
	run(Op{Type: OpCreate, Path: "/a/b"})
	run(Op{Type: OpSetData, Path: "/a/b", Version: AnyVersion})
	run(Op{Type: OpCreate, Path: "/c"})
	assert.Equal(t, strings.Join([]string{
		"1:NodeCreated:/a", "3:NodeCreated:/a", "2:NodeChildrenChanged:/",
		"3:NodeCreated:/a/b", "3:NodeDataChanged:/a/b",
	}, " "), sortedWithinEvent(log))
	assert.Equal(t, 1, w.Count())
}

// sortedWithinEvent keeps the log's order but makes deliveries of one
// event (same type and path, adjacent) sorted by watcher, since their
// relative order is unspecified.
func sortedWithinEvent(log []string) string {
	var out []string
	for i := 0; i < len(log); {
		j := i + 1
		key := log[i][strings.IndexByte(log[i], ':'):]
		for j < len(log) && log[j][strings.IndexByte(log[j], ':'):] == key {
			j++
		}
		group := slices.Clone(log[i:j])
		slices.Sort(group)
		out = append(out, group...)
		i = j
	}
	return strings.Join(out, " ")
}
