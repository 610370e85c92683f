package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// FailoverKey is the znode the failover workload's writer sets.
const FailoverKey = Root + "/failover"

// FailoverConfig says how to run the failover workload. Only Servers is
// required; the waits have defaults matching the reference kit's.
type FailoverConfig struct {
	Servers []string // every peer's client address
	Iters   int      // iterations (default 3)
	// PidFilePattern names the pid file of the peer with server id N, "%d"
	// standing for N (default /tmp/zabkit-ens/%d.pid).
	PidFilePattern string
	// Restart is a shell command (run with bash -c) that starts the peer
	// with server id N again, "%d" standing for N; "" restarts nothing. It
	// must return once the peer is launched: start the server in the
	// background (&).
	Restart        string
	Size           int           // value bytes (default 128)
	SessionTimeout time.Duration // the writer's session timeout (default 10s)
	// Log receives a line per step and the restart command's output; nil
	// discards them. The command's output goes there only if Log is an
	// *os.File (a pipe would keep the command waiting for the server it
	// started in the background).
	Log io.Writer

	Warmup  time.Duration // writes before the kill (default 2s)
	Settle  time.Duration // after the first write, and after the rejoin (default 1s)
	Pause   time.Duration // between iterations (default 3s)
	Timeout time.Duration // cap on each wait (default 60s)
	Poll    time.Duration // status polling interval (default 5ms; 10ms for the rejoin)
}

func (c *FailoverConfig) defaults() {
	if len(c.Servers) == 0 {
		c.Servers = []string{"127.0.0.1:2281"}
	}
	if c.Iters <= 0 {
		c.Iters = 3
	}
	if c.PidFilePattern == "" {
		c.PidFilePattern = "/tmp/zabkit-ens/%d.pid"
	}
	if c.Size <= 0 {
		c.Size = 128
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Warmup <= 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	if c.Pause <= 0 {
		c.Pause = 3 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Millisecond
	}
}

// FailoverResult is one failover iteration; its JSON form has the field
// names of the reference kit's FailoverResult, so the two can be compared
// line by line. Members are server ids; -1 when not found.
type FailoverResult struct {
	Backend      string  `json:"backend"` // always "zabkit"
	Workload     string  `json:"workload"`
	Iter         int     `json:"iter"`
	Killed       int     `json:"killed_member"`
	NewLeader    int     `json:"new_leader_member"`
	NewLeaderMs  float64 `json:"new_leader_ms"`    // kill -> a surviving peer reports leading
	FirstWriteMs float64 `json:"first_write_ms"`   // kill -> completion of the first successful write issued at or after the kill
	MaxGapMs     float64 `json:"max_write_gap_ms"` // longest gap between successive successful write completions
	WriteErrors  int     `json:"write_errors"`
	RejoinMs     float64 `json:"rejoin_ms"`   // restart issued -> the restarted peer reports following or leading
	RejoinMode   string  `json:"rejoin_mode"` // the role it reported
	WritesAfter  int     `json:"writes_ok_after_rejoin"`
	FirstErr     string  `json:"first_err,omitempty"` // a wait that ran out, or the restart command's failure
}

// Failover runs the failover workload against an ensemble of separate
// `zabkit server` processes: per iteration one writer session sets
// FailoverKey in a loop while the leader is killed with SIGKILL (its pid
// read from PidFilePattern), then measures how long until a new leader
// and a successful write, restarts the killed peer with Restart and
// measures its rejoin. It calls emit with each iteration's result as it
// completes. It returns ErrNotEnsemble, ErrNoLeader (the ensemble is not
// whole before an iteration), the pid file's or kill's error, a connect
// error, or ctx.Err().
func Failover(ctx context.Context, cfg FailoverConfig, emit func(FailoverResult)) error {
	cfg.defaults()
	val := payload(cfg.Size)
	f := &failover{
		cfg:    cfg,
		status: client.PeerStatus,
		kill:   func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) },
		restart: func(ctx context.Context, command string) error {
			cmd := exec.CommandContext(ctx, "bash", "-c", command)
			if f, ok := cfg.Log.(*os.File); ok {
				cmd.Stdout, cmd.Stderr = f, f
			}
			return cmd.Run()
		},
		openWriter: func(ctx context.Context, iter int) (writeSession, error) {
			n := len(cfg.Servers)
			order := make([]string, 0, n)
			for k := 0; k < n; k++ {
				order = append(order, cfg.Servers[(iter+k)%n])
			}
			c, err := client.Connect(ctx, order, client.WithSessionTimeout(cfg.SessionTimeout))
			if err != nil {
				return nil, fmt.Errorf("loadgen: connect to %v: %w", order, err)
			}
			return &clientWriter{c: c, val: val}, nil
		},
	}
	if len(cfg.Servers) < 3 {
		return fmt.Errorf("%w: %d server address(es) given", ErrNotEnsemble, len(cfg.Servers))
	}
	if _, err := f.waitWhole(ctx); err != nil {
		return err
	}
	admin, err := client.Connect(ctx, cfg.Servers, client.WithSessionTimeout(cfg.SessionTimeout))
	if err != nil {
		return fmt.Errorf("loadgen: connect to %v: %w", cfg.Servers, err)
	}
	defer admin.Close()
	for _, p := range []string{Root, FailoverKey} {
		if _, err := admin.Create(ctx, p, val, tree.ModePersistent); err != nil && !errors.Is(err, client.ErrNodeExists) {
			return fmt.Errorf("loadgen: create %s: %w", p, err)
		}
	}
	return f.run(ctx, emit)
}

