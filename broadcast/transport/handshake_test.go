package transport

import (
	"bufio"
	"net"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func members(ids ...uint64) func(uint64) bool {
	return func(id uint64) bool { return slices.Contains(ids, id) }
}

// tcpPair returns the two ends of a loopback TCP connection: writes are
// buffered by the kernel, so a refusal nobody reads does not block.
func tcpPair(t *testing.T) (dialer, listener net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	l := <-accepted
	require.NotNil(t, l)
	t.Cleanup(func() { _ = d.Close(); _ = l.Close() })
	return d, l
}

type handshakeResult struct {
	from      uint64
	listenErr error
	dialErr   error
}

// runHandshake runs both sides of one handshake over loopback TCP.
func runHandshake(t *testing.T, listener, dialer *handshaker, to uint64) handshakeResult {
	t.Helper()
	dc, lc := tcpPair(t)
	var res handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.from, res.listenErr = listener.accept(bufio.NewReader(lc), lc, nonce{1})
		_ = lc.Close() // as the transport does: the dialer then sees EOF, not a hang
	}()
	res.dialErr = dialer.dial(bufio.NewReader(dc), dc, to, nonce{2})
	if res.dialErr != nil {
		_ = dc.Close()
	}
	<-done
	return res
}

func TestHandshake(t *testing.T) {
	ids := members(1, 2, 3)
	l := newHandshaker("zk", "s3cret", 1, ids)
	cases := []struct {
		name       string
		dialer     *handshaker
		to         uint64
		listenFail string // substring of the listener's error; "" for success
		dialFail   string
	}{
		{name: "ok", dialer: newHandshaker("zk", "s3cret", 2, ids), to: 1},
		{name: "wrong cluster id", dialer: newHandshaker("other", "s3cret", 2, ids), to: 1,
			listenFail: "refused by peer", dialFail: "cluster id"},
		{name: "wrong secret", dialer: newHandshaker("zk", "guess", 2, ids), to: 1,
			listenFail: "bad MAC", dialFail: "refused by peer"},
		{name: "stranger", dialer: newHandshaker("zk", "s3cret", 9, ids), to: 1,
			listenFail: "not a member", dialFail: "refused by peer"},
		{name: "claims the listener's id", dialer: newHandshaker("zk", "s3cret", 1, ids), to: 1,
			listenFail: "this member's id", dialFail: "refused by peer"},
		{name: "reached the wrong member", dialer: newHandshaker("zk", "s3cret", 2, ids), to: 3,
			listenFail: "refused by peer", dialFail: "reached member 1, want 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runHandshake(t, l, tc.dialer, tc.to)
			if tc.listenFail == "" {
				require.NoError(t, res.listenErr)
				require.NoError(t, res.dialErr)
				assert.Equal(t, tc.dialer.id, res.from)
				return
			}
			require.ErrorIs(t, res.listenErr, ErrHandshake)
			assert.Contains(t, res.listenErr.Error(), tc.listenFail)
			require.ErrorIs(t, res.dialErr, ErrHandshake)
			assert.Contains(t, res.dialErr.Error(), tc.dialFail)
		})
	}
}

func TestHandshakeWithoutSecretChecksIDs(t *testing.T) {
	ids := members(1, 2)
	res := runHandshake(t, newHandshaker("zk", "", 1, ids), newHandshaker("zk", "", 2, ids), 1)
	require.NoError(t, res.listenErr)
	require.NoError(t, res.dialErr)
	assert.Equal(t, uint64(2), res.from)
}

// A listener that does not know the secret cannot prove itself: the dialer
// refuses it even though every id matches.
func TestDialerChecksTheListenersProof(t *testing.T) {
	ids := members(1, 2)
	dc, lc := tcpPair(t)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		// A fake listener: it knows the ids, not the secret, and answers
		// whatever auth comes with a proof under its own key.
		fake := newHandshaker("zk", "guess", 1, func(uint64) bool { return true })
		r := bufio.NewReader(lc)
		e := encoder{b: []byte{0, 0, 0, 0, kindHello}}
		e.arrayLen(4)
		e.uint(handshakeVersion)
		e.str("zk")
		e.uint(1)
		e.bin(make([]byte, nonceSize))
		_ = sendFrame(lc, e.b)
		if _, err := readHandshake(r, kindAuth); err != nil {
			return
		}
		proof := fake.mac(welcomeLabel, &nonce{2}, 1, 2)
		e = encoder{b: []byte{0, 0, 0, 0, kindWelcome}}
		e.arrayLen(1)
		e.bin(proof[:])
		_ = sendFrame(lc, e.b)
	}()
	err := newHandshaker("zk", "s3cret", 2, ids).dial(bufio.NewReader(dc), dc, 1, nonce{2})
	require.ErrorIs(t, err, ErrHandshake)
	assert.Contains(t, err.Error(), "bad MAC")
}
