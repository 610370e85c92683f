package broadcast

import (
	"fmt"
	"slices"
)

// HardState is the durable scalar state of a peer.
type HardState struct {
	// AcceptedEpoch is the last epoch this peer promised to follow
	// (NEWEPOCH).
	AcceptedEpoch uint64
	// CurrentEpoch is the epoch of the last NEWLEADER this peer accepted.
	CurrentEpoch uint64
	// Committed is the last zxid the driver has durably delivered
	// (applied); NewPeer will not deliver it or anything before it again.
	Committed Zxid
}

// Snapshot is a durable prefix of committed history, applied: Data is
// the driver's state after every txn up to and including Zxid. The core
// never looks inside Data.
type Snapshot struct {
	Zxid Zxid
	Data []byte
}

// Storage is a read-only view of a peer's durable state. The driver keeps
// it current by persisting every Ready before calling Advance.
type Storage interface {
	// InitialState returns the durable scalars and the log after the
	// snapshot, in zxid order. NewPeer calls it once.
	InitialState() (HardState, []Entry, error)
	// Snapshot returns the newest durable snapshot (zero if none): at
	// start, and when a leader must send it to a follower (SNAP).
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory, for tests and simulations.
// It is what a driver's disk would hold after fsync: apply a Ready to it
// before calling Advance. Not safe for concurrent use.
type MemoryStorage struct {
	HardState HardState
	Snap      Snapshot
	Log       []Entry // txns after Snap.Zxid
}

// Snapshot implements Storage.
func (s *MemoryStorage) Snapshot() (Snapshot, error) {
	return Snapshot{Zxid: s.Snap.Zxid, Data: slices.Clone(s.Snap.Data)}, nil
}

// Compact records snap, which must hold committed history up to a zxid
// already in the log, and drops the log up to it.
func (s *MemoryStorage) Compact(snap Snapshot) {
	i := 0
	for i < len(s.Log) && s.Log[i].Zxid <= snap.Zxid {
		i++
	}
	s.Log = slices.Clone(s.Log[i:])
	s.Snap = Snapshot{Zxid: snap.Zxid, Data: slices.Clone(snap.Data)}
}

// InstallSnapshot replaces the whole history with snap (a received SNAP).
func (s *MemoryStorage) InstallSnapshot(snap Snapshot) {
	s.Log = nil
	s.Snap = Snapshot{Zxid: snap.Zxid, Data: slices.Clone(snap.Data)}
	s.HardState.Committed = max(s.HardState.Committed, snap.Zxid)
}

// InitialState implements Storage. It returns copies.
func (s *MemoryStorage) InitialState() (HardState, []Entry, error) {
	return s.HardState, slices.Clone(s.Log), nil
}

// TruncateAfter removes every entry above z.
func (s *MemoryStorage) TruncateAfter(z Zxid) {
	i := len(s.Log)
	for i > 0 && s.Log[i-1].Zxid > z {
		i--
	}
	s.Log = s.Log[:i]
}

// Append adds entries, which must continue the log in zxid order.
func (s *MemoryStorage) Append(ents ...Entry) error {
	for _, e := range ents {
		if n := len(s.Log); n > 0 && s.Log[n-1].Zxid >= e.Zxid {
			return fmt.Errorf("broadcast: append %v after %v: %w", e.Zxid, s.Log[n-1].Zxid, ErrInvariant)
		}
		s.Log = append(s.Log, Entry{Zxid: e.Zxid, Data: slices.Clone(e.Data)})
	}
	return nil
}

// Contains reports whether the log holds e (same zxid and data).
func (s *MemoryStorage) Contains(e Entry) bool {
	i, ok := slices.BinarySearchFunc(s.Log, e.Zxid, func(a Entry, z Zxid) int {
		switch {
		case a.Zxid < z:
			return -1
		case a.Zxid > z:
			return 1
		}
		return 0
	})
	return ok && string(s.Log[i].Data) == string(e.Data)
}

// Clone returns a deep copy.
func (s *MemoryStorage) Clone() *MemoryStorage {
	c := &MemoryStorage{HardState: s.HardState, Snap: s.Snap, Log: make([]Entry, len(s.Log))}
	copy(c.Log, s.Log)
	return c
}
