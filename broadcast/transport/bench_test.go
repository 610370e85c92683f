package transport

import (
	"testing"

	"github.com/zabkit/zabkit/broadcast"
)

func benchEncode(b *testing.B, m broadcast.Message) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendMessage(buf[:0], &m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// sink keeps decoded messages on the heap, as a Packet does.
var sink *broadcast.Message

// benchDecode decodes as the transport's reader does: into a new Message
// per packet, with the data copied out of the reused frame buffer.
func benchDecode(b *testing.B, m broadcast.Message) {
	body, err := AppendMessage(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if sink, err = decodePacket(body, false); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDecodeInto decodes with DecodeMessage into one reused Message.
func benchDecodeInto(b *testing.B, m broadcast.Message) {
	body, err := AppendMessage(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var got broadcast.Message
	for b.Loop() {
		if err := DecodeMessage(body, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeProposal(b *testing.B) { benchEncode(b, proposal(128)) }
func BenchmarkDecodeProposal(b *testing.B) { benchDecode(b, proposal(128)) }
func BenchmarkEncodeAck(b *testing.B)      { benchEncode(b, ack()) }
func BenchmarkDecodeAck(b *testing.B)      { benchDecode(b, ack()) }

func BenchmarkDecodeMessageProposal(b *testing.B) { benchDecodeInto(b, proposal(128)) }

// BenchmarkTransportProposals sends 128-byte proposals from one member to
// another over loopback TCP and receives them: the whole hot path. At most
// window messages are in flight, well under QueueLimit.
func BenchmarkTransportProposals(b *testing.B) {
	const window = 8192
	e := &ensemble{ids: []uint64{1, 2}, addrs: map[uint64]string{}, logs: map[uint64]*logBuffer{}}
	start := func(id uint64) *Transport {
		cfg := e.config(id)
		cfg.Logger = nil
		tr, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		e.setAddr(id, tr.Addr().String())
		return tr
	}
	a, r := start(1), start(2)
	defer a.Close()
	defer r.Close()
	m := proposal(128)
	inflight := make(chan struct{}, window)
	done := make(chan struct{})
	n := b.N
	b.ReportAllocs()
	b.SetBytes(128)
	b.ResetTimer()
	go func() {
		defer close(done)
		for range n {
			<-r.Recv()
			<-inflight
		}
	}()
	for i := range n {
		inflight <- struct{}{}
		m.Round = uint64(i)
		a.Send(m)
	}
	<-done
}
