package ensemble

import "errors"

// Sentinel errors returned by the peer's own API (New, Start, Stop). Errors
// a client sees travel as wire codes instead.
var (
	// ErrConfig is wrapped by New when a Config field is invalid.
	ErrConfig = errors.New("ensemble: invalid config")
	// ErrStarted is returned by Start when the server was already started.
	ErrStarted = errors.New("ensemble: already started")
	// ErrNotStarted is returned by Stop when Start never succeeded.
	ErrNotStarted = errors.New("ensemble: not started")
	// ErrLogGap is wrapped by Start when the txn log does not continue the
	// snapshot it is replayed on (or, without a snapshot, does not begin at
	// the first zxid ever): records are missing and the peer refuses to
	// guess (ZOOKEEPER-2325).
	ErrLogGap = errors.New("ensemble: txn log does not continue the snapshot")
	// ErrCorruptTxn is wrapped by Start when a log record does not decode
	// into a txn or its zxid disagrees with the record's.
	ErrCorruptTxn = errors.New("ensemble: corrupt txn in log")
	// ErrBrokenInvariant is wrapped by Start when replaying the log breaks a
	// tree invariant (a zxid going backwards); while running the same
	// condition stops all writes.
	ErrBrokenInvariant = errors.New("ensemble: broken invariant")
)
