package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
)

func TestFindLeader(t *testing.T) {
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		roles []string // "" = unreachable
		want  int
		err   error
	}{
		{"one leader", []string{"following", "leading", "following"}, 1, nil},
		{"leader with a peer down", []string{"", "following", "leading"}, 2, nil},
		{"electing", []string{"looking", "looking", ""}, -1, nil},
		{"two claim it", []string{"leading", "leading", "following"}, -1, nil},
		{"standalone", []string{"standalone"}, -1, ErrNotEnsemble},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := make([]peerRole, len(tc.roles))
			for i, r := range tc.roles {
				rs[i] = peerRole{addr: fmt.Sprintf("a%d", i+1), id: uint32(i + 1), role: r}
				if r == "" {
					rs[i].err = down
				}
			}
			got, err := findLeader(rs)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Contains(t, describe(rs), "a1")
		})
	}
	assert.True(t, whole([]peerRole{{role: "leading"}, {role: "following"}, {role: "observing"}}))
	assert.False(t, whole([]peerRole{{role: "leading"}, {role: "looking"}}))
	assert.False(t, whole([]peerRole{{role: "leading"}, {err: down}}))
}

func TestMeasure(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	recs := []writeRec{
		{at(0), at(2), true},
		{at(2), at(4), true},
		{at(4), at(300), false}, // in flight at the kill (at 5)
		{at(301), at(350), false},
		{at(351), at(900), true}, // first OK issued after the kill
		{at(900), at(902), true},
		{at(1500), at(1502), true}, // after the rejoin at 1400
		{at(1502), at(1503), true},
	}
	s := measure(recs, at(5), at(1400))
	assert.Equal(t, 895*time.Millisecond, s.firstWrite)
	assert.Equal(t, 896*time.Millisecond, s.maxGap, "from 4 to 900")
	assert.Equal(t, 2, s.errors)
	assert.Equal(t, 2, s.writesAfter)

	s = measure(recs, at(5), time.Time{})
	assert.Zero(t, s.writesAfter, "no rejoin, nothing counted after it")
	s = measure(recs[:4], at(5), time.Time{})
	assert.Equal(t, time.Duration(-1), s.firstWrite, "no write succeeded after the kill")

	// A write issued exactly at the kill counts.
	end, ok := firstOKFrom(recs, at(900))
	assert.True(t, ok)
	assert.Equal(t, at(902), end)
}

func TestFailoverHelpers(t *testing.T) {
	assert.Equal(t, "/tmp/x/3.pid", expand("/tmp/x/%d.pid", 3))
	assert.Equal(t, "start 2 --client-addr 127.0.0.1:2282", expand("start %d --client-addr 127.0.0.1:228%d", 2))
	assert.Equal(t, "no pattern", expand("no pattern", 2))

	dir := t.TempDir()
	good, bad := filepath.Join(dir, "1.pid"), filepath.Join(dir, "2.pid")
	require.NoError(t, os.WriteFile(good, []byte("4242\n"), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte("nope"), 0o600))
	pid, err := readPid(good)
	require.NoError(t, err)
	assert.Equal(t, 4242, pid)
	_, err = readPid(bad)
	assert.Error(t, err)
	_, err = readPid(filepath.Join(dir, "3.pid"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))

	var sb strings.Builder
	FormatFailover(&sb, FailoverResult{Iter: 1, Killed: 2, NewLeader: 3, FirstWriteMs: 120})
	FormatFailoverSummary(&sb, []FailoverResult{{FirstWriteMs: 100, NewLeader: 1}, {FirstWriteMs: 300, NewLeader: 2}, {NewLeader: -1, FirstErr: "x"}})
	assert.Contains(t, sb.String(), "first_write_ms=120")
	assert.Contains(t, sb.String(), "median first_write_ms=200 (of 2)")
}

