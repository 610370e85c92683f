package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func reader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func TestWriteReadFrame(t *testing.T) {
	bodies := [][]byte{{0x80}, data128, data70000, bytes.Repeat([]byte{1}, 300<<10)}
	var stream bytes.Buffer
	for _, b := range bodies {
		require.NoError(t, WriteFrame(&stream, b))
	}
	r := bufio.NewReader(&stream)
	var buf []byte
	for i, want := range bodies {
		got, err := ReadFrame(r, 1<<20, buf)
		require.NoError(t, err, "frame %d", i)
		assert.Equal(t, want, got, "frame %d", i)
		buf = got
	}
	_, err := ReadFrame(r, 1<<20, buf)
	assert.Equal(t, io.EOF, err, "a clean end between frames is io.EOF")
}

func TestReadFrameReusesBuffer(t *testing.T) {
	stream := append(frame(data128), frame([]byte{1, 2, 3})...)
	r := reader(stream)
	buf := make([]byte, 0, 256)
	got, err := ReadFrame(r, 0, buf)
	require.NoError(t, err)
	assert.Equal(t, &buf[:1][0], &got[0], "read into the caller's buffer")
	got, err = ReadFrame(r, 0, got)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, got)
	assert.Equal(t, &buf[:1][0], &got[0])

	one := frame(data128)
	rd := bytes.NewReader(one)
	br := bufio.NewReader(rd)
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(one)
		br.Reset(rd)
		if _, err := ReadFrame(br, 0, buf); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestReadFrameLimits(t *testing.T) {
	t.Run("2 GiB claim", func(t *testing.T) {
		stream := append([]byte{0x80, 0, 0, 0}, data128...)
		var err error
		n := allocBytes(func() { _, err = ReadFrame(reader(stream), DefaultMaxFrame, nil) })
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFrameTooLarge)
		assert.Contains(t, err.Error(), strconv.Itoa(1<<31))
		assert.Contains(t, err.Error(), strconv.Itoa(DefaultMaxFrame))
		assert.Less(t, n, uint64(8<<10), "allocated %d bytes (the bufio.Reader is 4 KiB)", n)
	})
	t.Run("4 GiB claim", func(t *testing.T) {
		_, err := ReadFrame(reader([]byte{0xff, 0xff, 0xff, 0xff}), math.MaxInt32, nil)
		assert.ErrorIs(t, err, ErrFrameTooLarge)
	})
	t.Run("one over the cap", func(t *testing.T) {
		_, err := ReadFrame(reader(frame(data128)), 127, nil)
		assert.ErrorIs(t, err, ErrFrameTooLarge)
		got, err := ReadFrame(reader(frame(data128)), 128, nil)
		require.NoError(t, err)
		assert.Equal(t, data128, got)
	})
	t.Run("default cap", func(t *testing.T) {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], DefaultMaxFrame+1)
		_, err := ReadFrame(reader(hdr[:]), 0, nil)
		assert.ErrorIs(t, err, ErrFrameTooLarge)
	})
	t.Run("zero length", func(t *testing.T) {
		_, err := ReadFrame(reader([]byte{0, 0, 0, 0, 0x80}), 0, nil)
		assert.ErrorIs(t, err, ErrMarshalling)
		assert.Contains(t, err.Error(), "empty frame")
	})
	t.Run("claim allowed by the cap but never sent", func(t *testing.T) {
		// The cap allows 2 GiB, the peer sends 128 bytes and stops: the
		// buffer grows with what arrives, not with the claim.
		stream := append([]byte{0x7f, 0xff, 0xff, 0xff}, data128...)
		var err error
		n := allocBytes(func() { _, err = ReadFrame(reader(stream), math.MaxInt32, nil) })
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Contains(t, err.Error(), "128 of 2147483647")
		assert.Less(t, n, uint64(128<<10), "allocated %d bytes", n)
	})
}

func TestReadFrameTruncated(t *testing.T) {
	full := frame(data70000)
	for _, cut := range []int{1, 3, 4, 5, 100, len(full) - 1} {
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			_, err := ReadFrame(reader(full[:cut]), 0, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Contains(t, err.Error(), "wire: ")
		})
	}
	// A reader error other than EOF comes through.
	boom := errors.New("boom")
	_, err := ReadFrame(bufio.NewReader(io.MultiReader(bytes.NewReader(full[:10]), errReader{boom})), 0, nil)
	assert.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

