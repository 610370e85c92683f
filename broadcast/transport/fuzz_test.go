package transport

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/broadcast"
)

// FuzzDecodeMessage: DecodeMessage never panics, allocates no more than
// the body can describe, and whatever it accepts re-encodes to a body that
// decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	full := fullMessage(f)
	for _, m := range []broadcast.Message{full, proposal(128), ack(), {Type: broadcast.MsgVote}} {
		b, err := AppendMessage(nil, &m)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff})                   // a 2^31-element claim
	f.Add([]byte{0xdc, 0x00, 0x12, 0x01, 0x08, 0xc6, 0x7f, 0xff}) // a huge bin claim
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var m broadcast.Message
		err := DecodeMessage(body, &m)
		runtime.ReadMemStats(&after)
		// A Message, its slices (an Entry is 32 bytes and takes at least
		// 4 body bytes, a Zxid 8 bytes and at least 1), the data copy,
		// and an error's text.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(16*len(body)+16<<10) {
			t.Fatalf("decoding %d bytes allocated %d", len(body), grew)
		}
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, broadcast.Message{}, m)
			return
		}
		again, err := AppendMessage(nil, &m)
		require.NoError(t, err)
		var m2 broadcast.Message
		require.NoError(t, DecodeMessage(again, &m2))
		require.Equal(t, m, m2)
	})
}

// handshakeStreams records what a dialer and a listener send each other in
// a successful handshake, with the nonces the fuzz target uses.
func handshakeStreams(f *testing.F, listener, dialer *handshaker) (fromDialer, fromListener []byte) {
	dr, lw := io.Pipe() // listener -> dialer
	lr, dw := io.Pipe() // dialer -> listener
	var toL, toD bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := listener.accept(bufio.NewReader(lr), io.MultiWriter(lw, &toD), nonce{1})
		require.NoError(f, err)
		_ = lw.Close()
	}()
	require.NoError(f, dialer.dial(bufio.NewReader(dr), io.MultiWriter(dw, &toL), 1, nonce{2}))
	_ = dw.Close()
	wg.Wait()
	return toL.Bytes(), toD.Bytes()
}

// FuzzHandshake feeds arbitrary bytes to both sides of the handshake as
// what the other side sent: neither panics, both bound what they read, and
// the listener accepts only a configured member other than itself.
func FuzzHandshake(f *testing.F) {
	ids := members(1, 2, 3)
	listener := newHandshaker("zk", "s3cret", 1, ids)
	dialer := newHandshaker("zk", "s3cret", 2, ids)
	fromDialer, fromListener := handshakeStreams(f, listener, dialer)
	f.Add(fromDialer)
	f.Add(fromListener)
	f.Add(append(append([]byte{}, fromListener...), fromDialer...))
	f.Add([]byte{0, 0, 0x10, 0x01, kindAuth}) // a frame over the 4 KiB cap
	f.Add([]byte{0, 0, 0, 3, kindRefuse, 0xa1, 'x'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		from, err := listener.accept(bufio.NewReader(bytes.NewReader(in)), io.Discard, nonce{1})
		if err == nil {
			require.True(t, ids(from), "accepted stranger %d", from)
			require.NotEqual(t, uint64(1), from)
		}
		_ = dialer.dial(bufio.NewReader(bytes.NewReader(in)), io.Discard, 1, nonce{2})
	})
}
