package tree

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// long reports whether the long tests were asked for (ZABKIT_LONG=1).
func long() bool { return os.Getenv("ZABKIT_LONG") == "1" }

// applier applies txns with increasing zxids and a settable clock.
type applier struct {
	tb   testing.TB
	tr   *Tree
	zxid Zxid
	now  int64
	sess SessionID
}

func newApplier(tb testing.TB) *applier {
	return &applier{tb: tb, tr: New(Config{}), now: 1_700_000_000_000}
}

func (a *applier) txn(txn *Txn) (Result, []Event) {
	a.tb.Helper()
	a.zxid++
	txn.Zxid = a.zxid
	if txn.Time == 0 {
		a.now++
		txn.Time = a.now
	}
	if txn.Session == 0 {
		txn.Session = a.sess
	}
	res, evs, err := a.tr.Apply(txn)
	require.NoError(a.tb, err)
	return res, evs
}

func (a *applier) op(op Op) (OpResult, []Event) {
	a.tb.Helper()
	res, evs := a.txn(&Txn{Kind: TxnOps, Ops: []Op{op}})
	require.Len(a.tb, res.Ops, 1)
	require.Equal(a.tb, res.Err, res.Ops[0].Err)
	return res.Ops[0], evs
}

func (a *applier) create(path, data string, mode CreateMode) OpResult {
	a.tb.Helper()
	r, _ := a.op(Op{Type: OpCreate, Path: path, Data: []byte(data), Mode: mode})
	return r
}

func (a *applier) mustCreate(path, data string, mode CreateMode) string {
	a.tb.Helper()
	r := a.create(path, data, mode)
	require.NoError(a.tb, r.Err, "create %s", path)
	return r.Path
}

func (a *applier) set(path, data string, version int32) OpResult {
	a.tb.Helper()
	r, _ := a.op(Op{Type: OpSetData, Path: path, Data: []byte(data), Version: version})
	return r
}

func (a *applier) del(path string, version int32) OpResult {
	a.tb.Helper()
	r, _ := a.op(Op{Type: OpDelete, Path: path, Version: version})
	return r
}

func (a *applier) session(id SessionID) {
	a.tb.Helper()
	res, _ := a.txn(&Txn{Kind: TxnCreateSession, Session: id, Timeout: 10000, Password: []byte("pw" + id.String())})
	require.NoError(a.tb, res.Err)
}

// nodeDump is everything observable about one node.
type nodeDump struct {
	Stat Stat
	Data string
	Mode CreateMode
	TTL  int64
}

// dump returns every node by path.
func dump(t *Tree) map[string]nodeDump {
	out := map[string]nodeDump{}
	var walk func(path string, n *node)
	walk = func(path string, n *node) {
		out[path] = nodeDump{Stat: n.stat(), Data: n.data(), Mode: n.mode(), TTL: n.ttl()}
		if n.ext == nil {
			return
		}
		n.ext.walk(0, 0, func(c *node) bool {
			p := path + "/" + c.name()
			if path == "/" {
				p = "/" + c.name()
			}
			walk(p, c)
			return true
		})
	}
	walk("/", t.root)
	return out
}

// state is a tree's whole observable state, for equality checks.
type state struct {
	Nodes     map[string]nodeDump
	Sessions  []Session
	Eph       []string
	Expirable []string
	LastZxid  Zxid
	Count     int
	Digest    uint64
}

func stateOf(t *Tree) state {
	return state{
		Nodes:     dump(t),
		Sessions:  t.Sessions(),
		Eph:       t.Ephemerals(0, ""),
		Expirable: slices.Sorted(maps.Keys(t.expirable)),
		LastZxid:  t.LastZxid(),
		Count:     t.NodeCount(),
		Digest:    t.Digest(),
	}
}

