package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/internal/vfs"
)

// TestCrashSimulation drives a Log on a CrashFS with a seeded random mix of
// appends, syncs, truncations, purges, injected faults, restarts and power
// cuts (clean or torn), and after every restart checks: every record
// acknowledged by a completed Sync is there, in order, with its data;
// nothing that was never appended appears; only a prefix of the records not
// acknowledged survives; the log takes appends again.
//
// Replay one seed: go test ./broadcast/wal -run TestCrashSimulation -seed N
func TestCrashSimulation(t *testing.T) {
	for _, seed := range seeds(t, 40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (replay: go test ./broadcast/wal -run 'TestCrashSimulation' -seed %d)", seed, seed)
			s := newSim(t, seed)
			s.run(400)
		})
	}
}

type sim struct {
	t    *testing.T
	rng  *rand.Rand
	fsys *vfs.CrashFS
	cfg  Config
	l    *Log

	durable []Record // acknowledged, or found on disk after a restart
	maybe   []Record // appended (or being truncated) but not known durable, in order
	floor   uint64   // records at or below it may have been purged (from the front)
	failed  bool     // the Log returned ErrFailed
	next    uint64   // next zxid to use
	crashes int
}

func newSim(t *testing.T, seed uint64) *sim {
	rng := rand.New(rand.NewPCG(seed, 0x5ab))
	fsys := vfs.NewCrashable()
	cfg := Config{Dir: "/data/wal", FS: fsys, SegmentBytes: 128 + rng.Int64N(2048), MaxRecordBytes: 4096}
	s := &sim{t: t, rng: rng, fsys: fsys, cfg: cfg, next: 1}
	l, err := Open(cfg)
	require.NoError(t, err)
	s.l = l
	return s
}

func (s *sim) run(steps int) {
	t := s.t
	for step := 0; step < steps; step++ {
		x := s.rng.IntN(100)
		if s.failed && x < 60 {
			x = 95 // a failed Log is restarted soon
		}
		switch {
		case x < 40:
			s.appendBatch()
		case x < 62:
			s.sync()
		case x < 68:
			s.injectFault()
		case x < 74:
			s.truncate()
		case x < 79:
			s.purge()
		case x < 85:
			s.replayLive()
		case x < 90:
			s.restart(false)
		default:
			s.restart(true)
		}
	}
	s.restart(true)
	require.NoError(t, s.l.Close())
	t.Logf("%d crashes, %d records durable at the end", s.crashes, len(s.durable))
}

func (s *sim) appendBatch() {
	n := 1 + s.rng.IntN(6)
	recs := make([]Record, n)
	for i := range recs {
		if s.rng.IntN(40) == 0 { // a new epoch
			s.next = (s.next>>32+1)<<32 | 1
		}
		z := s.next + s.rng.Uint64N(3)
		s.next = z + 1
		size := s.rng.IntN(120)
		if s.rng.IntN(30) == 0 {
			size = s.rng.IntN(3000) // often bigger than a segment
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(s.rng.Uint32())
		}
		recs[i] = Record{Zxid: z, Data: data}
	}
	err := s.l.Append(recs...)
	s.t.Logf("append %v: %v", zxids(recs), err)
	if s.failed {
		require.ErrorIs(s.t, err, ErrFailed)
		return
	}
	require.NoError(s.t, err)
	s.maybe = append(s.maybe, recs...)
}

func (s *sim) sync() {
	err := s.l.Sync()
	s.t.Logf("sync: %v", err)
	if err != nil {
		require.ErrorIs(s.t, err, ErrFailed)
		require.ErrorIs(s.t, err, vfs.ErrInjected)
		s.failed = true
		return
	}
	require.False(s.t, s.failed, "Sync succeeded on a failed Log")
	s.durable = append(s.durable, s.maybe...)
	s.maybe = nil
	require.Equal(s.t, s.l.SyncedZxid(), s.l.LastZxid())
}

func (s *sim) injectFault() {
	ops := []vfs.Op{vfs.OpAny, vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir, vfs.OpCreate, vfs.OpPreallocate, vfs.OpTruncate, vfs.OpRemove}
	f := vfs.Fault{Op: ops[s.rng.IntN(len(ops))], After: s.rng.IntN(6)}
	if s.rng.IntN(3) > 0 {
		f.Count = 1
	}
	s.fsys.Inject(f)
	s.t.Logf("inject %+v", f)
}

func (s *sim) known() []Record { return append(append([]Record(nil), s.durable...), s.maybe...) }

func (s *sim) truncate() {
	k := s.known()
	if len(k) == 0 || s.failed {
		return
	}
	z := k[s.rng.IntN(len(k))].Zxid
	if s.rng.IntN(5) == 0 {
		z = k[len(k)-1].Zxid + 1 // above everything
	}
	if s.rng.IntN(10) == 0 && z > 0 {
		z-- // possibly between records
	}
	// ZAB never truncates below what a snapshot covers, and the log is
	// purged only through a snapshot.
	z = max(z, s.floor)
	err := s.l.TruncateAfter(z)
	s.t.Logf("truncate after %#x: %v", z, err)
	if err != nil {
		require.ErrorIs(s.t, err, ErrFailed)
		s.failed = true
		// Records at or below z that were durable stay; above z anything
		// durable may or may not be cut (a prefix of it stays); buffered
		// ones at or below z may or may not have been written.
		var certain, maybe []Record
		for _, r := range s.durable {
			if r.Zxid <= z {
				certain = append(certain, r)
			} else {
				maybe = append(maybe, r)
			}
		}
		for _, r := range s.maybe {
			if r.Zxid <= z {
				maybe = append(maybe, r)
			}
		}
		s.durable, s.maybe = certain, maybe
		return
	}
	var keep []Record
	for _, r := range k {
		if r.Zxid <= z {
			keep = append(keep, r)
		}
	}
	s.durable, s.maybe = keep, nil
	s.next = max(s.next, z+1)
	if len(keep) > 0 && keep[len(keep)-1].Zxid > s.floor {
		require.Equal(s.t, keep[len(keep)-1].Zxid, s.l.LastZxid())
	}
	s.checkLive()
}

