package tree

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the random txn tests (0: time based, printed)")

// chooser is a source of choices: a seeded rand in tests, fuzz bytes in
// fuzz targets.
type chooser interface {
	Intn(n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) Intn(n int) int { return c.r.IntN(n) }

// byteChooser reads choices from fuzz input; 0 once it runs out.
type byteChooser struct{ b []byte }

func (c *byteChooser) Intn(n int) int {
	if len(c.b) == 0 || n <= 1 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 && len(c.b) > 0 {
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n
}

func (c *byteChooser) done() bool { return len(c.b) == 0 }

// txnGen makes random but plausible transactions over a small namespace,
// plus a big directory so that chunks split and merge.
type txnGen struct {
	c    chooser
	zxid Zxid
	now  int64
}

var genNames = []string{"a", "b", "c", "big"}

func (g *txnGen) path() string {
	if g.c.Intn(3) == 0 {
		return "/big/k" + pad10(g.c.Intn(1500))
	}
	p := ""
	for range 1 + g.c.Intn(3) {
		p += "/" + genNames[g.c.Intn(len(genNames))]
	}
	return p
}

func (g *txnGen) version() int32 { return int32(g.c.Intn(4)) - 1 }

func (g *txnGen) op() Op {
	switch g.c.Intn(10) {
	case 0, 1, 2, 3:
		mode := CreateMode(g.c.Intn(int(maxCreateMode) + 1))
		op := Op{Type: OpCreate, Path: g.path(), Mode: mode, Data: make([]byte, g.c.Intn(20))}
		if g.c.Intn(2) == 0 {
			op.Path = "/big/k" + pad10(g.c.Intn(1500))
		}
		if mode.IsTTL() {
			op.TTL = int64(1 + g.c.Intn(50))
		}
		if g.c.Intn(3) == 0 && mode.IsSequential() {
			op.Path = "/big/s"
		}
		return op
	case 4, 5:
		return Op{Type: OpDelete, Path: g.path(), Version: g.version()}
	case 6, 7:
		return Op{Type: OpSetData, Path: g.path(), Version: g.version(), Data: make([]byte, g.c.Intn(20))}
	case 8:
		return Op{Type: OpCheck, Path: g.path(), Version: g.version()}
	}
	return Op{Type: OpDeleteExpired, Path: g.path()}
}

func (g *txnGen) txn() *Txn {
	g.zxid += Zxid(1 + g.c.Intn(3))
	g.now += int64(g.c.Intn(20))
	txn := &Txn{Zxid: g.zxid, Time: g.now, Session: SessionID(g.c.Intn(4))}
	switch k := g.c.Intn(20); {
	case k < 12:
		txn.Kind = TxnOps
		txn.Ops = []Op{g.op()}
	case k < 17:
		txn.Kind = TxnMulti
		for range g.c.Intn(6) {
			txn.Ops = append(txn.Ops, g.op())
		}
	case k < 18:
		txn.Kind = TxnCreateSession
		txn.Timeout = 1000
		txn.Password = []byte{byte(txn.Session)}
	case k < 19:
		txn.Kind = TxnCloseSession
	default:
		txn.Kind = TxnNoop
	}
	return txn
}

// applyChecked applies txn and checks what must hold after it.
func applyChecked(tb testing.TB, tr *Tree, txn *Txn) (Result, []Event) {
	return applyCheckedEvery(tb, tr, txn, true)
}

// applyCheckedEvery is applyChecked with the full invariant walk optional
// (it dominates under the race detector).
func applyCheckedEvery(tb testing.TB, tr *Tree, txn *Txn, full bool) (Result, []Event) {
	tb.Helper()
	before := lightStateOf(tr)
	res, evs, err := tr.Apply(txn)
	require.NoError(tb, err)
	require.Equal(tb, txn.Zxid, tr.LastZxid())
	// checkInvariants proves the digest matches the nodes, so an unchanged
	// digest means unchanged nodes.
	if full {
		require.NoError(tb, checkInvariants(tr))
	}
	if res.Err != nil {
		require.Equal(tb, before, lightStateOf(tr), "failed txn %+v changed the tree", txn)
		require.Empty(tb, evs)
	}
	if txn.Kind == TxnMulti {
		require.Len(tb, res.Ops, len(txn.Ops))
	}
	return res, evs
}

type lightState struct {
	Digest    uint64
	Count     int
	Sessions  int
	Eph       []string
	Expirable int
}

func lightStateOf(t *Tree) lightState {
	return lightState{t.Digest(), t.NodeCount(), len(t.sessions), t.Ephemerals(0, ""), len(t.expirable)}
}

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", s, s)
	return s
}

// TestRandomTxns applies random txns, checking every invariant after each,
// takes snapshots along the way, and checks that a tree restored from a
// snapshot and fed the same later txns ends equal to the original.
func TestRandomTxns(t *testing.T) {
	s := seed(t)
	n := 3000
	if raceEnabled {
		n = 2000
	}
	if long() {
		n = 50000
	}
	g := &txnGen{c: randChooser{rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))}}
	tr := New(Config{})
	// Start with a directory of several chunks, so that random creates and
	// deletes split and merge them.
	prefill := []Op{{Type: OpCreate, Path: "/big"}}
	for i := 0; i < 1500; i += 2 {
		prefill = append(prefill, Op{Type: OpCreate, Path: "/big/k" + pad10(i)})
	}
	g.zxid++
	applyChecked(t, tr, &Txn{Zxid: g.zxid, Kind: TxnMulti, Ops: prefill})
	bigMax := 0
	var restored *Tree
	var frozen *Frozen
	var frozenState state
	var wg sync.WaitGroup
	var buf bytes.Buffer
	var werr error
	for i := range n {
		txn := g.txn()
		res, evs := applyCheckedEvery(t, tr, txn, !raceEnabled || i%16 == 0)
		if big := tr.lookup("/big"); big != nil && big.ext != nil {
			bigMax = max(bigMax, len(big.ext.kids))
		}
		if restored != nil {
			res2, evs2, err := restored.Apply(txn)
			require.NoError(t, err)
			require.Equal(t, errString(res.Err), errString(res2.Err))
			require.Equal(t, evs, evs2)
		}
		if i%500 == 250 {
			if frozen != nil {
				// The view, written while Apply went on, still shows the
				// tree as it was.
				wg.Wait()
				require.NoError(t, werr)
				restoredView, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), Config{})
				require.NoError(t, err)
				require.Equal(t, frozenState, stateOf(restoredView))
				frozen.Release()
			}
			restored, _ = roundTrip(t, tr)
			require.Equal(t, stateOf(tr), stateOf(restored))
			require.NoError(t, checkInvariants(restored))
			frozen = tr.Snapshot()
			frozenState = stateOf(tr)
			buf.Reset()
			wg.Add(1)
			go func(f *Frozen) {
				defer wg.Done()
				_, werr = f.WriteTo(&buf)
			}(frozen)
		}
	}
	wg.Wait()
	require.NoError(t, werr)
	frozen.Release()
	require.NotNil(t, restored)
	assert.Equal(t, stateOf(tr), stateOf(restored))
	t.Logf("%d nodes, %d sessions at the end; /big had up to %d chunks", tr.NodeCount(), len(tr.Sessions()), bigMax)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzApply applies the txns the input describes, checking every invariant
// after each and a snapshot round trip at the end.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("create some nodes under /a and /b, then a multi that fails"))
	f.Add([]byte{17, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 1, 0, 2, 3, 3, 3, 12, 0, 1, 1, 1, 0, 0, 0, 0, 5, 9, 9, 9, 9, 9, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &byteChooser{b: in}
		g := &txnGen{c: c}
		tr := New(Config{})
		for i := 0; i < 200 && !c.done(); i++ {
			applyChecked(t, tr, g.txn())
		}
		restored, _ := roundTrip(t, tr)
		require.Equal(t, stateOf(tr), stateOf(restored))
	})
}
