package broadcast

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNotLeader: Propose was called on a peer that is not an
	// established leader (still electing, following, or leading an epoch
	// that a quorum has not yet acknowledged).
	ErrNotLeader = errors.New("broadcast: not an established leader")
	// ErrCounterExhausted: Propose found the zxid counter of the current
	// epoch used up (Config.MaxCounter). The peer has stepped down so that
	// a new election starts a new epoch (ZOOKEEPER-1277); retry on the
	// next leader.
	ErrCounterExhausted = errors.New("broadcast: zxid counter exhausted, new epoch needed")
	// ErrBadConfig: NewPeer was given an unusable Config or Storage, or
	// Compact a zxid that was not delivered.
	ErrBadConfig = errors.New("broadcast: bad config")
	// ErrInvariant: Step met a message that would break a protocol
	// invariant (a TRUNC below a delivered txn, a sync that does not
	// continue the log). The peer has returned to election; the driver
	// should treat this as a bug and stop loudly.
	ErrInvariant = errors.New("broadcast: protocol invariant broken")
)
