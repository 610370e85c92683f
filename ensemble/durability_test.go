package ensemble

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/internal/vfs"
	"github.com/zabkit/zabkit/tree"
)

// restart stops s and starts a new server on the same data (and FS).
func restart(t *testing.T, s *Server) *Server {
	t.Helper()
	stopServer(t, s)
	return startServer(t, s.cfg)
}

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 10*time.Second)
	c.create("/d", []byte("root"), tree.ModePersistent)
	var xids []int64
	for i := range 300 {
		xids = append(xids, c.send(wire.Request{Op: wire.OpCreate, Path: fmt.Sprintf("/d/n%03d", i), Data: []byte(strconv.Itoa(i))}))
	}
	for _, x := range xids {
		require.Equal(t, wire.CodeOK, c.reply(x).Code)
	}
	before := s.Status()
	s = restart(t, s)
	after := s.Status()
	assert.Equal(t, before.LastZxid, after.LastZxid)
	assert.Equal(t, before.Digest, after.Digest)
	assert.Equal(t, before.Nodes, after.Nodes)
	c = newSession(t, s.Addr(), time.Second)
	resp := c.call(wire.Request{Op: wire.OpGetData, Path: "/d/n299"})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, "299", string(resp.Data))
	assert.Greater(t, resp.Zxid, before.LastZxid, "zxids continue after a restart")
}

// TestResumeAfterRestart: a session outlives a server restart; its
// ephemerals are still there and it gets a fresh timeout.
func TestResumeAfterRestart(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 2*time.Second)
	c.create("/eph", nil, tree.ModeEphemeral)
	last := c.call(wire.Request{Op: wire.OpPing}).Zxid
	s = restart(t, s)
	assert.Equal(t, 1, s.Status().Sessions)

	r := dialRaw(t, s.Addr())
	resp := r.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: c.sess, Password: c.pw, LastZxidSeen: last})
	require.Equal(t, wire.CodeOK, resp.Code, resp.Message)
	assert.Equal(t, int32(2000), resp.Timeout)
	eph := r.call(wire.Request{Op: wire.OpGetEphemerals, Path: "/"})
	assert.Equal(t, []string{"/eph"}, eph.Children)
	// A new session after the restart never reuses an id.
	n := newSession(t, s.Addr(), time.Second)
	assert.NotEqual(t, c.sess, n.sess)
	assert.Greater(t, n.sess, c.sess)
}

// TestSessionsRestoredExpire: a session nobody resumes after a restart
// expires after its (fresh) timeout and its ephemerals go.
func TestSessionsRestoredExpire(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 100*time.Millisecond)
	c.create("/gone-soon", nil, tree.ModeEphemeral)
	_ = c.nc.Close()
	s = restart(t, s)
	w := newSession(t, s.Addr(), 10*time.Second)
	resp := w.call(wire.Request{Op: wire.OpExists, Path: "/gone-soon", Watch: true})
	if resp.Code == wire.CodeOK {
		ev := w.event()
		assert.Equal(t, tree.EventNodeDeleted, ev.Type)
	}
	require.Eventually(t, func() bool { return s.Status().Sessions == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestSnapshotsAndPurge(t *testing.T) {
	cfg := testConfig(t)
	cfg.SnapshotEvery = 40
	cfg.SnapshotRetain = 2
	s, err := New(cfg)
	require.NoError(t, err)
	s.walSegmentBytes = 16 << 10
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	c := newSession(t, s.Addr(), 10*time.Second)
	c.create("/s", nil, tree.ModePersistent)
	for i := range 400 {
		c.create(fmt.Sprintf("/s/%04d", i), make([]byte, 100), tree.ModePersistent)
	}
	require.Eventually(t, func() bool {
		names, _ := os.ReadDir(filepath.Join(cfg.DataDir, "snap"))
		return len(names) >= 1
	}, 5*time.Second, 5*time.Millisecond)
	before := s.Status()
	stopServer(t, s)
	snaps, err := os.ReadDir(filepath.Join(cfg.DataDir, "snap"))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(snaps), 3, "old snapshots are dropped: %v", snaps)
	segs, err := os.ReadDir(filepath.Join(cfg.DataDir, "log"))
	require.NoError(t, err)
	t.Logf("%d snapshots, %d log segments after %v", len(snaps), len(segs), before.LastZxid)

	s2 := startServer(t, cfg)
	after := s2.Status()
	assert.Equal(t, before.LastZxid, after.LastZxid)
	assert.Equal(t, before.Digest, after.Digest)
}

// logSegments returns the txn log's files, oldest first.
func logSegments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "log"))
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, "log", e.Name()))
		}
	}
	sort.Strings(out)
	require.NotEmpty(t, out)
	return out
}

// lastNonZero returns the offset just past the last non-zero byte of b.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i + 1
		}
	}
	return 0
}

