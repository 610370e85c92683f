// Package wire defines the frames and messages between the Go client and a
// peer: a 4-byte big-endian length, then a msgpack body; the handshake; the
// requests and responses; and the one table that maps error codes to the
// sentinel errors both sides compare with errors.Is.
//
// It imports tree (for Stat, Op, Event and the tree's sentinel errors) and
// internal/mpsafe; nothing else from zabkit.
package wire
