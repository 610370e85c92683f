package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrCorrupt: committed data in the log is damaged. Returned by Open (and
	// by Replay if the disk changed under a running Log) as a *CorruptError
	// naming the file and offset. The peer must not start: starting would
	// silently drop acknowledged transactions.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrOrder: Append was given a zxid not greater than the last one
	// appended. Nothing of that call was appended.
	ErrOrder = errors.New("wal: zxid not increasing")
	// ErrTooLarge: Append was given a record larger than
	// Config.MaxRecordBytes. Nothing of that call was appended.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrFailed: an earlier write or fsync failed. The Log refuses every
	// further Append, Sync and TruncateAfter: after a failed fsync it is
	// unknown what is on disk, and retrying can report success for data
	// the kernel already dropped. Close the Log; the peer must stop acking
	// and recover from disk. The error also wraps the original cause.
	ErrFailed = errors.New("wal: log failed earlier, refusing writes")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("wal: log closed")
	// ErrBadConfig: Open was given an unusable Config.
	ErrBadConfig = errors.New("wal: bad config")
)

// CorruptError describes damaged committed data: which segment file, at
// which byte offset, and what is wrong. It unwraps to ErrCorrupt.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

// Error returns a one-line description naming the file and offset.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt log %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(file string, off int64, format string, args ...any) error {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