// fakeEnsemble plays three peers for the failover driver: statuses, kill
// by pid, restart, and a writer whose writes fail while no peer leads. An
// election completes on the third status poll of a survivor after a kill,
// once the writer has seen a failure; a restarted peer follows on its
// second poll.
type fakeEnsemble struct {
	mu         sync.Mutex
	addrs      []string
	role       map[string]string // "" = down
	pids       map[int]string
	electing   bool
	polls      int
	writeFails int
	restarted  string
	rejoinPoll int
	killed     []uint32
	opened     int
	closed     int
}

func newFakeEnsemble(t *testing.T, dir string) *fakeEnsemble {
	e := &fakeEnsemble{role: map[string]string{}, pids: map[int]string{}}
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 2280+i)
		e.addrs = append(e.addrs, addr)
		e.role[addr] = "following"
		e.pids[100+i] = addr
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.pid", i)), fmt.Appendf(nil, "%d\n", 100+i), 0o600))
	}
	e.role[e.addrs[0]] = "leading"
	return e
}

func (e *fakeEnsemble) id(addr string) uint32 {
	for i, a := range e.addrs {
		if a == addr {
			return uint32(i + 1)
		}
	}
	return 0
}

func (e *fakeEnsemble) status(_ context.Context, addr string) (*wire.PeerStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.role[addr] == "" {
		return nil, errors.New("connection refused")
	}
	if e.electing {
		if e.polls++; e.polls >= 3 && e.writeFails > 0 {
			e.electing = false
			first := true
			for _, a := range e.addrs {
				if e.role[a] != "" {
					e.role[a] = map[bool]string{true: "leading", false: "following"}[first]
					first = false
				}
			}
		}
	}
	if addr == e.restarted {
		if e.rejoinPoll++; e.rejoinPoll >= 2 {
			e.role[addr], e.restarted = "following", ""
		}
	}
	return &wire.PeerStatus{ServerID: e.id(addr), Role: e.role[addr]}, nil
}

func (e *fakeEnsemble) kill(pid int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	addr, ok := e.pids[pid]
	if !ok || e.role[addr] != "leading" {
		return fmt.Errorf("pid %d is not the leader", pid)
	}
	e.killed = append(e.killed, e.id(addr))
	e.role[addr] = ""
	for _, a := range e.addrs {
		if e.role[a] != "" {
			e.role[a] = "looking"
		}
	}
	e.electing, e.polls, e.writeFails = true, 0, 0
	return nil
}

