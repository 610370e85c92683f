//go:build unix

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

const (
	// waitFor bounds every wait for the ensemble to reach a state.
	waitFor = 30 * time.Second
	// poll is how often those waits look.
	poll = 20 * time.Millisecond
	// statusTimeout bounds one status request (a stopped peer never answers).
	statusTimeout = 500 * time.Millisecond
	// tailLines is how much of each peer's log a failed test prints.
	tailLines = 60
)

// clusterOpts tweaks the servers a cluster starts.
type clusterOpts struct {
	// snapshotEvery is --snapshot-every (0: the server's default).
	snapshotEvery int
	// extra flags for every server.
	extra []string
}

// cluster is an ensemble of `zabkit server` processes on 127.0.0.1, one
// data dir and one log file per peer. Only the test's goroutine calls its
// methods.
type cluster struct {
	t         *testing.T
	bin       string
	dir       string
	opts      clusterOpts
	peersFlag string
	clients   []string     // client address of peer i+1
	procs     []*proc      // peer i+1's latest run; nil until started
	began     time.Time    // for the harness's own log lines
	secret    string       // ZABKIT_PEER_SECRET for every peer
	logs      []*os.File   // peer i+1's log, appended across restarts
	starts    []int        // how many times peer i+1 was started
	runStart  []int64      // offset in peer i+1's log where its latest run began
	stopped   map[int]bool // SIGSTOPped peers
}

// proc is one run of one peer.
type proc struct {
	id   int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// freeAddrs returns n distinct free TCP addresses on 127.0.0.1. It picks
// ports below the kernel's ephemeral range, so that neither the kernel
// (for port 0 listeners and outgoing connections of every test running
// meanwhile) nor anyone else is likely to take one before a peer binds it,
// or when a killed peer binds it again; without such ports it takes
// ephemeral ones.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	low := ephemeralLow()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	var out []string
	for tries := 0; len(out) < n && tries < 100*n && low > 10000; tries++ {
		port := 10000 + rand.IntN(low-10000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for len(out) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out
}

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux; 32768 elsewhere).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return v
}

