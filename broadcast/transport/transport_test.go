package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/broadcast"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized transport tests (0: time-based)")

const (
	waitFor = 10 * time.Second
	tick    = 5 * time.Millisecond
)

func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return seed
}

// logBuffer collects a transport's logs; a failed test prints them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// ensemble is a set of transports on 127.0.0.1 that resolve each other.
type ensemble struct {
	t     *testing.T
	ids   []uint64
	mu    sync.Mutex
	addrs map[uint64]string
	logs  map[uint64]*logBuffer
}

func newEnsemble(t *testing.T, ids ...uint64) *ensemble {
	e := &ensemble{t: t, ids: ids, addrs: map[uint64]string{}, logs: map[uint64]*logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			e.mu.Lock()
			defer e.mu.Unlock()
			for id, l := range e.logs {
				t.Logf("logs of member %d:\n%s", id, l)
			}
		}
	})
	return e
}

func (e *ensemble) resolve(id uint64) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.addrs[id]
	return a, ok
}

func (e *ensemble) setAddr(id uint64, addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addrs[id] = addr
}

func (e *ensemble) log(id uint64) *logBuffer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs[id]
}

func (e *ensemble) config(id uint64) Config {
	l := &logBuffer{}
	e.mu.Lock()
	e.logs[id] = l
	e.mu.Unlock()
	return Config{
		ID:         id,
		ClusterID:  "test",
		Secret:     "s3cret",
		ListenAddr: "127.0.0.1:0",
		Members:    e.ids,
		Resolve:    e.resolve,
		Logger:     slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start starts member id with cfg adjusted by mod and publishes its
// address. The transport is closed at the end of the test.
func (e *ensemble) start(id uint64, mod func(*Config)) *Transport {
	cfg := e.config(id)
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = tr.Close() })
	e.setAddr(id, tr.Addr().String())
	return tr
}

func recvOne(t *testing.T, tr *Transport) Packet {
	t.Helper()
	select {
	case p := <-tr.Recv():
		return p
	case <-time.After(waitFor):
		t.Fatal("no packet received")
		return Packet{}
	}
}

func waitDown(t *testing.T, tr *Transport, id uint64) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case got := <-tr.Down():
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("no Down hint for member %d", id)
		}
	}
}

func assertNothingReceived(t *testing.T, tr *Transport) {
	t.Helper()
	select {
	case p := <-tr.Recv():
		t.Fatalf("unexpected packet from %d", p.From)
	default:
	}
	assert.Zero(t, tr.Stats().Received)
}

func ping(from, to uint64, round uint64) broadcast.Message {
	return broadcast.Message{Type: broadcast.MsgPing, From: from, To: to, Round: round}
}

// Three members each send thousands of proposals and app payloads, in one
// interleaved stream, to each other; every receiver sees each sender's
// stream whole and in order.
func TestFIFOAcrossThreePeers(t *testing.T) {
	seed := testSeed(t)
	const perPair = 3000
	e := newEnsemble(t, 1, 2, 3)
	trs := map[uint64]*Transport{}
	for _, id := range e.ids {
		trs[id] = e.start(id, nil)
	}
	// data returns the payload of item seq from -> to: its length and
	// bytes come from the seed, so the receiver can check them.
	data := func(from, to, seq uint64) []byte {
		r := rand.New(rand.NewPCG(seed, from<<40|to<<32|seq))
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return binary.BigEndian.AppendUint64(b, seq) // app payloads end in their seq
	}
	var wg sync.WaitGroup
	for _, from := range e.ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, from))
			for seq := range uint64(perPair) {
				for _, to := range e.ids {
					if to == from {
						continue
					}
					if r.IntN(3) == 0 {
						trs[from].SendApp(to, data(from, to, seq))
					} else {
						trs[from].Send(broadcast.Message{Type: broadcast.MsgProposal, From: from, To: to, Round: seq,
							Entries: []broadcast.Entry{{Zxid: broadcast.Zxid(seq), Data: data(from, to, seq)}}})
					}
				}
			}
		}()
	}
	for _, to := range e.ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := map[uint64]uint64{}
			for got := 0; got < perPair*(len(e.ids)-1); got++ {
				var p Packet
				select {
				case p = <-trs[to].Recv():
				case <-time.After(waitFor):
					t.Errorf("member %d: stalled after %d packets (%v)", to, got, next)
					return
				}
				var seq uint64
				var payload []byte
				if p.Msg != nil {
					assert.Nil(t, p.App)
					seq, payload = p.Msg.Round, p.Msg.Entries[0].Data
					assert.Equal(t, broadcast.Zxid(seq), p.Msg.Entries[0].Zxid)
					assert.Equal(t, p.From, p.Msg.From)
				} else {
					require.GreaterOrEqual(t, len(p.App), 8)
					seq, payload = binary.BigEndian.Uint64(p.App[len(p.App)-8:]), p.App
				}
				if seq != next[p.From] {
					t.Errorf("member %d: from %d got seq %d, want %d", to, p.From, seq, next[p.From])
					return
				}
				if !bytes.Equal(payload, data(p.From, to, seq)) {
					t.Errorf("member %d: from %d seq %d: wrong payload", to, p.From, seq)
					return
				}
				next[p.From]++
			}
		}()
	}
	wg.Wait()
	for _, id := range e.ids {
		s := trs[id].Stats()
		assert.Zero(t, s.Dropped, "member %d", id)
		assert.Equal(t, uint64(perPair*2), s.Sent, "member %d", id)
		assert.True(t, trs[id].Connected(id%3+1))
	}
}

