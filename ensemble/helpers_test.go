package ensemble

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// testLogger logs to stderr when ZABKIT_TEST_LOG is set, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("ZABKIT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// testConfig returns a config on loopback port 0 with data in a temp dir
// and short ticks, so session tests run quickly.
func testConfig(t testing.TB) Config {
	return Config{
		DataDir:           t.TempDir(),
		ClientAddr:        "127.0.0.1:0",
		TickTime:          10 * time.Millisecond,
		MinSessionTimeout: 50 * time.Millisecond,
		MaxSessionTimeout: 10 * time.Second,
		Logger:            testLogger(),
	}
}

// testSegmentBytes keeps test logs small: a restart scans the preallocated
// tail of the last segment, and the crashable FS copies whole files.
const testSegmentBytes = 1 << 20

// startServer starts a server with cfg and stops it when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	s.walSegmentBytes = testSegmentBytes
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil && !errors.Is(err, ErrNotStarted) {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// stopServer stops s now (the cleanup then does nothing).
func stopServer(t testing.TB, s *Server) {
	t.Helper()
	require.NoError(t, s.Stop(context.Background()))
}

// rawClient speaks the wire protocol by hand, for tests that need to see
// or break the protocol itself.
type rawClient struct {
	t      testing.TB
	nc     net.Conn
	r      *bufio.Reader
	w      *wire.Writer
	xid    int64
	sess   tree.SessionID
	pw     []byte
	events []tree.Event // watch events seen while waiting for replies, in order
	seq    []string     // "event" or "reply" in arrival order
}

// dialRaw opens a raw connection to s.
func dialRaw(t testing.TB, addr net.Addr) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc, r: bufio.NewReader(nc), w: wire.NewWriter(nc, 0)}
}

// newSession dials s and opens a new session with timeout.
func newSession(t testing.TB, addr net.Addr, timeout time.Duration) *rawClient {
	t.Helper()
	c := dialRaw(t, addr)
	resp := c.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: int32(timeout / time.Millisecond)})
	require.Equal(t, wire.CodeOK, resp.Code, resp.Message)
	return c
}

// connect sends a handshake and returns the answer.
func (c *rawClient) connect(req wire.ConnectRequest) wire.ConnectResponse {
	c.t.Helper()
	require.NoError(c.t, c.w.WriteConnectRequest(&req))
	require.NoError(c.t, c.w.Flush())
	body := c.readFrame()
	require.NotNil(c.t, body, "connection closed before the connect response")
	var resp wire.ConnectResponse
	require.NoError(c.t, wire.DecodeConnectResponse(body, &resp))
	if resp.Code == wire.CodeOK {
		c.sess, c.pw = resp.SessionID, resp.Password
	}
	return resp
}

// readFrame reads one frame, or returns nil if the connection ended.
func (c *rawClient) readFrame() []byte {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := wire.ReadFrame(c.r, 0, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("timed out waiting for a frame")
		}
		return nil
	}
	return body
}

// send writes req (with the next xid unless req.Xid is set) and returns its xid.
func (c *rawClient) send(req wire.Request) int64 {
	c.t.Helper()
	if req.Xid == 0 {
		c.xid++
		req.Xid = c.xid
	}
	require.NoError(c.t, c.w.WriteRequest(&req))
	require.NoError(c.t, c.w.Flush())
	return req.Xid
}

// recv reads the next response (reply or event); ok is false when the
// connection ended.
func (c *rawClient) recv() (wire.Response, bool) {
	c.t.Helper()
	body := c.readFrame()
	if body == nil {
		return wire.Response{}, false
	}
	var resp wire.Response
	require.NoError(c.t, wire.DecodeResponse(body, &resp))
	if resp.Xid == wire.XidWatchEvent {
		require.NotNil(c.t, resp.Event)
		c.events = append(c.events, *resp.Event)
		c.seq = append(c.seq, "event:"+resp.Event.Path)
	} else {
		c.seq = append(c.seq, "reply")
	}
	return resp, true
}

// reply reads until the reply to xid, keeping events seen on the way.
func (c *rawClient) reply(xid int64) wire.Response {
	c.t.Helper()
	for {
		resp, ok := c.recv()
		require.True(c.t, ok, "connection closed waiting for xid %d", xid)
		if resp.Xid == wire.XidWatchEvent {
			continue
		}
		require.Equal(c.t, xid, resp.Xid, "reply out of order")
		return resp
	}
}

// call sends req and waits for its reply.
func (c *rawClient) call(req wire.Request) wire.Response {
	c.t.Helper()
	return c.reply(c.send(req))
}

// event waits for the next watch event.
func (c *rawClient) event() tree.Event {
	c.t.Helper()
	if len(c.events) > 0 {
		ev := c.events[0]
		c.events = c.events[1:]
		return ev
	}
	for {
		resp, ok := c.recv()
		require.True(c.t, ok, "connection closed waiting for an event")
		if resp.Xid == wire.XidWatchEvent {
			ev := c.events[len(c.events)-1]
			c.events = c.events[:len(c.events)-1]
			return ev
		}
		c.t.Fatalf("unexpected reply %+v while waiting for an event", resp)
	}
}

// closed reports whether the server closed the connection (reading
// whatever is left first).
func (c *rawClient) closed() bool {
	c.t.Helper()
	for {
		if _, ok := c.recv(); !ok {
			return true
		}
	}
}

// create is a convenience for OpCreate that requires success.
func (c *rawClient) create(path string, data []byte, mode tree.CreateMode) string {
	c.t.Helper()
	resp := c.call(wire.Request{Op: wire.OpCreate, Path: path, Data: data, Mode: mode})
	require.Equal(c.t, wire.CodeOK, resp.Code, "create %s: %s", path, resp.Message)
	return resp.Path
}
