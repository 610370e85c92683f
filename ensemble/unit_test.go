package ensemble

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

func TestNextZxid(t *testing.T) {
	assert.Equal(t, tree.MakeZxid(1, 1), nextZxid(0))
	assert.Equal(t, tree.MakeZxid(1, 8), nextZxid(tree.MakeZxid(1, 7)))
	assert.Equal(t, tree.MakeZxid(3, 1), nextZxid(tree.MakeZxid(2, 0xffffffff)), "the counter never wraps")
}

func TestSessionTracker(t *testing.T) {
	tr := newSessionTracker()
	a := tr.add(1, 100*time.Millisecond, 0)
	tr.add(2, 300*time.Millisecond, 0)
	assert.Empty(t, tr.expire(99*time.Millisecond))
	a.touch(50 * time.Millisecond) // a request at 50ms
	assert.Empty(t, tr.expire(149*time.Millisecond))
	assert.Equal(t, []tree.SessionID{1}, tr.expire(150*time.Millisecond))
	assert.Empty(t, tr.expire(200*time.Millisecond), "a closing session is proposed once")
	assert.True(t, a.closing.Load())

	// attach: closing sessions cannot be resumed; a live one moves.
	_, _, ok := tr.attach(1, &conn{}, time.Second)
	assert.False(t, ok)
	c1, c2 := &conn{}, &conn{}
	s, prev, ok := tr.attach(2, c1, 200*time.Millisecond)
	require.True(t, ok)
	assert.Nil(t, prev)
	_, prev, ok = tr.attach(2, c2, 250*time.Millisecond)
	require.True(t, ok)
	assert.Same(t, c1, prev)
	tr.detach(s, c1) // the old connection's teardown does not unbind the new one
	assert.Same(t, c2, tr.remove(2))
	assert.Nil(t, tr.remove(2))
	assert.Nil(t, tr.remove(1))
	assert.Equal(t, 0, tr.count())
	assert.False(t, tr.markClosing(9))
}

func TestIPLimiter(t *testing.T) {
	l := newIPLimiter(2)
	assert.True(t, l.acquire("a"))
	assert.True(t, l.acquire("a"))
	assert.False(t, l.acquire("a"))
	assert.True(t, l.acquire("b"))
	l.release("a")
	assert.True(t, l.acquire("a"))
	unlimited := newIPLimiter(-1)
	for range 100 {
		assert.True(t, unlimited.acquire("a"))
	}
}

// fakeLog records what the proposer does to the log.
type fakeLog struct {
	mu      sync.Mutex
	recs    []wal.Record
	syncs   int
	synced  int // len(recs) at the last sync
	failAt  int // fail the n-th Sync (1-based); 0: never
	purged  uint64
	gate    chan struct{} // when set, Sync waits on it
	entered chan struct{}
}

func (f *fakeLog) Append(recs ...wal.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		if n := len(f.recs); n > 0 && f.recs[n-1].Zxid >= r.Zxid {
			return errors.New("order")
		}
		f.recs = append(f.recs, wal.Record{Zxid: r.Zxid, Data: append([]byte(nil), r.Data...)})
	}
	return nil
}

func (f *fakeLog) Sync() error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.failAt != 0 && f.syncs >= f.failAt {
		return errors.New("disk on fire")
	}
	f.synced = len(f.recs)
	return nil
}

func (f *fakeLog) PurgeThrough(z uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purged = z
	return nil
}

