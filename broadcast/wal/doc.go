// Package wal is zabkit's transaction log: the durable, ordered history of
// a ZAB peer. A record is opaque bytes with a uint64 zxid; the log knows
// nothing of znodes.
//
//	l, err := wal.Open(wal.Config{Dir: "data/wal"})
//	err = l.Append(wal.Record{Zxid: z1, Data: txn1}, wal.Record{Zxid: z2, Data: txn2})
//	err = l.Sync()          // one write, one fdatasync: z1 and z2 are durable
//	err = l.Replay(snapZxid, func(r wal.Record) error { return apply(r) })
//	err = l.TruncateAfter(z) // ZAB's TRUNC: cut everything above z, durably
//	err = l.PurgeThrough(snapZxid)
//
// # Format on disk
//
// The log is a directory of segment files named log.<first zxid as 16
// lowercase hex digits>, e.g. log.0000000100000001. Integers are big-endian.
// Each segment is preallocated (Config.SegmentBytes, 64 MiB by default) so
// that appending does not grow the file, and starts with a 32-byte header:
//
//	offset size
//	0      4    magic "ZWAL"
//	4      1    version (1)
//	5      3    zero
//	8      8    first zxid (equals the name)
//	16     8    last zxid of the previous segment when this one was created
//	24     4    CRC-32C (Castagnoli) of bytes 0..24
//	28     4    zero
//
// Records follow back to back:
//
//	length uint32   8 + len(data): the bytes covered by the checksum
//	crc    uint32   CRC-32C of zxid and data
//	zxid   uint64
//	data   [length-8]byte
//
// A length of zero (the preallocated zeros) or the end of the file marks
// the end of a segment. A data length above MaxRecordLimit (64 MiB) is
// never valid. The previous-zxid field chains the segments, so a segment
// that silently lost records (a zeroed record header hides everything
// after it) is caught when the next segment does not continue it.
//
// # Durability
//
// Append only buffers. Sync writes the buffer with one write (rarely two:
// the writer also fills preallocated space ahead of itself with real zeros a
// MiB at a time, so that fdatasync need not journal an extent conversion on
// every call) and makes it durable with one fdatasync; callers batch many
// appends per Sync (group commit). When Sync returns nil, every record
// appended before it is on disk. Rolling to a new segment fsyncs the old one
// before creating the new one and syncs the directory after, so every
// segment but the last is complete and durable.
//
// Open recovers after a crash: it reads every segment and checks every
// checksum. At the end of the last segment it accepts a torn tail: a record
// cut short, a checksum mismatch, or garbage, as long as no valid record
// with a higher zxid follows anywhere after it; such a tail is zeroed and
// fdatasynced before Open returns, and logged. Anything else is damage to
// committed data and Open refuses with a *CorruptError naming the file and
// offset: a flaw in any segment but the last, a broken chain between
// segments, records out of order, or a bad record followed by a valid one.
// The peer must not start then: recovering from a quorum or a backup is an
// operator's decision. (A disk that persists the pages of one unsynced
// batch out of order could, in principle, leave a valid unacknowledged
// record after a torn one; Open refuses that too, erring on the side of
// never dropping committed data.) A committed record damaged at the very
// end of the log, with nothing valid after it, cannot be told from a torn
// write and is cut: that is what ZAB's synchronization with the leader is
// for.
//
// # Errors
//
//   - ErrCorrupt (as *CorruptError): Open, Replay, TruncateAfter found
//     damaged committed data.
//   - ErrOrder: Append got a zxid not above the last one.
//   - ErrTooLarge: Append got a record above Config.MaxRecordBytes.
//   - ErrFailed: a write or fsync failed earlier; the Log refuses Append,
//     Sync and TruncateAfter for good (ZooKeeper's history: continuing after
//     a failed fsync loses data). Close it and recover from disk.
//   - ErrClosed: the Log was closed.
//   - ErrBadConfig: Open got an unusable Config.
//
// Filesystem errors are returned wrapped, so errors.Is(err, fs.ErrNotExist)
// and the like work.
//
// # Concurrency
//
// A Log is safe for concurrent use; see the Log type for which calls wait
// for which.
package wal
