package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// On-disk layout (see doc.go). All integers are big-endian.
const (
	segMagic   = "ZWAL"
	segVersion = 1
	// headerSize is the size of a segment header.
	headerSize = 32
	// recHeaderSize is length(4) + crc(4) + zxid(8).
	recHeaderSize = 16
	// MaxRecordLimit is the format's bound on a record's data, whatever
	// Config.MaxRecordBytes says; a length field claiming more is damage.
	MaxRecordLimit = 64 << 20

	segPrefix = "log."
	// zeroChunk is how far ahead of the write offset the writer fills the
	// preallocated space with real zeros, so that fdatasync after a write
	// finds the blocks already written and need not journal an extent
	// conversion each time.
	zeroChunk = 1 << 20
	// scanWindow is the read window of the tail scan.
	scanWindow = 1 << 20
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	zeroPage   [zeroChunk]byte
)

// segName returns the file name of the segment whose first record is base.
func segName(base uint64) string { return fmt.Sprintf("%s%016x", segPrefix, base) }

// parseSegName returns the base zxid of a segment file name.
func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, segPrefix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	z, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || segName(z) != name {
		return 0, false
	}
	return z, true
}

type segHeader struct {
	base uint64 // zxid of the first record; equals the name
	prev uint64 // last zxid of the previous segment when this one was created
}

func (h segHeader) encode(b []byte) {
	_ = b[headerSize-1]
	clear(b[:headerSize])
	copy(b, segMagic)
	b[4] = segVersion
	binary.BigEndian.PutUint64(b[8:], h.base)
	binary.BigEndian.PutUint64(b[16:], h.prev)
	binary.BigEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
}

// decodeHeader returns the header or why it is invalid.
func decodeHeader(b []byte) (segHeader, string) {
	if len(b) < headerSize {
		return segHeader{}, "segment shorter than its header"
	}
	if string(b[:4]) != segMagic {
		return segHeader{}, "bad segment magic"
	}
	if binary.BigEndian.Uint32(b[24:]) != crc32.Checksum(b[:24], castagnoli) {
		return segHeader{}, "segment header checksum mismatch"
	}
	if b[4] != segVersion {
		return segHeader{}, fmt.Sprintf("unknown segment version %d", b[4])
	}
	return segHeader{base: binary.BigEndian.Uint64(b[8:]), prev: binary.BigEndian.Uint64(b[16:])}, ""
}

// appendRecord appends the encoding of one record to b.
func appendRecord(b []byte, zxid uint64, data []byte) []byte {
	off := len(b)
	b = append(b, make([]byte, recHeaderSize)...)
	binary.BigEndian.PutUint32(b[off:], uint32(8+len(data)))
	binary.BigEndian.PutUint64(b[off+8:], zxid)
	b = append(b, data...)
	binary.BigEndian.PutUint32(b[off+4:], crc32.Checksum(b[off+8:], castagnoli))
	return b
}

// recordCRCOK reports whether body (zxid+data) matches crc.
func recordCRCOK(crc uint32, body []byte) bool {
	return crc32.Checksum(body, castagnoli) == crc
}

// status of recReader.next.
type status uint8

const (
	stOK  status = iota
	stEnd        // clean end: end of the range at a record boundary, or a zero length
	stBad        // the record at off is invalid; reason says why
)

// recReader reads records sequentially from [off, size) of a segment. It
// never allocates more than the bytes that are left in the range.
type recReader struct {
	size int64
	off  int64 // offset of the next record
	br   *bufio.Reader
	hdr  [recHeaderSize]byte
	buf  []byte
}

func newRecReader(ra io.ReaderAt, off, size int64, buf []byte) *recReader {
	bs := int(min(max(size-off, 16), 64<<10))
	return &recReader{size: size, off: off, br: bufio.NewReaderSize(io.NewSectionReader(ra, off, size-off), bs), buf: buf}
}