func (e *fakeEnsemble) restart(_ context.Context, command string) error {
	var id int
	if _, err := fmt.Sscanf(command, "restart %d", &id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	addr := e.addrs[id-1]
	e.role[addr], e.restarted, e.rejoinPoll = "looking", addr, 0
	return nil
}

func (e *fakeEnsemble) openWriter(context.Context, int) (writeSession, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opened++
	return fakeWriter{e}, nil
}

type fakeWriter struct{ e *fakeEnsemble }

func (w fakeWriter) write(ctx context.Context) error {
	// A simulated round trip, so that the writer does not spin.
	t := time.NewTimer(200 * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	for _, r := range w.e.role {
		if r == "leading" {
			return nil
		}
	}
	w.e.writeFails++
	return client.ErrConnectionLoss
}

func (w fakeWriter) close() {
	w.e.mu.Lock()
	w.e.closed++
	w.e.mu.Unlock()
}

func fakeFailover(t *testing.T, restart string) (*failover, *fakeEnsemble) {
	dir := t.TempDir()
	e := newFakeEnsemble(t, dir)
	cfg := FailoverConfig{Servers: e.addrs, Iters: 3, PidFilePattern: filepath.Join(dir, "%d.pid"), Restart: restart,
		Warmup: 20 * time.Millisecond, Settle: 20 * time.Millisecond, Pause: time.Millisecond,
		Timeout: 5 * time.Second, Poll: time.Millisecond}
	cfg.defaults()
	return &failover{cfg: cfg, status: e.status, kill: e.kill, restart: e.restart, openWriter: e.openWriter}, e
}

// Three iterations against the fake: each kills whoever leads, sees a
// survivor lead, a write succeed, the killed peer rejoin, and writes after.
func TestFailoverIterations(t *testing.T) {
	f, e := fakeFailover(t, "restart %d")
	var results []FailoverResult
	require.NoError(t, f.run(context.Background(), func(r FailoverResult) { results = append(results, r) }))
	require.Len(t, results, 3)
	assert.Equal(t, []uint32{1, 2, 1}, e.killed, "each iteration kills the leader of the moment")
	for i, r := range results {
		assert.Equal(t, i+1, r.Iter)
		assert.Equal(t, "zabkit", r.Backend)
		assert.Equal(t, "failover", r.Workload)
		assert.Equal(t, int(e.killed[i]), r.Killed)
		assert.NotEqual(t, r.Killed, r.NewLeader)
		assert.Positive(t, r.NewLeader)
		assert.Positive(t, r.NewLeaderMs)
		assert.Positive(t, r.FirstWriteMs)
		assert.GreaterOrEqual(t, r.MaxGapMs, 0.0)
		assert.Positive(t, r.WriteErrors, "writes failed while no peer led")
		assert.Equal(t, "following", r.RejoinMode)
		assert.Positive(t, r.RejoinMs)
		assert.Positive(t, r.WritesAfter)
		assert.Empty(t, r.FirstErr)
	}
	assert.Equal(t, 3, e.opened)
	assert.Equal(t, 3, e.closed, "every writer session closed")
}

// Without a restart command one iteration runs: the killed peer stays down.
func TestFailoverNoRestart(t *testing.T) {
	f, e := fakeFailover(t, "")
	var results []FailoverResult
	require.NoError(t, f.run(context.Background(), func(r FailoverResult) { results = append(results, r) }))
	require.Len(t, results, 1)
	assert.Empty(t, results[0].RejoinMode)
	assert.Zero(t, results[0].WritesAfter)
	assert.Equal(t, []uint32{1}, e.killed)
}

func TestFailoverErrors(t *testing.T) {
	ctx := context.Background()
	emit := func(FailoverResult) {}

	f, _ := fakeFailover(t, "restart %d")
	f.cfg.PidFilePattern = filepath.Join(t.TempDir(), "missing-%d.pid")
	assert.ErrorIs(t, f.run(ctx, emit), os.ErrNotExist)

	f, e := fakeFailover(t, "restart %d")
	f.kill = func(int) error { return errors.New("operation not permitted") }
	assert.ErrorContains(t, f.run(ctx, emit), "operation not permitted")
	assert.Equal(t, e.opened, e.closed)

	f, e = fakeFailover(t, "restart %d")
	f.cfg.Timeout = 30 * time.Millisecond
	e.role[e.addrs[0]] = "looking" // nobody leads
	assert.ErrorIs(t, f.run(ctx, emit), ErrNoLeader)

	f, _ = fakeFailover(t, "restart %d")
	f.status = func(context.Context, string) (*wire.PeerStatus, error) {
		return &wire.PeerStatus{ServerID: 1, Role: "standalone"}, nil
	}
	assert.ErrorIs(t, f.run(ctx, emit), ErrNotEnsemble)

	assert.ErrorIs(t, Failover(ctx, FailoverConfig{Servers: []string{"127.0.0.1:1"}}, emit), ErrNotEnsemble)

	// A cancelled run stops at once.
	f, _ = fakeFailover(t, "restart %d")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, f.run(cctx, emit), context.Canceled)
}

// A restart command that fails is reported, and its rejoin not waited for.
func TestFailoverRestartFails(t *testing.T) {
	f, _ := fakeFailover(t, "restart %d")
	f.cfg.Iters = 1
	f.restart = func(context.Context, string) error { return errors.New("exit status 127") }
	var results []FailoverResult
	require.NoError(t, f.run(context.Background(), func(r FailoverResult) { results = append(results, r) }))
	require.Len(t, results, 1)
	assert.Contains(t, results[0].FirstErr, "exit status 127")
	assert.Empty(t, results[0].RejoinMode)
	assert.Positive(t, results[0].FirstWriteMs)
}
