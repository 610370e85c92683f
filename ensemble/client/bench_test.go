package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// echoServer answers every request with one canned reply (128 bytes of data
// and a Stat) without decoding more than the xid, batching replies per read,
// so that a benchmark measures the client, not the server.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newEchoServer(tb testing.TB) *echoServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
			e.wg.Add(1)
			go e.serve(nc)
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) serve(nc net.Conn) {
	defer e.wg.Done()
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	w := wire.NewWriter(nc, 0)
	body, err := wire.ReadFrame(br, 0, nil)
	if err != nil {
		return
	}
	var creq wire.ConnectRequest
	if wire.DecodeConnectRequest(body, &creq) != nil {
		return
	}
	w.WriteConnectResponse(&wire.ConnectResponse{ProtocolVersion: wire.ProtocolVersion, Timeout: creq.Timeout, SessionID: 1, Password: []byte("pw"), MaxFrame: wire.DefaultMaxFrame})
	if w.Flush() != nil {
		return
	}
	resp := wire.Response{Zxid: 1, Data: make([]byte, 128), Stat: &tree.Stat{Czxid: 1, Mzxid: 1, DataLength: 128}}
	var buf []byte
	for {
		body, err := wire.ReadFrame(br, 0, buf)
		if err != nil {
			return
		}
		buf = body
		resp.Xid = xidOf(body)
		if w.WriteResponse(&resp) != nil {
			return
		}
		if br.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// xidOf reads the xid from a request body: the encoder writes it first,
// as {"x": int, ...}.
func xidOf(b []byte) int64 {
	if len(b) < 4 || b[1] != 0xa1 || b[2] != 'x' {
		return -2
	}
	v := b[3:]
	switch {
	case v[0] <= 0x7f:
		return int64(v[0])
	case v[0] == 0xcc:
		return int64(v[1])
	case v[0] == 0xcd:
		return int64(binary.BigEndian.Uint16(v[1:]))
	case v[0] == 0xce:
		return int64(binary.BigEndian.Uint32(v[1:]))
	case v[0] == 0xcf:
		return int64(binary.BigEndian.Uint64(v[1:]))
	}
	return -2
}

// BenchmarkGetPipelined: many goroutines share one Client, so their Gets
// are pipelined on one connection and batched into few writes.
func BenchmarkGetPipelined(b *testing.B) {
	e := newEchoServer(b)
	c := connect(b, []string{e.ln.Addr().String()})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(ctx, "/bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetSerial: one goroutine, one Get at a time (round-trip bound).
func BenchmarkGetSerial(b *testing.B) {
	e := newEchoServer(b)
	c := connect(b, []string{e.ln.Addr().String()})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := c.Get(ctx, "/bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetPipelinedFake is BenchmarkGetPipelined against the full fake
// server (allocations include the server's).
func BenchmarkGetPipelinedFake(b *testing.B) {
	s := newFakeServer(b, 1)
	c := connect(b, s.addrs())
	ctx := context.Background()
	if _, err := c.Create(ctx, "/bench", make([]byte, 128), tree.ModePersistent); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(ctx, "/bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