// checkInvariants walks the whole tree and checks every internal invariant.
func checkInvariants(t *Tree) error {
	var h hasher
	var digest uint64
	count := 0
	eph := map[SessionID]map[string]struct{}{}
	exp := map[string]struct{}{}
	var walk func(path string, n *node) error
	walk = func(path string, n *node) error {
		count++
		if n.gen > t.gen {
			return fmt.Errorf("%s: gen %d above tree gen %d", path, n.gen, t.gen)
		}
		digest += h.node(path, n)
		switch m := n.mode(); {
		case m.IsEphemeral():
			if _, ok := t.sessions[n.owner()]; !ok {
				return fmt.Errorf("%s: owner %v not in session table", path, n.owner())
			}
			if eph[n.owner()] == nil {
				eph[n.owner()] = map[string]struct{}{}
			}
			eph[n.owner()][path] = struct{}{}
			if n.nkids() != 0 {
				return fmt.Errorf("%s: ephemeral with children", path)
			}
		case m.IsContainer() || m.IsTTL():
			exp[path] = struct{}{}
		}
		if n.owner() != 0 && !n.mode().IsEphemeral() {
			return fmt.Errorf("%s: owner on a non-ephemeral", path)
		}
		e := n.ext
		if e == nil {
			return nil
		}
		if e.pzxid < n.czxid || e.cversion < 0 {
			return fmt.Errorf("%s: pzxid %v cversion %d", path, e.pzxid, e.cversion)
		}
		total := 0
		prev := ""
		for ci, c := range e.kids {
			if len(c.nodes) == 0 || len(c.nodes) > chunkMax {
				return fmt.Errorf("%s: chunk %d of %d nodes", path, ci, len(c.nodes))
			}
			if c.gen > t.gen {
				return fmt.Errorf("%s: chunk gen %d", path, c.gen)
			}
			if c.last != c.nodes[len(c.nodes)-1].name() {
				return fmt.Errorf("%s: chunk %d last %q", path, ci, c.last)
			}
			if kd := c.nodes[len(c.nodes)-1].kd; uintptr(unsafe.Pointer(unsafe.StringData(c.last)))-uintptr(unsafe.Pointer(unsafe.StringData(kd))) < uintptr(len(kd)) {
				return fmt.Errorf("%s: chunk %d last shares the node's kd", path, ci)
			}
			if len(c.hashes) != len(c.nodes) {
				return fmt.Errorf("%s: chunk %d has %d hashes for %d nodes", path, ci, len(c.hashes), len(c.nodes))
			}
			for i, k := range c.nodes {
				if c.hashes[i] != nameHash(k.name()) {
					return fmt.Errorf("%s: wrong hash for %q", path, k.name())
				}
				if total > 0 && k.name() <= prev {
					return fmt.Errorf("%s: child %q after %q", path, k.name(), prev)
				}
				prev = k.name()
				total++
				p := path + "/" + k.name()
				if path == "/" {
					p = "/" + k.name()
				}
				if err := walk(p, k); err != nil {
					return err
				}
			}
		}
		if total != int(e.nkids) {
			return fmt.Errorf("%s: nkids %d, %d children", path, e.nkids, total)
		}
		if total == 0 && e.kids != nil {
			return fmt.Errorf("%s: empty kids slice kept", path)
		}
		return nil
	}
	if err := walk("/", t.root); err != nil {
		return err
	}
	if count != t.count {
		return fmt.Errorf("count %d, tree says %d", count, t.count)
	}
	if digest != t.digest {
		return fmt.Errorf("digest %x, tree says %x", digest, t.digest)
	}
	if !maps.EqualFunc(eph, t.eph, func(a, b map[string]struct{}) bool { return maps.Equal(a, b) }) {
		return fmt.Errorf("ephemeral index %v, nodes say %v", t.eph, eph)
	}
	if !maps.Equal(exp, t.expirable) {
		return fmt.Errorf("expirable index %v, nodes say %v", t.expirable, exp)
	}
	return nil
}

// roundTrip writes a snapshot of t and reads it back.
func roundTrip(tb testing.TB, t *Tree) (*Tree, []byte) {
	tb.Helper()
	f := t.Snapshot()
	defer f.Release()
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	require.NoError(tb, err)
	require.Equal(tb, int64(buf.Len()), n)
	t2, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), Config{MaxDataBytes: t.maxData})
	require.NoError(tb, err)
	return t2, buf.Bytes()
}

func eventsString(evs []Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%v:%s", e.Type, e.Path)
	}
	return b.String()
}