func TestWrongClusterIDRefused(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, func(c *Config) { c.ClusterID = "other" })
	b := e.start(2, nil)
	a.Send(ping(1, 2, 1))
	waitDown(t, a, 2)
	require.Eventually(t, func() bool { return b.Stats().Refused > 0 }, waitFor, tick)
	assert.Positive(t, a.Stats().DialFailed)
	assert.False(t, a.Connected(2))
	assertNothingReceived(t, b)
	assert.Contains(t, e.log(1).String(), "cluster id")
}

func TestWrongSecretRefused(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, func(c *Config) { c.Secret = "guess" })
	b := e.start(2, nil)
	a.Send(ping(1, 2, 1))
	waitDown(t, a, 2)
	require.Eventually(t, func() bool { return b.Stats().Refused > 0 }, waitFor, tick)
	assertNothingReceived(t, b)
	logs := e.log(2).String()
	assert.Contains(t, logs, "peer handshake refused")
	assert.Contains(t, logs, "bad MAC")
	assert.Contains(t, logs, "addr=127.0.0.1:")
}

func TestStrangerRefused(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	b := e.start(2, nil)
	// Member 9 knows the secret and lists itself, but member 2 does not.
	stranger := e.start(9, func(c *Config) { c.Members = []uint64{2, 9} })
	stranger.Send(ping(9, 2, 1))
	stranger.SendApp(2, []byte("hello"))
	waitDown(t, stranger, 2)
	require.Eventually(t, func() bool { return b.Stats().Refused > 0 }, waitFor, tick)
	assertNothingReceived(t, b)
	assert.Contains(t, e.log(2).String(), "not a member")
}

// dialRaw authenticates to tr as member from with hs, as a transport would,
// and returns the connection for the test to write frames on.
func dialRaw(t *testing.T, tr *Transport, hs *handshaker) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitFor)))
	if err := hs.dial(bufio.NewReader(c), c, tr.cfg.ID, nonce{7}); err != nil {
		return c, err
	}
	require.NoError(t, c.SetDeadline(time.Time{}))
	return c, nil
}

func writeBatch(t *testing.T, c net.Conn, add func(*batch)) {
	t.Helper()
	var w batch
	add(&w)
	_, err := writeBuffers(c, w.buffers(nil), nil, waitFor)
	require.NoError(t, err)
}

// waitClosed waits until the other side closes c, discarding what it
// still sends.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) {
		assert.False(t, ne.Timeout(), "connection not closed")
	}
}

func TestImpersonationRefused(t *testing.T) {
	e := newEnsemble(t, 1, 2, 3)
	b := e.start(2, nil)
	// Claims to be member 1, but its MAC is made with a wrong key.
	c, err := dialRaw(t, b, newHandshaker("test", "not the secret", 1, members(1, 2, 3)))
	require.ErrorIs(t, err, ErrHandshake)
	assert.Contains(t, err.Error(), "refused by peer")
	// Whatever it sends next goes nowhere.
	var w batch
	m := ping(1, 2, 1)
	require.NoError(t, w.addMessage(&m, DefaultMaxFrame))
	_, _ = writeBuffers(c, w.buffers(nil), nil, waitFor)
	waitClosed(t, c)
	require.Eventually(t, func() bool { return b.Stats().Refused == 1 }, waitFor, tick)
	assertNothingReceived(t, b)
}

