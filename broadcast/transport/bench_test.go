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
		if err := decodeMessage(body, new(broadcast.Message), false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeProposal(b *testing.B) { benchEncode(b, proposal(128)) }
func BenchmarkDecodeProposal(b *testing.B) { benchDecode(b, proposal(128)) }
func BenchmarkEncodeAck(b *testing.B)      { benchEncode(b, ack()) }
func BenchmarkDecodeAck(b *testing.B)      { benchDecode(b, ack()) }

// BenchmarkTransportProposals sends 128-byte proposals from one member to
// another over loopback TCP and receives them: the whole hot path.
func BenchmarkTransportProposals(b *testing.B) {
	t := &testing.T{}
	_ = t
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
	b.ReportAllocs()
	b.SetBytes(128)
	done := make(chan struct{})
	n := b.N
	go func() {
		defer close(done)
		for range n {
			<-r.Recv()
		}
	}()
	b.ResetTimer()
	for i := range n {
		m.Round = uint64(i)
		a.Send(m)
		if i%1024 == 1023 { // stay under QueueLimit
			for a.Stats().Sent < uint64(i-2048) {
				select {
				case <-done:
				default:
				}
			}
		}
	}
	<-done
}