// writeSession is the writer's session: one write of FailoverKey per call.
type writeSession interface {
	write(ctx context.Context) error
	close()
}

type clientWriter struct {
	c   *client.Client
	val []byte
}

func (w *clientWriter) write(ctx context.Context) error {
	_, err := w.c.Set(ctx, FailoverKey, w.val, tree.AnyVersion)
	return err
}

func (w *clientWriter) close() { _ = w.c.Close() }

// failover drives the iterations; its seams (status, kill, restart,
// openWriter) are the real calls in Failover and fakes in the tests.
type failover struct {
	cfg        FailoverConfig
	status     func(ctx context.Context, addr string) (*wire.PeerStatus, error)
	kill       func(pid int) error
	restart    func(ctx context.Context, command string) error
	openWriter func(ctx context.Context, iter int) (writeSession, error)
}

func (f *failover) logf(format string, args ...any) {
	fmt.Fprintf(f.cfg.Log, "failover: "+format+"\n", args...)
}

func (f *failover) run(ctx context.Context, emit func(FailoverResult)) error {
	iters := f.cfg.Iters
	if f.cfg.Restart == "" && iters > 1 {
		f.logf("no restart command: one iteration only (the killed peer stays down)")
		iters = 1
	}
	for it := 1; it <= iters; it++ {
		if it > 1 {
			pause(ctx, f.cfg.Pause)
		}
		res, err := f.iter(ctx, it)
		if err != nil {
			return err
		}
		emit(res)
	}
	return ctx.Err()
}

// peerRole is one poll's answer from one server.
type peerRole struct {
	addr string
	id   uint32
	role string // "" when unreachable
	err  error
}

// roles asks every server for its status, one after the other.
func (f *failover) roles(ctx context.Context) []peerRole {
	out := make([]peerRole, len(f.cfg.Servers))
	for i, addr := range f.cfg.Servers {
		out[i] = f.roleOf(ctx, addr)
	}
	return out
}

func (f *failover) roleOf(ctx context.Context, addr string) peerRole {
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	st, err := f.status(sctx, addr)
	if err != nil {
		return peerRole{addr: addr, err: err}
	}
	return peerRole{addr: addr, id: st.ServerID, role: st.Role}
}

// findLeader returns the index in rs of the one peer reporting leading, or
// -1 when none or more than one does. A standalone peer is ErrNotEnsemble.
func findLeader(rs []peerRole) (int, error) {
	leader := -1
	for i, r := range rs {
		switch r.role {
		case "standalone":
			return -1, fmt.Errorf("%w: %s is a standalone peer", ErrNotEnsemble, r.addr)
		case "leading":
			if leader >= 0 {
				return -1, nil // two claim it (an old epoch's leader not yet stepped down)
			}
			leader = i
		}
	}
	return leader, nil
}

// whole reports whether every peer in rs is leading, following or observing.
func whole(rs []peerRole) bool {
	for _, r := range rs {
		if r.role != "leading" && r.role != "following" && r.role != "observing" {
			return false
		}
	}
	return true
}

func describe(rs []peerRole) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		switch {
		case r.err != nil:
			parts[i] = fmt.Sprintf("%s: %v", r.addr, r.err)
		default:
			parts[i] = fmt.Sprintf("%s: id %d %s", r.addr, r.id, r.role)
		}
	}
	return strings.Join(parts, "; ")
}