// An authenticated member 1 that sends a message signed From 3 has the
// message dropped and its connection closed; what came before is kept.
func TestForgedFromClosesConnection(t *testing.T) {
	e := newEnsemble(t, 1, 2, 3)
	b := e.start(2, nil)
	c, err := dialRaw(t, b, newHandshaker("test", "s3cret", 1, members(1, 2, 3)))
	require.NoError(t, err)
	writeBatch(t, c, func(w *batch) {
		good, forged, after := ping(1, 2, 1), ping(3, 2, 2), ping(1, 2, 3)
		require.NoError(t, w.addMessage(&good, DefaultMaxFrame))
		require.NoError(t, w.addMessage(&forged, DefaultMaxFrame))
		require.NoError(t, w.addMessage(&after, DefaultMaxFrame))
	})
	p := recvOne(t, b)
	assert.Equal(t, uint64(1), p.From)
	assert.Equal(t, uint64(1), p.Msg.Round)
	waitClosed(t, c)
	waitDown(t, b, 1)
	assert.Equal(t, uint64(1), b.Stats().Rejected)
	assert.Equal(t, uint64(1), b.Stats().Received)
	assert.Contains(t, e.log(2).String(), "message from 3 to 2 on the connection of member 1")
}

func TestBadFramesCloseConnection(t *testing.T) {
	cases := map[string]func(c net.Conn){
		"too large": func(c net.Conn) {
			_, _ = c.Write(binary.BigEndian.AppendUint32(nil, 1<<20+1))
		},
		"empty": func(c net.Conn) { _, _ = c.Write([]byte{0, 0, 0, 0}) },
		"unknown kind": func(c net.Conn) {
			_, _ = c.Write([]byte{0, 0, 0, 2, 9, 0})
		},
		"malformed message": func(c net.Conn) {
			_, _ = c.Write([]byte{0, 0, 0, 6, kindMessage, 0xdd, 0x7f, 0xff, 0xff, 0xff})
		},
		"handshake frame after the handshake": func(c net.Conn) {
			_, _ = c.Write([]byte{0, 0, 0, 2, kindHello, 0xc0})
		},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnsemble(t, 1, 2)
			b := e.start(2, func(c *Config) { c.MaxFrame = 1 << 20 })
			c, err := dialRaw(t, b, newHandshaker("test", "s3cret", 1, members(1, 2)))
			require.NoError(t, err)
			send(c)
			waitClosed(t, c)
			require.Eventually(t, func() bool { return b.Stats().Rejected == 1 }, waitFor, tick)
			assertNothingReceived(t, b)
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	b := e.start(2, func(c *Config) { c.HandshakeTimeout = 50 * time.Millisecond })
	c, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	// Never answer the hello: the listener gives up.
	r := bufio.NewReader(c)
	_, err = readHandshake(r, kindHello)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Stats().Refused == 1 }, waitFor, tick)
	assert.Contains(t, e.log(2).String(), "timeout")
}

// A member whose connection breaks gets a Down hint on both sides; after
// it restarts elsewhere, the next Send reaches it at its new address.
func TestDownAndReconnect(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, nil)
	b := e.start(2, nil)
	a.Send(ping(1, 2, 1))
	b.Send(ping(2, 1, 1))
	assert.Equal(t, uint64(1), recvOne(t, b).Msg.Round)
	assert.Equal(t, uint64(1), recvOne(t, a).Msg.Round)
	require.True(t, a.Connected(2))

	require.NoError(t, b.Close())
	waitDown(t, a, 2)
	require.Eventually(t, func() bool { return !a.Connected(2) }, waitFor, tick)

	// While member 2 is away, sends fail and back off; nothing spins.
	a.Send(ping(1, 2, 2))
	require.Eventually(t, func() bool { return a.Stats().DialFailed > 0 }, waitFor, tick)

	b2 := e.start(2, nil) // a new port: Resolve now returns it
	round := uint64(10)
	require.Eventually(t, func() bool {
		round++
		a.Send(ping(1, 2, round))
		select {
		case p := <-b2.Recv():
			return p.From == 1 && p.Msg.Type == broadcast.MsgPing
		default:
			return false
		}
	}, waitFor, 20*time.Millisecond)
	assert.True(t, a.Connected(2))

	// The other direction: member 1 goes away, member 2 hears of it.
	b2.Send(ping(2, 1, 1))
	assert.Equal(t, uint64(2), recvOne(t, a).From)
	require.NoError(t, a.Close())
	waitDown(t, b2, 1)
}

