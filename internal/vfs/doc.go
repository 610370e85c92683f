// Package vfs is the filesystem seam under zabkit's durable storage (the
// transaction log in broadcast/wal and the snapshots in broadcast/snap).
//
//	fsys := vfs.OS()                       // the real disk
//	fsys := vfs.NewCrashable()             // in memory, for crash tests
//	f, err := fsys.Create("/data/wal/log.0000000100000001")
//	_, err = f.Write(b)
//	err = f.Sync()                         // data and size durable
//	err = fsys.SyncDir("/data/wal")        // the directory entry durable
//
// Storage code only ever touches files through FS and File, so a test can
// swap the disk for a CrashFS and pull the plug at any point.
//
// # Durability model
//
// Both implementations promise the same, and storage code must assume no more:
//
//   - Bytes written to a file are durable only after File.Sync returns nil.
//     On Linux, OS files sync with fdatasync(2): the data and the file size
//     (what is needed to read the data back), not timestamps.
//   - A directory entry (a file created, renamed or removed) is durable only
//     after SyncDir of that directory returns nil. A file whose data was
//     synced but whose entry was not may vanish, or keep its old name, after
//     a crash.
//   - File.Preallocate reserves space up to a size (fallocate(2) on Linux;
//     elsewhere, or where the filesystem refuses, by writing zeros). Bytes
//     beyond the old end read as zero. Writing into preallocated space does
//     not change the file size, so a sync after such a write does not need to
//     update the size.
//   - A failed Sync leaves it unknown what reached the disk. Linux may already
//     have dropped the dirty pages, so a retry can "succeed" without the data.
//     Callers must treat a failed Sync as fatal for what they wrote
//     (broadcast/wal refuses further appends).
//
// # CrashFS
//
// NewCrashable returns an in-memory FS that tracks, for every file, the
// bytes as of its last Sync and, for every directory, the entries as of its
// last SyncDir. Crash throws away everything else, as a power cut would: a
// file's data since its last Sync is dropped, and directory entries created,
// renamed or removed since the last SyncDir of their directory revert.
// CrashTorn does the same but lets a random (seeded) part survive: a prefix of
// each file's unsynced operations, the last surviving write possibly cut
// short (a torn write; a truncate or preallocate is atomic), and a prefix of
// each directory's unsynced operations (a journaling filesystem commits
// metadata in order; a rename is atomic within one directory). Writes to a
// file are assumed to reach the disk in the order they were made; a disk
// that reorders the pages of one unsynced batch is not modelled. Survivor returns the after-crash state as a
// new FS and leaves the original running.
//
// A CrashFS keeps every file in memory twice (as written and as synced):
// give it small files (small log segments) in tests.
//
// Inject makes chosen operations fail with an error wrapping ErrInjected:
// the Nth write, sync, rename, ... or every one after a point. A failed
// operation changes nothing. File handles opened before a crash return
// ErrCrashed.
//
// # Errors
//
// Missing and existing files are reported as *fs.PathError wrapping
// fs.ErrNotExist and fs.ErrExist by both implementations, so errors.Is works
// the same on either. CrashFS adds ErrInjected (a fault a test asked for),
// ErrCrashed (a handle used after Crash) and ErrClosed (a handle used after
// Close).
//
// FS and File values are safe for concurrent use.
package vfs
