package wire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/internal/mpsafe"
	"github.com/zabkit/zabkit/tree"
)

var (
	benchReq  = Request{Xid: 12345, Op: OpSetData, Path: "/bench/node-0000000042", Data: data128, Version: tree.AnyVersion}
	benchStat = tree.Stat{Czxid: tree.MakeZxid(1, 100), Mzxid: tree.MakeZxid(1, 20000), Pzxid: tree.MakeZxid(1, 100),
		Ctime: 1700000000000, Mtime: 1700000005000, Version: 57, DataLength: 128}
	benchResp = Response{Xid: 12345, Zxid: tree.MakeZxid(1, 20001), Data: data128, Stat: &benchStat}
)

// BenchmarkRequest is one setData request with 128 bytes of data encoded
// and decoded, as the client and the server each do one half.
func BenchmarkRequest(b *testing.B) {
	b.Run("codec", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		var out Request
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendRequest(buf[:0], &benchReq)
			if err := DecodeRequest(buf, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendRequest(buf[:0], &benchReq)
		}
	})
	b.Run("decode", func(b *testing.B) {
		buf := mustRequest(b, &benchReq)
		var out Request
		b.ReportAllocs()
		for b.Loop() {
			_ = DecodeRequest(buf, &out)
		}
	})
	b.Run("library", func(b *testing.B) {
		// The baseline: a reused msgpack.Encoder and Decoder, reflection,
		// the same mpsafe check before decoding.
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		dec := msgpack.NewDecoder(nil)
		rd := bytes.NewReader(nil)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&benchReq); err != nil {
				b.Fatal(err)
			}
			if err := mpsafe.Check(buf.Bytes()); err != nil {
				b.Fatal(err)
			}
			rd.Reset(buf.Bytes())
			dec.Reset(rd)
			var out Request
			if err := dec.Decode(&out); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}

// BenchmarkResponse is one getData reply with 128 bytes of data and a Stat.
func BenchmarkResponse(b *testing.B) {
	b.Run("codec", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		var out Response
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendResponse(buf[:0], &benchResp)
			if err := DecodeResponse(buf, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendResponse(buf[:0], &benchResp)
		}
	})
	b.Run("decode", func(b *testing.B) {
		buf := mustResponse(b, &benchResp)
		var out Response
		b.ReportAllocs()
		for b.Loop() {
			_ = DecodeResponse(buf, &out)
		}
	})
	b.Run("library", func(b *testing.B) {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		dec := msgpack.NewDecoder(nil)
		rd := bytes.NewReader(nil)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&benchResp); err != nil {
				b.Fatal(err)
			}
			if err := mpsafe.Check(buf.Bytes()); err != nil {
				b.Fatal(err)
			}
			rd.Reset(buf.Bytes())
			dec.Reset(rd)
			var out Response
			if err := dec.Decode(&out); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}

// BenchmarkChildren decodes a page of 10,000 child names.
func BenchmarkChildren(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = "member-" + strconv.Itoa(1000000000+i)
	}
	body := mustResponse(b, &Response{Xid: 1, Children: names, Stat: &benchStat})
	b.Run("decode", func(b *testing.B) {
		var out Response
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			_ = DecodeResponse(body, &out)
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var out Response
			_ = mpsafe.Check(body)
			_ = msgpack.Unmarshal(body, &out)
		}
	})
}

// BenchmarkWriterBatch encodes 64 getData replies into one batch and
// flushes it, per op.
func BenchmarkWriterBatch(b *testing.B) {
	w := NewWriter(io.Discard, DefaultMaxFrame)
	b.ReportAllocs()
	for b.Loop() {
		for range 64 {
			_ = w.WriteResponse(&benchResp)
		}
		_ = w.Flush()
	}
}

// BenchmarkReadFrame reads a 200-byte frame with a reused buffer.
func BenchmarkReadFrame(b *testing.B) {
	one := frame(mustResponse(b, &benchResp))
	rd := bytes.NewReader(one)
	br := bufio.NewReader(rd)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(one)))
	for b.Loop() {
		rd.Reset(one)
		br.Reset(rd)
		_, _ = ReadFrame(br, 0, buf)
	}
}