func (s *sim) purge() {
	if len(s.durable) == 0 {
		return
	}
	z := s.durable[s.rng.IntN(len(s.durable))].Zxid
	if !s.failed {
		s.floor = max(s.floor, z)
	}
	err := s.l.PurgeThrough(z)
	s.t.Logf("purge through %#x: %v", z, err)
	if s.failed {
		require.ErrorIs(s.t, err, ErrFailed)
		return
	}
	if err != nil {
		require.ErrorIs(s.t, err, vfs.ErrInjected)
	}
}

// replayLive checks a running Log: Replay shows exactly the durable records
// (minus purged ones), nothing still buffered.
func (s *sim) replayLive() {
	if s.failed {
		return
	}
	s.checkLive()
	after := uint64(0)
	if len(s.durable) > 0 {
		after = s.durable[s.rng.IntN(len(s.durable))].Zxid
	}
	var got []Record
	require.NoError(s.t, s.l.Replay(after, func(r Record) error {
		got = append(got, Record{Zxid: r.Zxid, Data: bytes.Clone(r.Data)})
		return nil
	}))
	s.check(got, after, false)
}

func (s *sim) checkLive() {
	got := all(s.t, s.l)
	s.check(got, 0, false)
}

// check compares what a Replay(after) returned with the model. With
// allowMaybe, a prefix of the unacknowledged records may follow.
func (s *sim) check(got []Record, after uint64, allowMaybe bool) {
	t := s.t
	var exp []Record
	for _, r := range s.durable {
		if r.Zxid > after {
			exp = append(exp, r)
		}
	}
	i := 0 // purged records may be missing from the front
	for i < len(exp) && exp[i].Zxid <= s.floor && (len(got) == 0 || got[0].Zxid != exp[i].Zxid) {
		i++
	}
	exp = exp[i:]
	require.GreaterOrEqual(t, len(got), len(exp), "acknowledged records lost: want %v, got %v", zxids(exp), zxids(got))
	for j := range exp {
		require.Equal(t, exp[j].Zxid, got[j].Zxid, "record %d: want %v, got %v", j, zxids(exp), zxids(got))
		require.True(t, bytes.Equal(exp[j].Data, got[j].Data), "data of zxid %#x differs", exp[j].Zxid)
	}
	rest := got[len(exp):]
	if !allowMaybe {
		require.Empty(t, rest, "records beyond the acknowledged ones: %v", zxids(rest))
		return
	}
	var maybe []Record
	for _, r := range s.maybe {
		if r.Zxid > after {
			maybe = append(maybe, r)
		}
	}
	require.LessOrEqual(t, len(rest), len(maybe), "records never appended: %v (maybe %v)", zxids(rest), zxids(maybe))
	for j := range rest {
		require.Equal(t, maybe[j].Zxid, rest[j].Zxid, "unacknowledged records must survive as a prefix")
		require.True(t, bytes.Equal(maybe[j].Data, rest[j].Data), "data of zxid %#x differs", rest[j].Zxid)
	}
}

// restart closes (or abandons, on a power cut) the Log, reopens it, checks
// the recovered records and adopts them as the new durable state.
func (s *sim) restart(crash bool) {
	t := s.t
	s.t.Logf("restart crash=%v", crash)
	if crash {
		s.crashes++
		if s.rng.IntN(2) == 0 {
			s.fsys.Crash()
		} else {
			s.fsys.CrashTorn(s.rng)
		}
	} else {
		_ = s.l.Close() // may fail (faults); a restart follows either way
	}
	s.fsys.ClearFaults()
	if s.rng.IntN(4) == 0 {
		// power fails again while Open repairs the tail
		s.fsys.Inject(vfs.Fault{Op: vfs.OpAny, After: s.rng.IntN(4)})
		l, err := Open(s.cfg)
		s.t.Logf("open with faults: %v", err)
		if err == nil {
			_ = l.Close()
		} else {
			require.ErrorIs(t, err, vfs.ErrInjected)
		}
		s.fsys.ClearFaults()
		s.fsys.CrashTorn(s.rng)
	}
	l, err := Open(s.cfg)
	require.NoError(t, err, "a crash must never look like corruption")
	s.l = l
	got := all(t, l)
	s.check(got, 0, true)
	s.durable, s.maybe, s.failed = got, nil, false
	last := uint64(0)
	if len(got) > 0 {
		last = got[len(got)-1].Zxid
	}
	require.Equal(t, last, l.LastZxid())
	s.next = max(s.next, last+1)
	// appendable again
	z := s.next
	s.next++
	require.NoError(t, l.Append(Record{Zxid: z, Data: []byte("after restart")}))
	require.NoError(t, l.Sync())
	s.durable = append(s.durable, Record{Zxid: z, Data: []byte("after restart")})
}
