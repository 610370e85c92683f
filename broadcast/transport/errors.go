package transport

import "errors"

// Sentinel errors. Compare with errors.Is; every error the package returns
// wraps one of them (or, from New, the listener's own error).
var (
	// ErrConfig: New was given an unusable Config (no cluster id, an id of
	// 0 or not among Members, duplicate members, no Resolve, a negative or
	// out-of-range limit).
	ErrConfig = errors.New("transport: invalid config")
	// ErrMalformed: DecodeMessage, or a connection's reader, met a body
	// that is not a well-formed message: bad msgpack, a hostile length
	// claim, an unknown format version or message type, a wrong field
	// type, trailing bytes, an empty frame or an unknown frame kind. The
	// connection it came on is closed.
	ErrMalformed = errors.New("transport: malformed frame")
	// ErrFrameTooLarge: AppendMessage was asked to encode a byte slice or
	// list longer than msgpack can describe (4 GiB), a frame would exceed
	// Config.MaxFrame (the sender drops the message), or a peer announced a
	// frame longer than the cap (the receiver closes the connection before
	// allocating anything).
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrHandshake: the mutual authentication of a new connection failed
	// (wrong cluster id, a stranger or an unexpected server id, a bad MAC,
	// a malformed or late handshake frame, or a refusal from the other
	// side). The connection is closed; the error text gives the reason.
	ErrHandshake = errors.New("transport: handshake failed")
	// ErrUnresolved: Config.Resolve had no address for a member that
	// messages were queued for; they are dropped and a Down hint is sent.
	ErrUnresolved = errors.New("transport: no address for member")
	// ErrClosed: the Transport was closed while a connection was being
	// set up.
	ErrClosed = errors.New("transport: closed")
)
