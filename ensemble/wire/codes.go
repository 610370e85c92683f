package wire

import (
	"errors"
	"fmt"

	"github.com/zabkit/zabkit/tree"
)

// Code is an error code on the wire. The values follow ZooKeeper's
// KeeperException codes where ZooKeeper has one.
type Code int32

// The error codes.
const (
	CodeOK                     Code = 0
	CodeSystemError            Code = -1
	CodeRuntimeInconsistency   Code = -2
	CodeMarshalling            Code = -5
	CodeUnimplemented          Code = -6
	CodeBadArguments           Code = -8
	CodeNoNode                 Code = -101
	CodeBadVersion             Code = -103
	CodeNoChildrenForEphemeral Code = -108
	CodeNodeExists             Code = -110
	CodeNotEmpty               Code = -111
	CodeSessionExpired         Code = -112
	CodeAuthFailed             Code = -115
	CodeNoWatcher              Code = -121
	CodeRolledBack             Code = -124 // zabkit: an op of a failed multi that would have succeeded
	CodeSequenceOverflow       Code = -125 // zabkit
	CodeNoSession              Code = -126 // zabkit
	CodeTooManyRequests        Code = -127 // zabkit: outstanding-request limit reached
	CodeTooManyConnections     Code = -128 // zabkit: connections-per-IP limit reached
	CodeBadProtocol            Code = -129 // zabkit: unknown protocol version or request before the handshake
	CodeFrameTooLarge          Code = -130 // zabkit: a frame's length is over the cap
	CodeStaleServer            Code = -131 // zabkit: the server is behind the client's last seen zxid
	CodeShuttingDown           Code = -132 // zabkit: the server is closing
)

// Sentinel errors for codes that are not tree errors. The client re-exports
// them; errors.Is works on what it returns.
var (
	ErrSessionExpired     = errors.New("zabkit: session expired")
	ErrAuthFailed         = errors.New("zabkit: wrong session password")
	ErrNoWatcher          = errors.New("zabkit: no such watcher")
	ErrSystemError        = errors.New("zabkit: system error")
	ErrMarshalling        = errors.New("zabkit: malformed message")
	ErrUnimplemented      = errors.New("zabkit: operation not implemented")
	ErrTooManyRequests    = errors.New("zabkit: too many outstanding requests")
	ErrTooManyConnections = errors.New("zabkit: too many connections from this address")
	ErrBadProtocol        = errors.New("zabkit: protocol error")
	ErrFrameTooLarge      = errors.New("zabkit: frame too large")
	ErrStaleServer        = errors.New("zabkit: server is behind this client")
	ErrShuttingDown       = errors.New("zabkit: server shutting down")
)

var codeErrs = []struct {
	code Code
	err  error
}{
	{CodeSystemError, ErrSystemError},
	{CodeRuntimeInconsistency, tree.ErrRuntimeInconsistency},
	{CodeMarshalling, ErrMarshalling},
	{CodeUnimplemented, ErrUnimplemented},
	{CodeBadArguments, tree.ErrBadArguments},
	{CodeNoNode, tree.ErrNoNode},
	{CodeBadVersion, tree.ErrBadVersion},
	{CodeNoChildrenForEphemeral, tree.ErrNoChildrenForEphemerals},
	{CodeNodeExists, tree.ErrNodeExists},
	{CodeNotEmpty, tree.ErrNotEmpty},
	{CodeSessionExpired, ErrSessionExpired},
	{CodeAuthFailed, ErrAuthFailed},
	{CodeNoWatcher, ErrNoWatcher},
	{CodeRolledBack, tree.ErrRolledBack},
	{CodeSequenceOverflow, tree.ErrSequenceOverflow},
	{CodeNoSession, tree.ErrNoSession},
	{CodeTooManyRequests, ErrTooManyRequests},
	{CodeTooManyConnections, ErrTooManyConnections},
	{CodeBadProtocol, ErrBadProtocol},
	{CodeFrameTooLarge, ErrFrameTooLarge},
	{CodeStaleServer, ErrStaleServer},
	{CodeShuttingDown, ErrShuttingDown},
}

// CodeOf returns the code for err: CodeOK for nil, the matching code for any
// error that wraps a sentinel in the table, CodeSystemError otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	for _, ce := range codeErrs {
		if errors.Is(err, ce.err) {
			return ce.code
		}
	}
	return CodeSystemError
}

// Err returns the sentinel error for c, wrapped with msg when msg is not
// empty: nil for CodeOK; for an unknown code an error wrapping ErrSystemError
// that names it.
func (c Code) Err(msg string) error {
	if c == CodeOK {
		return nil
	}
	for _, ce := range codeErrs {
		if ce.code == c {
			if msg == "" || msg == ce.err.Error() {
				return ce.err
			}
			return fmt.Errorf("%w: %s", ce.err, msg)
		}
	}
	return fmt.Errorf("%w: unknown error code %d: %s", ErrSystemError, int32(c), msg)
}