// TestProposerGroupCommit: proposals queued while an fsync is in progress
// share the next one, and are delivered in order, each after it is synced.
func TestProposerGroupCommit(t *testing.T) {
	fl := &fakeLog{gate: make(chan struct{}), entered: make(chan struct{})}
	var mu sync.Mutex
	var delivered []*proposal
	var batches int
	p := newLogProposer(fl, 0, func(batch []*proposal) {
		fl.mu.Lock()
		synced := fl.synced
		fl.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		batches++
		for _, pr := range batch {
			if pr.txn != nil {
				assert.LessOrEqual(t, int(pr.txn.Zxid.Counter()), synced, "delivered before durable")
			}
			delivered = append(delivered, pr)
		}
	}, slog.New(slog.DiscardHandler))

	p.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnNoop}})
	<-fl.entered // the first fsync is in progress
	for i := range 50 {
		if i == 25 {
			p.propose(&proposal{}) // a barrier in the middle
		}
		p.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnNoop}})
	}
	fl.gate <- struct{}{} // first sync done
	<-fl.entered          // the second covers all 50
	fl.gate <- struct{}{}
	p.purgeThrough(5)
	p.stop()

	require.Len(t, delivered, 52)
	want := tree.Zxid(0)
	for _, pr := range delivered {
		require.NoError(t, pr.err)
		if pr.txn == nil {
			continue
		}
		want = nextZxid(want)
		assert.Equal(t, want, pr.txn.Zxid, "delivered in zxid order")
	}
	assert.Equal(t, 2, fl.syncs, "one fsync per batch")
	assert.Equal(t, 2, batches)
	assert.Equal(t, uint64(5), fl.purged)
	// Records decode back to the txns.
	for i, r := range fl.recs {
		txn, err := decodeTxn(r.Data)
		require.NoError(t, err)
		assert.Equal(t, tree.Zxid(r.Zxid), txn.Zxid, "record %d", i)
	}
	assert.False(t, p.propose(&proposal{}), "no proposals after stop")
}

// TestProposerHaltsOnSyncFailure: after a failed fsync nothing is
// delivered as durable again.
func TestProposerHaltsOnSyncFailure(t *testing.T) {
	fl := &fakeLog{failAt: 2}
	got := make(chan *proposal, 10)
	p := newLogProposer(fl, tree.MakeZxid(1, 10), func(batch []*proposal) {
		for _, pr := range batch {
			got <- pr
		}
	}, slog.New(slog.DiscardHandler))
	defer p.stop()
	p.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnNoop}})
	first := <-got
	require.NoError(t, first.err)
	assert.Equal(t, tree.MakeZxid(1, 11), first.txn.Zxid)
	p.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnNoop}})
	second := <-got
	require.ErrorIs(t, second.err, wire.ErrSystemError)
	fl.mu.Lock()
	fl.failAt = 0
	fl.mu.Unlock()
	p.propose(&proposal{txn: &tree.Txn{Kind: tree.TxnNoop}})
	third := <-got
	require.ErrorIs(t, third.err, wire.ErrSystemError, "halted for good")
	p.propose(&proposal{})
	barrier := <-got
	require.NoError(t, barrier.err, "barriers (sync) still pass: reads go on")
}

// FuzzDecodeTxn: a log record of any bytes decodes or fails; it never
// panics or allocates what a length claims.
func FuzzDecodeTxn(f *testing.F) {
	for _, txn := range []tree.Txn{
		{Zxid: 1, Kind: tree.TxnOps, Ops: []tree.Op{{Type: tree.OpCreate, Path: "/a", Data: []byte("x")}}},
		{Zxid: 2, Kind: tree.TxnCreateSession, Session: 5, Timeout: 1000, Password: []byte("pw")},
		{Zxid: 3, Kind: tree.TxnMulti, Ops: []tree.Op{{Type: tree.OpCheck, Path: "/a", Version: 3}, {Type: tree.OpDelete, Path: "/a"}}},
	} {
		b, err := msgpack.Marshal(&txn)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa1, 'o', 0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		txn, err := decodeTxn(b)
		if err != nil {
			return
		}
		again, err := msgpack.Marshal(&txn)
		require.NoError(t, err)
		back, err := decodeTxn(again)
		require.NoError(t, err, "re-encoded %x", again)
		assert.Equal(t, fmt.Sprint(txn), fmt.Sprint(back))
	})
}