// waitWhole waits until every peer answers with a role and exactly one
// leads, and returns the leader's index; ErrNoLeader after Timeout.
func (f *failover) waitWhole(ctx context.Context) (int, error) {
	deadline := time.Now().Add(f.cfg.Timeout)
	for {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		rs := f.roles(ctx)
		leader, err := findLeader(rs)
		if err != nil {
			return -1, err
		}
		if leader >= 0 && whole(rs) {
			return leader, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("%w: the ensemble is not whole after %v (%s)", ErrNoLeader, f.cfg.Timeout, describe(rs))
		}
		pause(ctx, 10*f.cfg.Poll)
	}
}

// writeRec is one write of the writer: when it was issued, when it
// completed, whether it succeeded.
type writeRec struct {
	start, end time.Time
	ok         bool
}

// writeLog collects the writer's records; changed is signalled after each.
type writeLog struct {
	mu      sync.Mutex
	recs    []writeRec
	changed chan struct{}
}

func newWriteLog() *writeLog { return &writeLog{changed: make(chan struct{}, 1)} }

func (l *writeLog) add(r writeRec) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *writeLog) snapshot() []writeRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// firstOKFrom returns the completion time of the first successful write
// issued at or after t, and whether there is one.
func firstOKFrom(recs []writeRec, t time.Time) (time.Time, bool) {
	for _, r := range recs {
		if r.ok && !r.start.Before(t) {
			return r.end, true
		}
	}
	return time.Time{}, false
}