// writeN writes n setData txns to /t and returns the zxid of the last.
func writeN(t *testing.T, s *Server, n int) tree.Zxid {
	c := newSession(t, s.Addr(), 10*time.Second)
	c.create("/t", nil, tree.ModePersistent)
	var last tree.Zxid
	for i := range n {
		resp := c.call(wire.Request{Op: wire.OpSetData, Path: "/t", Data: []byte(strconv.Itoa(i)), Version: -1})
		require.Equal(t, wire.CodeOK, resp.Code)
		last = resp.Zxid
	}
	return last
}

// stopNoSnapshot stops s without the final snapshot (ctx already done), so
// the next start must replay the log.
func stopNoSnapshot(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Stop(ctx), context.Canceled)
}

// TestTornTailCut: a last record cut short (a write whose fsync never
// finished) is dropped on restart; everything before it is there and the
// peer carries on.
func TestTornTailCut(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	last := writeN(t, s, 20)
	stopNoSnapshot(t, s)

	segs := logSegments(t, cfg.DataDir)
	seg := segs[len(segs)-1]
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	end := lastNonZero(b)
	require.Greater(t, end, 8)
	for i := end - 3; i < end; i++ {
		b[i] = 0
	}
	require.NoError(t, os.WriteFile(seg, b, 0o644))

	s = startServer(t, cfg)
	assert.Equal(t, last-1, s.Status().LastZxid, "the torn record is cut, nothing before it")
	c := newSession(t, s.Addr(), time.Second)
	resp := c.call(wire.Request{Op: wire.OpGetData, Path: "/t"})
	assert.Equal(t, "18", string(resp.Data))
	c.create("/after", nil, tree.ModePersistent)
	s = restart(t, s)
	assert.Equal(t, wire.CodeOK, newSession(t, s.Addr(), time.Second).call(wire.Request{Op: wire.OpExists, Path: "/after"}).Code)
}

// TestCorruptCommittedRecordRefused: damage inside the log, with valid
// records after it, stops Start with an error instead of losing data.
func TestCorruptCommittedRecordRefused(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	writeN(t, s, 50)
	stopNoSnapshot(t, s)

	segs := logSegments(t, cfg.DataDir)
	seg := segs[len(segs)-1]
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	end := lastNonZero(b)
	b[end/2] ^= 0x55
	require.NoError(t, os.WriteFile(seg, b, 0o644))

	s2, err := New(cfg)
	require.NoError(t, err)
	err = s2.Start(context.Background())
	require.Error(t, err)
	t.Logf("start refused: %v", err)
	require.ErrorIs(t, s2.Stop(context.Background()), ErrNotStarted)
}

// TestLogWithoutSnapshotRefused: a log whose start was purged, with no
// snapshot to continue, is refused (ZOOKEEPER-2325).
func TestLogWithoutSnapshotRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.SnapshotEvery = 30
	cfg.SnapshotRetain = 1
	s, err := New(cfg)
	require.NoError(t, err)
	s.walSegmentBytes = 4 << 10
	require.NoError(t, s.Start(context.Background()))
	writeN(t, s, 300)
	stopServer(t, s)
	if segs := logSegments(t, cfg.DataDir); len(segs) > 0 {
		b, err := os.ReadFile(segs[0])
		require.NoError(t, err)
		require.NotZero(t, lastNonZero(b))
	}
	require.NoError(t, os.RemoveAll(filepath.Join(cfg.DataDir, "snap")))
	s2, err := New(cfg)
	require.NoError(t, err)
	err = s2.Start(context.Background())
	require.ErrorIs(t, err, ErrLogGap)
}

// TestFsyncFailureHaltsWrites: once an fsync fails, no write is
// acknowledged again; reads go on.
func TestFsyncFailureHaltsWrites(t *testing.T) {
	cfg := testConfig(t)
	fs := vfs.NewCrashable()
	cfg.FS = fs
	cfg.DataDir = "/data"
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 10*time.Second)
	c.create("/ok", []byte("v"), tree.ModePersistent)

	fs.Inject(vfs.Fault{Op: vfs.OpSync})
	for range 3 {
		resp := c.call(wire.Request{Op: wire.OpCreate, Path: "/no"})
		assert.Equal(t, wire.CodeSystemError, resp.Code, resp.Message)
	}
	resp := c.call(wire.Request{Op: wire.OpGetData, Path: "/ok"})
	assert.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, wire.CodeNoNode, c.call(wire.Request{Op: wire.OpExists, Path: "/no"}).Code)
	fs.ClearFaults()
	resp = c.call(wire.Request{Op: wire.OpCreate, Path: "/still-no"})
	assert.Equal(t, wire.CodeSystemError, resp.Code, "writes stay halted after a failed fsync")
	_ = s.Stop(context.Background())
}