func TestWriterBatches(t *testing.T) {
	var cw countingWriter
	w := NewWriter(&cw, 0)
	reqs := sampleRequests()
	for i := range reqs {
		require.NoError(t, w.WriteRequest(&reqs[i].req))
	}
	resps := sampleResponses()
	for i := range resps {
		require.NoError(t, w.WriteResponse(&resps[i].resp))
	}
	require.NoError(t, w.WriteConnectRequest(&sampleConnectRequests()[1]))
	require.NoError(t, w.WriteConnectResponse(&sampleConnectResponses()[0]))
	require.NoError(t, w.WriteFrame([]byte{0xc0}))
	assert.Greater(t, w.Buffered(), 0)
	assert.Zero(t, cw.writes, "nothing is written before Flush")
	require.NoError(t, w.Flush())
	assert.Equal(t, 1, cw.writes, "one Write for the whole batch")
	assert.Zero(t, w.Buffered())
	require.NoError(t, w.Flush())
	assert.Equal(t, 1, cw.writes, "an empty Flush writes nothing")

	r := bufio.NewReader(&cw.Buffer)
	var body []byte
	var err error
	for _, s := range reqs {
		body, err = ReadFrame(r, math.MaxInt32, body)
		require.NoError(t, err)
		var got Request
		require.NoError(t, DecodeRequest(body, &got))
		assert.Equal(t, s.req, got, s.name)
	}
	for _, s := range resps {
		body, err = ReadFrame(r, math.MaxInt32, body)
		require.NoError(t, err)
		var got Response
		require.NoError(t, DecodeResponse(body, &got))
		assert.Equal(t, s.resp, got, s.name)
	}
	body, err = ReadFrame(r, 0, body)
	require.NoError(t, err)
	var cr ConnectRequest
	require.NoError(t, DecodeConnectRequest(body, &cr))
	assert.Equal(t, sampleConnectRequests()[1], cr)
	body, err = ReadFrame(r, 0, body)
	require.NoError(t, err)
	var cresp ConnectResponse
	require.NoError(t, DecodeConnectResponse(body, &cresp))
	assert.Equal(t, sampleConnectResponses()[0], cresp)
	body, err = ReadFrame(r, 0, body)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xc0}, body)
	_, err = ReadFrame(r, 0, body)
	assert.Equal(t, io.EOF, err)
}

func TestWriterCap(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 200)
	require.NoError(t, w.WriteResponse(&Response{Xid: 1, Data: data128}))
	before := w.Buffered()
	err := w.WriteResponse(&Response{Xid: 2, Data: data300})
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Equal(t, before, w.Buffered(), "a refused frame leaves nothing behind")
	assert.ErrorIs(t, w.WriteFrame(make([]byte, 201)), ErrFrameTooLarge)
	assert.ErrorIs(t, w.WriteFrame(nil), ErrMarshalling)
	require.NoError(t, w.WriteResponse(&Response{Xid: 3}))
	require.NoError(t, w.Flush())

	r := bufio.NewReader(&out)
	for _, xid := range []int64{1, 3} {
		body, err := ReadFrame(r, 200, nil)
		require.NoError(t, err)
		var resp Response
		require.NoError(t, DecodeResponse(body, &resp))
		assert.Equal(t, xid, resp.Xid)
	}
}

func TestWriterReleasesLargeBuffer(t *testing.T) {
	w := NewWriter(io.Discard, 0)
	require.NoError(t, w.WriteFrame(data70000))
	require.NoError(t, w.WriteFrame(data70000))
	require.NoError(t, w.Flush())
	assert.LessOrEqual(t, cap(w.buf), keepBuffer)

	require.NoError(t, w.WriteFrame(data128))
	require.NoError(t, w.Flush())
	buf := w.buf
	require.NoError(t, w.WriteFrame(data128))
	assert.Equal(t, &buf[:1][0], &w.buf[0], "a small buffer is kept")
	var other bytes.Buffer
	w.Reset(&other)
	assert.Zero(t, w.Buffered())
	require.NoError(t, w.WriteFrame([]byte{1}))
	require.NoError(t, w.Flush())
	assert.Equal(t, frame([]byte{1}), other.Bytes())
}

func TestWriterFlushError(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(failWriter{boom}, 0)
	require.NoError(t, w.WriteFrame([]byte{1}))
	assert.ErrorIs(t, w.Flush(), boom)
	assert.Zero(t, w.Buffered())
	assert.ErrorIs(t, WriteFrame(failWriter{boom}, []byte{1}), boom)
	assert.ErrorIs(t, WriteFrame(failWriter{boom}, data70000), boom)
	assert.ErrorIs(t, WriteFrame(io.Discard, nil), ErrMarshalling)
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriteFrameAllocs(t *testing.T) {
	var cw countingWriter
	cw.Grow(1 << 20)
	allocs := testing.AllocsPerRun(100, func() {
		cw.Reset()
		_ = WriteFrame(&cw, data128)
	})
	assert.Zero(t, allocs)
}

// Over loopback TCP, with a large frame that goes out as one writev.
func TestFramesOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if err := WriteFrame(c, data70000); err != nil {
			done <- err
			return
		}
		w := NewWriter(c, 0)
		for i := int64(1); i <= 100; i++ {
			if err := w.WriteResponse(&Response{Xid: i, Data: data128}); err != nil {
				done <- err
				return
			}
		}
		done <- w.Flush()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	body, err := ReadFrame(r, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, data70000, body)
	for i := int64(1); i <= 100; i++ {
		body, err = ReadFrame(r, 0, body)
		require.NoError(t, err)
		var resp Response
		require.NoError(t, DecodeResponse(body, &resp))
		assert.Equal(t, i, resp.Xid)
	}
	require.NoError(t, <-done)
}