// next returns the next record; data is valid until the next call. On
// stEnd and stBad, r.off is the offset of the end or of the bad record.
func (r *recReader) next() (zxid uint64, data []byte, st status, reason string, err error) {
	rem := r.size - r.off
	if rem <= 0 {
		return 0, nil, stEnd, "", nil
	}
	n := int(min(rem, recHeaderSize))
	if _, err := io.ReadFull(r.br, r.hdr[:n]); err != nil {
		return 0, nil, stBad, "", readErr(err)
	}
	if n < recHeaderSize {
		if allZero(r.hdr[:n]) {
			return 0, nil, stEnd, "", nil
		}
		return 0, nil, stBad, "record header cut short by the end of the segment", nil
	}
	length := binary.BigEndian.Uint32(r.hdr[0:])
	switch {
	case length == 0:
		return 0, nil, stEnd, "", nil
	case length < 8:
		return 0, nil, stBad, fmt.Sprintf("record length %d too small", length), nil
	case length-8 > MaxRecordLimit:
		return 0, nil, stBad, fmt.Sprintf("record length %d exceeds the limit %d", length, MaxRecordLimit+8), nil
	case int64(length)+8 > rem:
		return 0, nil, stBad, fmt.Sprintf("record of %d bytes cut short by the end of the segment (%d bytes left)", length+8, rem), nil
	}
	dn := int(length - 8)
	if cap(r.buf) < int(length) {
		r.buf = make([]byte, length)
	}
	body := r.buf[:length]
	copy(body, r.hdr[8:16])
	if _, err := io.ReadFull(r.br, body[8:]); err != nil {
		return 0, nil, stBad, "", readErr(err)
	}
	if !recordCRCOK(binary.BigEndian.Uint32(r.hdr[4:]), body) {
		return 0, nil, stBad, "record checksum mismatch", nil
	}
	r.off += int64(length) + 8
	return binary.BigEndian.Uint64(r.hdr[8:]), body[8 : 8+dn], stOK, "", nil
}

// readErr turns an EOF inside a range that Stat said was there into an
// error (the file shrank under us).
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("wal: segment shorter than expected: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// allZero reports whether b holds only zero bytes (vectorized compare).
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// errUnverifiable: the tail scan ran out of budget (hostile bytes).
var errUnverifiable = errors.New("tail could not be verified within the scan budget")

// findValid scans every byte offset of [from, size) for a record that is
// valid on its own (plausible length, checksum match) with a zxid greater
// than minZxid: one that would have been written after the last good record.
// It also reports whether any byte in the range is non-zero. Zero runs are
// skipped at memory speed. The checksum work is bounded by a budget linear
// in the range; hostile input that exhausts it yields errUnverifiable.
func findValid(ra io.ReaderAt, from, size int64, minZxid uint64) (off int64, zxid uint64, found, dirty bool, err error) {
	if size-from <= 0 {
		return 0, 0, false, false, nil
	}
	budget := 8*(size-from) + 64<<20
	win := make([]byte, min(size-from, scanWindow+recHeaderSize))
	var body []byte
	for base := from; base < size; {
		n := int(min(int64(len(win)), size-base))
		if _, err := ra.ReadAt(win[:n], base); err != nil && !(errors.Is(err, io.EOF)) {
			return 0, 0, false, dirty, err
		}
		w := win[:n]
		last := n - recHeaderSize // candidates need a whole record header in the window
		if last < 0 {
			// fewer than a record header left: no candidate
			dirty = dirty || !allZero(w)
			break
		}
		if allZero(w) {
			base += int64(last) + 1
			continue
		}
		dirty = true
		i := 0
		for i <= last {
			// Zero runs are skipped a block at a time: if bytes i..i+63
			// are zero, no offset up to i+60 has a non-zero length word.
			if i+64 <= n && allZero(w[i:i+64]) {
				i += 61
				continue
			}
			length := binary.BigEndian.Uint32(w[i:])
			if length < 8 || length-8 > MaxRecordLimit || base+int64(i)+8+int64(length) > size {
				i++
				continue
			}
			z := binary.BigEndian.Uint64(w[i+8:])
			if z <= minZxid {
				i++
				continue
			}
			if budget -= int64(length); budget < 0 {
				return 0, 0, false, dirty, errUnverifiable
			}
			var b []byte
			if i+8+int(length) <= n {
				b = w[i+8 : i+8+int(length)]
			} else {
				if cap(body) < int(length) {
					body = make([]byte, length)
				}
				b = body[:length]
				if _, err := ra.ReadAt(b, base+int64(i)+8); err != nil && !errors.Is(err, io.EOF) {
					return 0, 0, false, dirty, readErr(err)
				}
			}
			if recordCRCOK(binary.BigEndian.Uint32(w[i+4:]), b) {
				return base + int64(i), z, true, true, nil
			}
			i++
		}
		base += int64(i)
	}
	return 0, 0, false, dirty, nil
}
