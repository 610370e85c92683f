package tree

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// The digest of a tree is the sum (mod 2^64) over its nodes of two
// xxhash64 values, so it is updated in O(1) per change and two trees with
// the same nodes have the same digest whatever their history:
//
//	own(n)  = xxh64(path 0x00 0x01 czxid mzxid ctime mtime version owner mode ttl data)
//	kids(n) = xxh64(path 0x00 0x02 pzxid cversion)
//
// The split keeps a child create or delete from rehashing the parent's
// data: only the parent's kids part changes. NumChildren and DataLength are
// implied by the children and the data. Integers are little endian.

// hasher computes node hashes without allocating.
type hasher struct {
	d   xxhash.Digest
	buf [64]byte
}

func (h *hasher) own(path string, n *node) uint64 {
	h.d.Reset()
	_, _ = h.d.WriteString(path)
	return h.ownTail(n)
}

func (h *hasher) ownB(path []byte, n *node) uint64 {
	h.d.Reset()
	_, _ = h.d.Write(path)
	return h.ownTail(n)
}

func (h *hasher) ownTail(n *node) uint64 {
	b := h.buf[:0]
	b = append(b, 0, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(n.czxid))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.mzxid))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.ctime))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.mtime))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.version))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.owner()))
	b = append(b, byte(n.mode()))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.ttl()))
	_, _ = h.d.Write(b)
	_, _ = h.d.WriteString(n.data())
	return h.d.Sum64()
}

func (h *hasher) kids(path string, n *node) uint64 {
	h.d.Reset()
	_, _ = h.d.WriteString(path)
	return h.kidsTail(n)
}

func (h *hasher) kidsB(path []byte, n *node) uint64 {
	h.d.Reset()
	_, _ = h.d.Write(path)
	return h.kidsTail(n)
}

func (h *hasher) kidsTail(n *node) uint64 {
	b := h.buf[:0]
	b = append(b, 0, 2)
	b = binary.LittleEndian.AppendUint64(b, uint64(n.pzxid()))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.cversion()))
	_, _ = h.d.Write(b)
	return h.d.Sum64()
}

// node returns a node's whole contribution to the digest.
func (h *hasher) node(path string, n *node) uint64 { return h.own(path, n) + h.kids(path, n) }

func (h *hasher) nodeB(path []byte, n *node) uint64 { return h.ownB(path, n) + h.kidsB(path, n) }
