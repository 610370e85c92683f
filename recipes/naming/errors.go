package naming

import "errors"

// The errors of package naming, compared with errors.Is. Besides these,
// every call may return the client's errors as its comment says
// (client.ErrSessionExpired, client.ErrClosed, tree errors) and ctx.Err().
var (
	// ErrBadName: a base path, name, service or instance id is not a valid
	// znode path or name (empty, contains "/", "." or "..", control
	// characters, ...). It also matches tree.ErrBadArguments. Returned by
	// every method of a value built with a bad base path, and by Claim,
	// Owner, Register, Update, Lookup and Watch for a bad argument.
	ErrBadName = errors.New("naming: invalid name or path")

	// ErrTaken: Claim found the name claimed by someone else (another
	// session, or another Claim on the same session).
	ErrTaken = errors.New("naming: name already claimed")

	// ErrNotClaimed: Owner found no claim on the name.
	ErrNotClaimed = errors.New("naming: name not claimed")

	// ErrAlreadyRegistered: Register found the instance id of that service
	// registered already, by this Registry or by another session.
	ErrAlreadyRegistered = errors.New("naming: instance already registered")

	// ErrNotRegistered: Update was called after Deregister (or Close).
	ErrNotRegistered = errors.New("naming: not registered")

	// ErrLost: Update was called on a Registration whose session is gone
	// (a Registry on a plain Conn whose session expired or was closed).
	ErrLost = errors.New("naming: registration lost")

	// ErrClosed: the Registry was closed. Returned by Register, Lookup,
	// Services and Watch after Close, and as the Err of a Watch's last
	// Members when Close ends it.
	ErrClosed = errors.New("naming: registry closed")
)
