// Package snap stores snapshots: checksummed files, each holding the state
// of a peer's tree as of one zxid, as opaque bytes. It knows nothing of
// znodes; the tree encodes and decodes the payload.
//
//	s, err := snap.Open("data/snap", nil, logger) // removes leftover temp files
//	err = s.Write(frozen.Zxid(), func(w io.Writer) error { _, err := frozen.WriteTo(w); return err })
//	zxid, err := s.Load(func(zxid uint64, r io.Reader) error { t, err = tree.ReadSnapshot(r, cfg); return err })
//	err = s.Retain(3)
//
// # Format on disk
//
// One file per snapshot, named snapshot.<zxid as 16 lowercase hex digits>.
// Integers are big-endian.
//
//	header  (16 bytes)  magic "ZSNP", version (1), 3 zero bytes, zxid uint64
//	payload (any size)  whatever Write's body wrote
//	trailer (16 bytes)  CRC-32C (Castagnoli) of header and payload uint32,
//	                    magic "ZEND", payload length uint64
//
// # Durability
//
// Write streams into snapshot.<zxid>.tmp, fsyncs it, renames it into place
// and fsyncs the directory: after a crash a snapshot is either complete or
// absent, and a leftover .tmp file (a crash mid-Write) is removed by Open.
// Load verifies a file's checksum over all of it before handing the payload
// to its callback, and falls back to older snapshots when the newest is
// damaged or the callback rejects it. A snapshot must only ever hold
// committed transactions (the ZAB notes: a later TRUNC cannot undo it).
//
// # Errors
//
//   - ErrNoSnapshot: Load found no snapshot file (a new peer starts empty).
//   - ErrCorrupt: a snapshot file failed its checks; Load wraps it for each
//     bad file, and returns it (joined with the callback's errors) when no
//     snapshot is usable. A peer with snapshots but none usable must not
//     start empty (ZOOKEEPER-2325).
//   - ErrBadArgument: Retain(n) with n < 1.
//
// Filesystem errors come back wrapped (errors.Is(err, fs.ErrNotExist) works).
package snap
