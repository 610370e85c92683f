package snap

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNoSnapshot: Load found no snapshot file at all (a new peer). It is
	// NOT returned when snapshots exist but none is usable: that is
	// ErrCorrupt or fn's error, and a peer must not start empty then.
	ErrNoSnapshot = errors.New("snap: no snapshot")
	// ErrCorrupt: a snapshot file failed its checks (magic, version, zxid,
	// length or checksum). Load wraps it per file, and in its error when no
	// snapshot is usable.
	ErrCorrupt = errors.New("snap: corrupt snapshot")
	// ErrBadArgument: Retain was asked to keep fewer than one snapshot.
	ErrBadArgument = errors.New("snap: bad argument")
)