// TestCrashKeepsAcknowledgedWrites runs clients against a server on a
// crashable FS, takes what a power cut would leave (with torn tails) at a
// random moment, and starts a new server on it: every write acknowledged
// before the cut must be there.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ZABKIT_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (ZABKIT_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	for round := range 3 {
		fs := vfs.NewCrashable()
		cfg := testConfig(t)
		cfg.FS, cfg.DataDir = fs, "/data"
		cfg.SnapshotEvery = 50 + rng.IntN(100)
		s := startServer(t, cfg)

		var mu sync.Mutex
		acked := map[string]string{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				writeUntil(s.Addr().String(), w, stop, func(path, data string) {
					mu.Lock()
					acked[path] = data
					mu.Unlock()
				})
			}()
		}
		target := 100 + rng.IntN(200)
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= target
		}, 20*time.Second, time.Millisecond)
		mu.Lock()
		want := make(map[string]string, len(acked))
		for k, v := range acked {
			want[k] = v
		}
		survivor := fs.Survivor(rng) // everything acked so far was fsynced before its ack
		mu.Unlock()
		close(stop)
		wg.Wait()
		stopServer(t, s)

		cfg2 := cfg
		cfg2.FS = survivor
		s2 := startServer(t, cfg2)
		checkPresent(t, s2.Addr(), want)
		t.Logf("round %d: %d acknowledged writes survived, recovered to %v", round, len(want), s2.Status().LastZxid)
		stopServer(t, s2)
	}
}

// writeUntil creates /w<id>-<n> nodes (then sets them) one at a time until
// stop or an error, calling ack for each acknowledged write.
func writeUntil(addr string, id int, stop <-chan struct{}, ack func(path, data string)) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	w := wire.NewWriter(nc, 0)
	roundTrip := func(write func() error, decode func([]byte) error) error {
		if err := write(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		body, err := wire.ReadFrame(r, 0, nil)
		if err != nil {
			return err
		}
		return decode(body)
	}
	var cr wire.ConnectResponse
	err = roundTrip(func() error {
		return w.WriteConnectRequest(&wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: 10000})
	}, func(b []byte) error { return wire.DecodeConnectResponse(b, &cr) })
	if err != nil || cr.Code != wire.CodeOK {
		return
	}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		path := fmt.Sprintf("/w%02d-%06d", id, n)
		data := fmt.Sprintf("%d-%d", id, n)
		req := wire.Request{Xid: int64(n + 1), Op: wire.OpCreate, Path: path, Data: []byte(data)}
		if n%4 == 3 { // every fourth: set the previous node again
			path = fmt.Sprintf("/w%02d-%06d", id, n-1)
			req = wire.Request{Xid: int64(n + 1), Op: wire.OpSetData, Path: path, Data: []byte(data), Version: -1}
		}
		var resp wire.Response
		err := roundTrip(func() error { return w.WriteRequest(&req) },
			func(b []byte) error { return wire.DecodeResponse(b, &resp) })
		if err != nil || resp.Code != wire.CodeOK || resp.Xid != req.Xid {
			return
		}
		ack(path, data)
	}
}

// checkPresent checks every path holds its data (or, for a node set again
// after the cut, data at least as new).
func checkPresent(t *testing.T, addr net.Addr, want map[string]string) {
	t.Helper()
	c := newSession(t, addr, 10*time.Second)
	missing := 0
	for path, data := range want {
		resp := c.call(wire.Request{Op: wire.OpGetData, Path: path})
		if !assert.Equal(t, wire.CodeOK, resp.Code, "acknowledged %s lost", path) {
			missing++
			continue
		}
		if string(resp.Data) != data {
			// A later write to the same node may have landed after the
			// ack we recorded; it must be newer, never older.
			gotN, _ := strconv.Atoi(strings.SplitN(string(resp.Data), "-", 2)[1])
			wantN, _ := strconv.Atoi(strings.SplitN(data, "-", 2)[1])
			assert.GreaterOrEqual(t, gotN, wantN, "%s went back in time", path)
		}
	}
	require.Zero(t, missing, "acknowledged writes lost")
}

// childEnv names the data dir when the test binary runs as a child server.
const childEnv = "ZABKIT_ENSEMBLE_CHILD_DIR"

// runChild runs a server for TestKill9 in a child process and never
// returns: the parent kills it.
func runChild() {
	s, err := New(Config{DataDir: os.Getenv(childEnv), ClientAddr: "127.0.0.1:0", MaxConnsPerIP: -1,
		SnapshotEvery: 500})
	if err == nil {
		err = s.Start(context.Background())
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", s.Addr().String())
	select {}
}

// TestKill9 runs a server in a child process, has 16 clients write to it,
// kills it with SIGKILL mid-flight, restarts on the same data and checks
// every acknowledged write.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "ADDR "), "child said %q", line)
		addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))

		var mu sync.Mutex
		acked := map[string]string{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				writeUntil(addr, 100*round+w, stop, func(path, data string) {
					mu.Lock()
					acked[path] = data
					mu.Unlock()
				})
			}()
		}
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 500
		}, 30*time.Second, time.Millisecond)
		mu.Lock()
		want := make(map[string]string, len(acked))
		for k, v := range acked {
			want[k] = v
		}
		mu.Unlock()
		// Kill while the writers are still going.
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
		mu.Lock()
		for k, v := range acked { // acks that raced the kill count too
			want[k] = v
		}
		mu.Unlock()

		cfg := testConfig(t)
		cfg.DataDir = dir
		s := startServer(t, cfg)
		checkPresent(t, s.Addr(), want)
		t.Logf("round %d: %d acknowledged writes survived kill -9", round, len(want))
		stopServer(t, s)
	}
}
