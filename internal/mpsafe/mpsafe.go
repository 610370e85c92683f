package mpsafe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultMaxDepth is the nesting bound Check applies: deep enough for every
// zabkit message (a multi request nests four levels), far below what would
// exhaust a stack.
const DefaultMaxDepth = 32

// ErrMalformed is wrapped by every error Check returns.
var ErrMalformed = errors.New("mpsafe: malformed msgpack")

// Check reports whether b holds exactly one well-formed msgpack value whose
// length claims all fit in b and whose nesting is at most DefaultMaxDepth.
// It returns nil or an error wrapping ErrMalformed that says what is wrong
// and at which offset.
func Check(b []byte) error {
	return CheckDepth(b, DefaultMaxDepth)
}

// CheckDepth is Check with an explicit nesting bound.
func CheckDepth(b []byte, maxDepth int) error {
	c := checker{b: b, maxDepth: maxDepth}
	if err := c.value(0); err != nil {
		return err
	}
	if c.off != len(b) {
		return fmt.Errorf("%w: %d trailing bytes after the value", ErrMalformed, len(b)-c.off)
	}
	return nil
}

// CheckPrefix checks the first msgpack value in b and returns its length in
// bytes, so that a stream of values can be checked one at a time.
func CheckPrefix(b []byte, maxDepth int) (int, error) {
	c := checker{b: b, maxDepth: maxDepth}
	if err := c.value(0); err != nil {
		return 0, err
	}
	return c.off, nil
}

type checker struct {
	b        []byte
	off      int
	maxDepth int
}

func (c *checker) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, what, c.off)
}

// need makes sure n more bytes are present.
func (c *checker) need(n uint64) error {
	if n > uint64(len(c.b)-c.off) {
		return c.fail(fmt.Sprintf("length %d exceeds the %d bytes left", n, len(c.b)-c.off))
	}
	return nil
}

// skip advances over n bytes of payload.
func (c *checker) skip(n uint64) error {
	if err := c.need(n); err != nil {
		return err
	}
	c.off += int(n)
	return nil
}

// uint reads a big-endian length of size bytes.
func (c *checker) uint(size int) (uint64, error) {
	if err := c.need(uint64(size)); err != nil {
		return 0, err
	}
	p := c.b[c.off : c.off+size]
	c.off += size
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	default:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
}

// items checks n nested values; every one takes at least one byte, so a
// count larger than the bytes left is rejected before the loop.
func (c *checker) items(n uint64, depth int) error {
	if depth >= c.maxDepth {
		return c.fail("nesting too deep")
	}
	if err := c.need(n); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if err := c.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) value(depth int) error {
	if c.off >= len(c.b) {
		return c.fail("truncated value")
	}
	t := c.b[c.off]
	c.off++
	switch {
	case t <= 0x7f, t >= 0xe0: // positive and negative fixint
		return nil
	case t <= 0x8f: // fixmap
		return c.items(2*uint64(t&0x0f), depth)
	case t <= 0x9f: // fixarray
		return c.items(uint64(t&0x0f), depth)
	case t <= 0xbf: // fixstr
		return c.skip(uint64(t & 0x1f))
	}
	switch t {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xc1:
		return c.fail("reserved type byte 0xc1")
	case 0xc4, 0xd9: // bin8, str8
		return c.lenThenSkip(1)
	case 0xc5, 0xda: // bin16, str16
		return c.lenThenSkip(2)
	case 0xc6, 0xdb: // bin32, str32
		return c.lenThenSkip(4)
	case 0xc7: // ext8
		return c.extThenSkip(1)
	case 0xc8:
		return c.extThenSkip(2)
	case 0xc9:
		return c.extThenSkip(4)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return c.skip(4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return c.skip(8)
	case 0xcc, 0xd0: // uint8, int8
		return c.skip(1)
	case 0xcd, 0xd1: // uint16, int16
		return c.skip(2)
	case 0xd4: // fixext1..16: type byte + data
		return c.skip(2)
	case 0xd5:
		return c.skip(3)
	case 0xd6:
		return c.skip(5)
	case 0xd7:
		return c.skip(9)
	case 0xd8:
		return c.skip(17)
	case 0xdc: // array16
		n, err := c.uint(2)
		if err != nil {
			return err
		}
		return c.items(n, depth)
	case 0xdd: // array32
		n, err := c.uint(4)
		if err != nil {
			return err
		}
		return c.items(n, depth)
	case 0xde: // map16
		n, err := c.uint(2)
		if err != nil {
			return err
		}
		return c.items(2*n, depth)
	case 0xdf: // map32
		n, err := c.uint(4)
		if err != nil {
			return err
		}
		return c.items(2*n, depth)
	}
	return c.fail(fmt.Sprintf("unknown type byte 0x%02x", t))
}

func (c *checker) lenThenSkip(size int) error {
	n, err := c.uint(size)
	if err != nil {
		return err
	}
	return c.skip(n)
}

func (c *checker) extThenSkip(size int) error {
	n, err := c.uint(size)
	if err != nil {
		return err
	}
	return c.skip(n + 1) // type byte, then data
}
