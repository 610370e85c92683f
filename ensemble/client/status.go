package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
)

// PeerStatus asks the peer at addr for its status (role, epoch, last zxid,
// sessions, znodes, digest, members) without opening a session, so it works
// while the peer is looking for a leader too. It returns the dial or I/O
// error, ctx's error, or an error wrapping wire.ErrMarshalling for a
// malformed answer.
func PeerStatus(ctx context.Context, addr string) (*wire.PeerStatus, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	w := wire.NewWriter(nc, wire.DefaultMaxFrame)
	if err := w.WriteConnectRequest(&wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Admin: wire.AdminStatus}); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	frame, err := wire.ReadFrame(bufio.NewReader(nc), 16<<20, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	var resp wire.ConnectResponse
	if err := wire.DecodeConnectResponse(frame, &resp); err != nil {
		return nil, err
	}
	if resp.Code != wire.CodeOK {
		return nil, fmt.Errorf("status of %s: %w", addr, resp.Code.Err(resp.Message))
	}
	var st wire.PeerStatus
	if err := wire.DecodePeerStatus(resp.Status, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