// waitFirstOK waits, on the writer's signal, for the first successful write
// issued at or after t; false after timeout or when ctx ends.
func (l *writeLog) waitFirstOK(ctx context.Context, t time.Time, timeout time.Duration) (time.Time, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		end, ok := firstOKFrom(l.recs, t)
		l.mu.Unlock()
		if ok {
			return end, true
		}
		select {
		case <-l.changed:
		case <-timer.C:
			return time.Time{}, false
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

// writeStats are the figures measured from the writer's records.
type writeStats struct {
	firstWrite  time.Duration // kill -> first successful write issued at or after it; -1 if none
	maxGap      time.Duration // between successive successful completions
	errors      int
	writesAfter int // successful writes issued after rejoined (0 when rejoined is zero)
}

// measure computes the writer's figures for a kill at kill and a rejoin at
// rejoined (zero: no rejoin).
func measure(recs []writeRec, kill, rejoined time.Time) writeStats {
	s := writeStats{firstWrite: -1}
	if end, ok := firstOKFrom(recs, kill); ok {
		s.firstWrite = end.Sub(kill)
	}
	var last time.Time
	for _, r := range recs {
		if !r.ok {
			s.errors++
			continue
		}
		if !last.IsZero() {
			s.maxGap = max(s.maxGap, r.end.Sub(last))
		}
		last = r.end
		if !rejoined.IsZero() && r.start.After(rejoined) {
			s.writesAfter++
		}
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// expand replaces every %d in pattern with id.
func expand(pattern string, id uint32) string {
	return strings.ReplaceAll(pattern, "%d", strconv.FormatUint(uint64(id), 10))
}

func readPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("loadgen: pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("loadgen: pid file %s: no pid in %q", file, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// iter runs one iteration: whole ensemble, writer, warm-up, kill the
// leader, new leader, first write, restart, rejoin, settle.
func (f *failover) iter(ctx context.Context, it int) (FailoverResult, error) {
	res := FailoverResult{Backend: "zabkit", Workload: "failover", Iter: it, Killed: -1, NewLeader: -1}
	if _, err := f.waitWhole(ctx); err != nil {
		return res, err
	}
	w, err := f.openWriter(ctx, it)
	if err != nil {
		return res, err
	}
	defer w.close()
	wlog := newWriteLog()
	wctx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			t0 := time.Now()
			err := w.write(wctx)
			if err != nil && wctx.Err() != nil {
				return // cut off by the stop, not a failure of the ensemble
			}
			wlog.add(writeRec{start: t0, end: time.Now(), ok: err == nil})
			if err != nil {
				pause(wctx, time.Millisecond)
			}
		}
	}()
	stop := func() { stopWriter(); wg.Wait() }
	defer stop()
	fail := func(msg string) {
		if res.FirstErr == "" {
			res.FirstErr = msg
		}
	}

	pause(ctx, f.cfg.Warmup)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	rs := f.roles(ctx)
	li, err := findLeader(rs)
	if err != nil {
		return res, err
	}
	if li < 0 {
		return res, fmt.Errorf("%w: after the warm-up (%s)", ErrNoLeader, describe(rs))
	}
	leader := rs[li]
	res.Killed = int(leader.id)
	pidFile := expand(f.cfg.PidFilePattern, leader.id)
	pid, err := readPid(pidFile)
	if err != nil {
		return res, err
	}
	f.logf("iteration %d: kill -9 the leader, server %d (pid %d, %s)", it, leader.id, pid, leader.addr)
	tKill := time.Now()
	if err := f.kill(pid); err != nil {
		return res, fmt.Errorf("loadgen: kill %d (from %s): %w", pid, pidFile, err)
	}

	// A surviving peer reports leading.
	deadline := tKill.Add(f.cfg.Timeout)
	for res.NewLeader < 0 && ctx.Err() == nil {
		for i, addr := range f.cfg.Servers {
			if i == li {
				continue
			}
			if r := f.roleOf(ctx, addr); r.role == "leading" {
				res.NewLeader, res.NewLeaderMs = int(r.id), ms(time.Since(tKill))
				break
			}
		}
		if res.NewLeader >= 0 {
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("no surviving peer leads after %v", f.cfg.Timeout))
			break
		}
		pause(ctx, f.cfg.Poll)
	}
	// The first successful write issued at or after the kill.
	if end, ok := wlog.waitFirstOK(ctx, tKill, time.Until(deadline)); ok {
		res.FirstWriteMs = ms(end.Sub(tKill))
		f.logf("iteration %d: new leader %d after %.0f ms, first write after %.0f ms", it, res.NewLeader, res.NewLeaderMs, res.FirstWriteMs)
	} else {
		fail(fmt.Sprintf("no successful write within %v of the kill", f.cfg.Timeout))
	}
	pause(ctx, f.cfg.Settle)

	var rejoined time.Time
	if f.cfg.Restart != "" && ctx.Err() == nil {
		command := expand(f.cfg.Restart, leader.id)
		f.logf("iteration %d: restart server %d: %s", it, leader.id, command)
		tRe := time.Now()
		restartErr := f.restart(ctx, command)
		if restartErr != nil {
			fail(fmt.Sprintf("restart command: %v", restartErr))
		}
		deadline := tRe.Add(f.cfg.Timeout)
		for restartErr == nil && ctx.Err() == nil {
			if r := f.roleOf(ctx, leader.addr); r.role == "following" || r.role == "leading" {
				rejoined = time.Now()
				res.RejoinMs, res.RejoinMode = ms(rejoined.Sub(tRe)), r.role
				f.logf("iteration %d: server %d %s after %.0f ms", it, leader.id, r.role, res.RejoinMs)
				break
			}
			if time.Now().After(deadline) {
				fail(fmt.Sprintf("server %d did not rejoin within %v", leader.id, f.cfg.Timeout))
				break
			}
			pause(ctx, 2*f.cfg.Poll)
		}
		pause(ctx, f.cfg.Settle)
	}
	stop()
	s := measure(wlog.snapshot(), tKill, rejoined)
	res.MaxGapMs, res.WriteErrors, res.WritesAfter = ms(s.maxGap), s.errors, s.writesAfter
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// FormatFailover writes res as one human-readable line.
func FormatFailover(w io.Writer, res FailoverResult) {
	fmt.Fprintf(w, "failover iter=%d killed=%d new_leader=%d new_leader_ms=%.0f first_write_ms=%.0f max_write_gap_ms=%.0f write_errors=%d rejoin_ms=%.0f (%s) writes_ok_after_rejoin=%d\n",
		res.Iter, res.Killed, res.NewLeader, res.NewLeaderMs, res.FirstWriteMs, res.MaxGapMs, res.WriteErrors,
		res.RejoinMs, cmp.Or(res.RejoinMode, "no restart"), res.WritesAfter)
	if res.FirstErr != "" {
		fmt.Fprintf(w, "         first error: %s\n", res.FirstErr)
	}
}

// FormatFailoverSummary writes the medians of the iterations that found a
// new leader and wrote: first_write_ms first, the figure compared with
// ZooKeeper.
func FormatFailoverSummary(w io.Writer, results []FailoverResult) {
	var first, lead []float64
	for _, r := range results {
		if r.FirstWriteMs > 0 {
			first = append(first, r.FirstWriteMs)
		}
		if r.NewLeader >= 0 {
			lead = append(lead, r.NewLeaderMs)
		}
	}
	fmt.Fprintf(w, "failover: %d iterations, median first_write_ms=%.0f (of %d), median new_leader_ms=%.0f (of %d)\n",
		len(results), median(first), len(first), median(lead), len(lead))
}

// median returns the median of v (the mean of the middle two for an even
// count), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
