package ensemble

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// FuzzRequestFrame sends one arbitrary frame body after a good handshake
// to a live server. Whatever the bytes, the server answers or closes that
// connection, and another client keeps being served.
func FuzzRequestFrame(f *testing.F) {
	for _, req := range []wire.Request{
		{Xid: 1, Op: wire.OpCreate, Path: "/f", Data: []byte("x")},
		{Xid: 2, Op: wire.OpGetChildren, Path: "/", Watch: true, Max: 3},
		{Xid: 3, Op: wire.OpMulti, Ops: []tree.Op{{Type: tree.OpCreate, Path: "/m"}, {Type: tree.OpDelete, Path: "/m", Version: -1}}},
		{Xid: 4, Op: wire.OpSetWatches, RelZxid: 1, Watches: &wire.WatchSet{Data: []string{"/", "/x"}, Child: []string{"bad"}}},
		{Xid: 5, Op: wire.OpRemoveWatches, Path: "/", WatchType: 9},
		{Xid: 6, Op: 250},
	} {
		b, err := wire.AppendRequest(nil, &req)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa1, 'o', 0x10})
	f.Add([]byte{0xc0})

	cfg := testConfig(f)
	cfg.MaxConnsPerIP = -1
	s, err := New(cfg)
	require.NoError(f, err)
	s.walSegmentBytes = testSegmentBytes
	require.NoError(f, s.Start(context.Background()))
	defer func() { require.NoError(f, s.Stop(context.Background())) }()
	good := newSession(f, s.Addr(), 30*time.Second)
	connect, err := wire.AppendConnectRequest(nil, &wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: 5000})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, body []byte) {
		nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		defer nc.Close()
		r := bufio.NewReader(nc)
		require.NoError(t, wire.WriteFrame(nc, connect))
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = wire.ReadFrame(r, 0, nil)
		require.NoError(t, err)
		hdr := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		_, err = nc.Write(append(hdr, body...))
		require.NoError(t, err)
		// Read until a reply, or the close.
		for {
			b, err := wire.ReadFrame(r, 0, nil)
			if err != nil {
				break
			}
			var resp wire.Response
			require.NoError(t, wire.DecodeResponse(b, &resp))
			if resp.Xid != wire.XidWatchEvent {
				break
			}
		}
		good.t = t // the fuzz target's t, not f
		resp := good.call(wire.Request{Op: wire.OpPing})
		require.Equal(t, wire.CodeOK, resp.Code)
	})
}
