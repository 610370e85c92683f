package broadcast

import "fmt"

// Zxid is a ZooKeeper transaction id: epoch<<32 | counter.
type Zxid uint64

// MakeZxid builds the zxid of the counter-th txn of epoch.
func MakeZxid(epoch uint64, counter uint32) Zxid { return Zxid(epoch<<32 | uint64(counter)) }

// Epoch is the epoch of the leader that proposed the txn.
func (z Zxid) Epoch() uint64 { return uint64(z) >> 32 }

// Counter is the position of the txn within its epoch, from 1.
func (z Zxid) Counter() uint32 { return uint32(z) }

// String formats the zxid as ZooKeeper does: 0x followed by hex digits.
func (z Zxid) String() string { return fmt.Sprintf("0x%x", uint64(z)) }

// Entry is one transaction: opaque bytes ordered by zxid.
type Entry struct {
	Zxid Zxid
	Data []byte
}