func TestBigSnapshot(t *testing.T) {
	seed := testSeed(t)
	e := newEnsemble(t, 1, 2)
	a := e.start(1, nil)
	b := e.start(2, nil)
	snap := make([]byte, 50<<20)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < len(snap); i += 8 {
		binary.LittleEndian.PutUint64(snap[i:], r.Uint64())
	}
	m := broadcast.Message{Type: broadcast.MsgNewLeader, From: 1, To: 2, Epoch: 3,
		Snapshot: &broadcast.Snapshot{Zxid: broadcast.MakeZxid(2, 9), Data: snap},
		Entries:  []broadcast.Entry{{Zxid: broadcast.MakeZxid(2, 10), Data: []byte("after")}}}
	a.Send(m)
	a.SendApp(2, snap[:1<<20]) // a large app payload too, after it
	p := recvOne(t, b)
	require.NotNil(t, p.Msg)
	require.NotNil(t, p.Msg.Snapshot)
	assert.Equal(t, m.Snapshot.Zxid, p.Msg.Snapshot.Zxid)
	assert.True(t, bytes.Equal(snap, p.Msg.Snapshot.Data), "snapshot data differs")
	assert.Equal(t, m.Entries, p.Msg.Entries)
	p = recvOne(t, b)
	assert.True(t, bytes.Equal(snap[:1<<20], p.App), "app payload differs")
}

func TestOverMaxFrameDroppedBySender(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, func(c *Config) { c.MaxFrame = 1 << 10 })
	b := e.start(2, nil)
	a.SendApp(2, make([]byte, 2<<10))
	a.Send(ping(1, 2, 7))
	assert.Equal(t, uint64(7), recvOne(t, b).Msg.Round)
	assert.Equal(t, uint64(1), a.Stats().Dropped)
	assert.True(t, a.Connected(2))
}

// A peer that authenticates and then stops reading: the queue grows to
// QueueLimit, is dropped, and the connection is reset and redialed.
func TestQueueLimitResetsConnection(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.setAddr(2, ln.Addr().String())
	a := e.start(1, func(c *Config) { c.QueueLimit = 4 })

	// The fake member 2 authenticates every connection and reads nothing
	// more; it reports each connection and when it ends.
	conns := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	defer func() {
		_ = ln.Close()
		wg.Wait()
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		hs := newHandshaker("test", "s3cret", 2, members(1, 2))
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := hs.accept(bufio.NewReader(c), c, nonce{3}); err != nil {
				_ = c.Close()
				continue
			}
			conns <- c
		}
	}()

	payload := make([]byte, 1<<20)
	a.SendApp(2, payload)
	first := <-conns
	defer first.Close()
	// Sending fills the socket buffers, then the queue.
	require.Eventually(t, func() bool {
		a.SendApp(2, payload)
		return a.Stats().QueueResets > 0
	}, waitFor, time.Millisecond)
	waitDown(t, a, 2)
	waitClosed(t, first) // reset: member 1 closed it
	a.SendApp(2, payload)
	select {
	case c := <-conns:
		_ = c.Close()
	case <-time.After(waitFor):
		t.Fatal("no redial after the queue reset")
	}
	assert.Positive(t, a.Stats().Dropped)
	assert.Contains(t, e.log(1).String(), "peer queue limit reached")
}

