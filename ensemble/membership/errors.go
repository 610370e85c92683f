package membership

import "errors"

// Sentinel errors. Compare with errors.Is: every error this package returns
// wraps one of them.
var (
	// ErrConfig is wrapped by Start when a Config field is invalid, and by
	// UpdateClientAddr when the new address is not a host:port or does not
	// fit in the announced meta.
	ErrConfig = errors.New("membership: invalid config")
	// ErrBind is wrapped by Start when the gossip address cannot be bound
	// (TCP or UDP); memberlist's own error text is wrapped next to it.
	ErrBind = errors.New("membership: cannot bind gossip address")
	// ErrClosed is returned by UpdateClientAddr after Close.
	ErrClosed = errors.New("membership: closed")
	// ErrStranger is what the gossip filter hands memberlist (wrapped with
	// the reason) when it refuses a node; memberlist only logs it, callers
	// of this package never receive it.
	ErrStranger = errors.New("membership: stranger")
	// ErrBadMeta is wrapped by the meta decoder when announced meta is too
	// long, is not the expected JSON object, or names an invalid address;
	// such a node is a stranger.
	ErrBadMeta = errors.New("membership: bad node meta")
)