// newCluster starts n peers and waits until each answers status. At the end
// of the test every process is killed (SIGKILL, even a stopped one) and
// waited for; if the test failed, the tail of every peer's log is printed.
func newCluster(t *testing.T, n int, opts clusterOpts) *cluster {
	t.Helper()
	c := &cluster{
		t: t, bin: needBinary(t), dir: t.TempDir(), opts: opts, began: time.Now(),
		secret:   "e2e-peer-secret-0123456789abcdef",
		procs:    make([]*proc, n),
		logs:     make([]*os.File, n),
		starts:   make([]int, n),
		runStart: make([]int64, n),
		stopped:  map[int]bool{},
	}
	addrs := freeAddrs(t, 2*n)
	var specs []string
	for i := range n {
		specs = append(specs, fmt.Sprintf("%d=%s", i+1, addrs[i]))
		c.clients = append(c.clients, addrs[n+i])
	}
	c.peersFlag = strings.Join(specs, ",")
	t.Cleanup(c.shutdown)
	for i := range n {
		f, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("peer%d.log", i+1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		c.logs[i] = f
	}
	for id := 1; id <= n; id++ {
		c.start(id)
	}
	c.logf("started %d peers: --peers %s, clients on %s", n, c.peersFlag, strings.Join(c.clients, ","))
	return c
}

// logf logs a harness event with the time since the cluster started.
func (c *cluster) logf(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("[%7.3fs] %s", time.Since(c.began).Seconds(), fmt.Sprintf(format, args...))
}

// ids returns 1..n.
func (c *cluster) ids() []int {
	var out []int
	for i := range c.procs {
		out = append(out, i+1)
	}
	return out
}

// servers returns every peer's client address, running or not.
func (c *cluster) servers() []string { return append([]string(nil), c.clients...) }

// addr returns peer id's client address.
func (c *cluster) addr(id int) string { return c.clients[id-1] }

// dataDir returns peer id's data directory.
func (c *cluster) dataDir(id int) string { return filepath.Join(c.dir, fmt.Sprintf("data%d", id)) }

// pidFile returns peer id's --pid-file.
func (c *cluster) pidFile(id int) string { return filepath.Join(c.dir, fmt.Sprintf("peer%d.pid", id)) }

// start (re)starts peer id on its data dir and waits until it answers
// status. It fails the test if the process exits first.
func (c *cluster) start(id int) {
	c.t.Helper()
	if p := c.procs[id-1]; p != nil && p.alive() {
		c.t.Fatalf("start of peer %d: it is still running", id)
	}
	args := []string{"server", "--id", strconv.Itoa(id), "--peers", c.peersFlag,
		"--client-addr", c.addr(id), "--data", c.dataDir(id), "--pid-file", c.pidFile(id),
		"--cluster-id", "e2e", "--zab-tick", "20ms", "--log-level", "info"}
	if c.opts.snapshotEvery > 0 {
		args = append(args, "--snapshot-every", strconv.Itoa(c.opts.snapshotEvery))
	}
	args = append(args, c.opts.extra...)
	f := c.logs[id-1]
	off, err := f.Seek(0, io.SeekEnd)
	require.NoError(c.t, err)
	c.starts[id-1]++
	_, err = fmt.Fprintf(f, "=== e2e: start %d of peer %d at %.3fs: zabkit %s\n", c.starts[id-1], id,
		time.Since(c.began).Seconds(), strings.Join(args, " "))
	require.NoError(c.t, err)
	c.runStart[id-1] = off

	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "ZABKIT_PEER_SECRET="+c.secret)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	require.NoError(c.t, cmd.Start())
	p := &proc{id: id, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.procs[id-1] = p
	delete(c.stopped, id)
	require.Eventually(c.t, func() bool {
		if !p.alive() {
			return true
		}
		_, err := c.status(id)
		return err == nil
	}, waitFor, poll, "peer %d never answered status", id)
	if !p.alive() {
		c.t.Fatalf("peer %d exited at start: %v\n%s", id, p.err, c.runLog(id))
	}
}

// kill sends SIGKILL to peer id (kill -9, its pid read from --pid-file) and
// waits for it to exit.
func (c *cluster) kill(id int) {
	c.t.Helper()
	p := c.procs[id-1]
	require.NotNil(c.t, p)
	b, err := os.ReadFile(c.pidFile(id))
	require.NoError(c.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(c.t, err)
	require.Equal(c.t, p.cmd.Process.Pid, pid, "pid file of peer %d", id)
	require.NoError(c.t, syscall.Kill(pid, syscall.SIGKILL))
	<-p.done
	delete(c.stopped, id)
	c.logf("kill -9 peer %d (pid %d)", id, pid)
}

// stop sends SIGTERM to peer id and waits for a clean exit.
func (c *cluster) stop(id int) {
	c.t.Helper()
	p := c.procs[id-1]
	require.NotNil(c.t, p)
	require.NoError(c.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(waitFor):
		c.t.Fatalf("peer %d did not exit within %v of SIGTERM", id, waitFor)
	}
	require.NoError(c.t, p.err, "peer %d's exit after SIGTERM", id)
	c.logf("stopped peer %d (SIGTERM)", id)
}

// pause sends SIGSTOP to peer id: it is alive but answers nothing, as a
// peer on the far side of a partition.
func (c *cluster) pause(id int) {
	c.t.Helper()
	require.NoError(c.t, c.procs[id-1].cmd.Process.Signal(syscall.SIGSTOP))
	c.stopped[id] = true
	c.logf("SIGSTOP peer %d", id)
}

// resume sends SIGCONT to a paused peer.
func (c *cluster) resume(id int) {
	c.t.Helper()
	require.NoError(c.t, c.procs[id-1].cmd.Process.Signal(syscall.SIGCONT))
	delete(c.stopped, id)
	c.logf("SIGCONT peer %d", id)
}

// running returns the peers whose process runs and is not stopped.
func (c *cluster) running() []int {
	var out []int
	for i, p := range c.procs {
		if p != nil && p.alive() && !c.stopped[i+1] {
			out = append(out, i+1)
		}
	}
	return out
}

// shutdown kills every process still alive (a stopped one too: SIGKILL
// ends it) and waits for it; after a failure it prints every peer's log
// tail.
func (c *cluster) shutdown() {
	for _, p := range c.procs {
		if p != nil && p.alive() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range c.procs {
		if p != nil {
			<-p.done
		}
	}
	for i := range c.procs {
		// A binary built with -race (ZABKIT_E2E_RACE=1) reports here.
		if strings.Contains(c.tail(i+1, 1<<30), "WARNING: DATA RACE") {
			c.t.Errorf("peer %d's log holds a data race report", i+1)
		}
	}
	if c.t.Failed() {
		for i := range c.procs {
			c.t.Logf("---- last %d lines of peer %d's log ----\n%s", tailLines, i+1, c.tail(i+1, tailLines))
		}
		c.keepLogs()
	}
	for _, f := range c.logs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// keepLogs copies every peer's whole log out of the test's temp dir (which
// goes away) into one that stays, and prints where.
func (c *cluster) keepLogs() {
	dir, err := os.MkdirTemp("", "zabkit-e2e-logs-")
	if err == nil {
		for _, f := range c.logs {
			if f == nil {
				continue
			}
			var b []byte
			if b, err = os.ReadFile(f.Name()); err != nil {
				break
			}
			if err = os.WriteFile(filepath.Join(dir, filepath.Base(f.Name())), b, 0o644); err != nil {
				break
			}
		}
	}
	if err != nil {
		c.t.Logf("cannot keep the peers' logs: %v", err)
		return
	}
	c.t.Logf("the peers' whole logs are in %s", dir)
}

// tail returns the last n lines of peer id's log.
func (c *cluster) tail(id, n int) string {
	if c.logs[id-1] == nil {
		return ""
	}
	b, err := os.ReadFile(c.logs[id-1].Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// runLog returns peer id's log since its latest start.
func (c *cluster) runLog(id int) string {
	b, err := os.ReadFile(c.logs[id-1].Name())
	if err != nil {
		return err.Error()
	}
	return string(b[min(int64(len(b)), c.runStart[id-1]):])
}

// status asks peer id for its status.
func (c *cluster) status(id int) (*wire.PeerStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	return client.PeerStatus(ctx, c.addr(id))
}

// statuses asks each of ids; a missing entry did not answer.
func (c *cluster) statuses(ids []int) map[int]*wire.PeerStatus {
	out := map[int]*wire.PeerStatus{}
	for _, id := range ids {
		if st, err := c.status(id); err == nil {
			out[id] = st
		}
	}
	return out
}

// describe renders statuses for a failure message.
func describe(sts map[int]*wire.PeerStatus, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		st := sts[id]
		if st == nil {
			fmt.Fprintf(&b, "\n  peer %d: no answer", id)
			continue
		}
		fmt.Fprintf(&b, "\n  peer %d: %s leader=%d epoch=%d last=%v log=%v committed=%v digest=%#x nodes=%d sessions=%d",
			id, st.Role, st.Leader, st.Epoch, st.LastZxid, st.LogZxid, st.Committed, st.Digest, st.Nodes, st.Sessions)
	}
	return b.String()
}

// leaderOf returns the peer that leads with every other of ids following
// it in the same epoch, or 0. Epoch 0 is discovery (no epoch chosen yet):
// not a leader yet.
func leaderOf(sts map[int]*wire.PeerStatus, ids []int) int {
	lead := 0
	for _, id := range ids {
		st := sts[id]
		if st == nil {
			return 0
		}
		if st.Role == "leading" {
			if lead != 0 {
				return 0
			}
			lead = id
		}
	}
	if lead == 0 || sts[lead].Epoch == 0 {
		return 0
	}
	for _, id := range ids {
		st := sts[id]
		if st.Leader != uint32(lead) || st.Epoch != sts[lead].Epoch {
			return 0
		}
		if id != lead && st.Role != "following" {
			return 0
		}
	}
	return lead
}

// waitLeader waits until every running peer answers and all follow one
// leader in one epoch; it returns the leader and its status.
func (c *cluster) waitLeader() (int, *wire.PeerStatus) {
	c.t.Helper()
	var sts map[int]*wire.PeerStatus
	var ids []int
	lead := 0
	ok := eventually(func() bool {
		ids = c.running()
		sts = c.statuses(ids)
		lead = leaderOf(sts, ids)
		return lead != 0
	})
	if !ok {
		c.t.Fatalf("no leader that every running peer %v follows within %v:%s", ids, waitFor, describe(sts, ids))
	}
	return lead, sts[lead]
}

// waitConverged waits until every running peer answers, leads or follows,
// and all are at the same last zxid with the same digest; it returns that
// zxid and digest.
func (c *cluster) waitConverged() (tree.Zxid, uint64) {
	c.t.Helper()
	var sts map[int]*wire.PeerStatus
	var ids []int
	ok := eventually(func() bool {
		ids = c.running()
		sts = c.statuses(ids)
		if leaderOf(sts, ids) == 0 {
			return false
		}
		first := sts[ids[0]]
		for _, id := range ids[1:] {
			if sts[id].LastZxid != first.LastZxid || sts[id].Digest != first.Digest {
				return false
			}
		}
		return true
	})
	if !ok {
		c.t.Fatalf("running peers %v did not converge on one last zxid and digest within %v:%s", ids, waitFor, describe(sts, ids))
	}
	st := sts[ids[0]]
	c.logf("converged: peers %v at %v, digest %#x, %d znodes", ids, st.LastZxid, st.Digest, st.Nodes)
	return st.LastZxid, st.Digest
}

// eventually polls cond until it holds or waitFor passes; it reports
// whether it held. (require.Eventually, but the caller writes the failure
// message from the last observation.)
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// connect opens a client session on servers (every peer when none given),
// closed at the end of the test.
func (c *cluster) connect(servers ...string) *client.Client {
	c.t.Helper()
	if len(servers) == 0 {
		servers = c.servers()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cl, err := client.Connect(ctx, servers, client.WithSessionTimeout(6*time.Second), client.WithConnectTimeout(time.Second))
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// retry runs op until it succeeds, treating exists-after-a-lost-reply as
// success when okErr says so; it fails the test after waitFor.
func retry(t *testing.T, what string, op func(ctx context.Context) error, okErr ...error) {
	t.Helper()
	var last error
	ok := eventually(func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last = op(ctx)
		if last == nil {
			return true
		}
		for _, e := range okErr {
			if errors.Is(last, e) {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("%s: still failing after %v: %v", what, waitFor, last)
	}
}

// createRetry creates path (persistent), retrying failures; a create whose
// reply was lost may have happened, so ErrNodeExists counts as done.
func createRetry(t *testing.T, cl *client.Client, path string, data []byte) {
	t.Helper()
	retry(t, "create "+path, func(ctx context.Context) error {
		_, err := cl.Create(ctx, path, data, tree.ModePersistent)
		return err
	}, client.ErrNodeExists)
}

// childrenOn returns the children of parent as seen by peer id after a
// Sync on it: a session on that one peer.
func (c *cluster) childrenOn(id int, parent string) map[string]bool {
	c.t.Helper()
	cl := c.connect(c.addr(id))
	defer func() { _ = cl.Close() }()
	var names []string
	retry(c.t, fmt.Sprintf("sync and list %s on peer %d", parent, id), func(ctx context.Context) error {
		if err := cl.Sync(ctx, parent); err != nil {
			return err
		}
		var err error
		names, _, err = cl.Children(ctx, parent)
		return err
	})
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

// logHas reports whether peer id's log since its latest start holds s.
func (c *cluster) logHas(id int, s string) bool {
	return strings.Contains(c.runLog(id), s)
}

// countLines returns how many lines of peer id's current run hold s.
func (c *cluster) countLines(id int, s string) int {
	return bytes.Count([]byte(c.runLog(id)), []byte(s))
}