func TestSendToSelfOrStrangerDropped(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, nil)
	b := e.start(2, nil)
	a.Send(ping(1, 1, 1))     // self
	a.Send(ping(1, 5, 1))     // not a member
	a.SendApp(5, []byte("x")) // not a member
	a.Send(ping(2, 2, 1))     // From is not this member
	a.Send(ping(1, 2, 2))     // fine
	a.SendApp(2, nil)         // fine, empty
	assert.Equal(t, uint64(2), recvOne(t, b).Msg.Round)
	p := recvOne(t, b)
	assert.NotNil(t, p.App)
	assert.Empty(t, p.App)
	assert.Equal(t, uint64(4), a.Stats().Dropped)
	assert.False(t, a.Connected(1))
	assert.False(t, a.Connected(5))
}

// A newer connection from a member replaces its older one.
func TestNewerConnectionReplacesOlder(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	b := e.start(2, nil)
	hs := newHandshaker("test", "s3cret", 1, members(1, 2))
	old, err := dialRaw(t, b, hs)
	require.NoError(t, err)
	writeBatch(t, old, func(w *batch) {
		m := ping(1, 2, 1)
		require.NoError(t, w.addMessage(&m, DefaultMaxFrame))
	})
	assert.Equal(t, uint64(1), recvOne(t, b).Msg.Round)
	c, err := dialRaw(t, b, hs)
	require.NoError(t, err)
	waitClosed(t, old)
	writeBatch(t, c, func(w *batch) {
		m := ping(1, 2, 2)
		require.NoError(t, w.addMessage(&m, DefaultMaxFrame))
	})
	assert.Equal(t, uint64(2), recvOne(t, b).Msg.Round)
}

// Close returns while readers are blocked on a full Recv channel.
func TestCloseWithUndrainedRecv(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, nil)
	b := e.start(2, nil)
	for i := range recvBuffer + 100 {
		a.Send(ping(1, 2, uint64(i)))
	}
	require.Eventually(t, func() bool { return len(b.Recv()) == recvBuffer }, waitFor, tick)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
	a.Send(ping(1, 2, 1)) // after Close: dropped, no panic
	assert.False(t, a.Connected(2))
}

func TestConfigValidation(t *testing.T) {
	ok := Config{ID: 1, ClusterID: "c", ListenAddr: "127.0.0.1:0", Members: []uint64{1, 2},
		Resolve: func(uint64) (string, bool) { return "", false }}
	cases := map[string]func(*Config){
		"zero id":            func(c *Config) { c.ID = 0 },
		"no cluster id":      func(c *Config) { c.ClusterID = "" },
		"long cluster id":    func(c *Config) { c.ClusterID = strings.Repeat("x", 257) },
		"no listen addr":     func(c *Config) { c.ListenAddr = "" },
		"no resolve":         func(c *Config) { c.Resolve = nil },
		"id not a member":    func(c *Config) { c.Members = []uint64{2, 3} },
		"duplicate member":   func(c *Config) { c.Members = []uint64{1, 2, 2} },
		"member 0":           func(c *Config) { c.Members = []uint64{0, 1} },
		"negative max frame": func(c *Config) { c.MaxFrame = -1 },
		"huge max frame":     func(c *Config) { c.MaxFrame = 1 << 32 },
		"negative queue":     func(c *Config) { c.QueueLimit = -1 },
		"negative timeout":   func(c *Config) { c.DialTimeout = -1 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mod(&cfg)
			_, err := New(cfg)
			assert.ErrorIs(t, err, ErrConfig)
		})
	}
	t.Run("listen error", func(t *testing.T) {
		cfg := ok
		cfg.ListenAddr = "256.0.0.1:0"
		_, err := New(cfg)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrConfig)
	})
	t.Run("ok", func(t *testing.T) {
		tr, err := New(ok)
		require.NoError(t, err)
		assert.Equal(t, DefaultMaxFrame, tr.cfg.MaxFrame)
		assert.Equal(t, DefaultQueueLimit, tr.cfg.QueueLimit)
		require.NoError(t, tr.Close())
	})
}

func TestUnresolvedMemberGivesDownHint(t *testing.T) {
	e := newEnsemble(t, 1, 2)
	a := e.start(1, nil)
	a.Send(ping(1, 2, 1))
	waitDown(t, a, 2)
	assert.Equal(t, uint64(1), a.Stats().DialFailed)
	assert.Equal(t, uint64(1), a.Stats().Dropped)
	assert.Contains(t, e.log(1).String(), fmt.Sprint(ErrUnresolved))
}
