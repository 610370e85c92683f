package barrier

import "errors"

var (
	// ErrEntered: Enter was called on a DoubleBarrier member that is already
	// in (call Leave first). Returned by Enter.
	ErrEntered = errors.New("barrier: already entered")
	// ErrNotEntered: Leave was called on a DoubleBarrier member that has not
	// entered. Returned by Leave.
	ErrNotEntered = errors.New("barrier: not entered")
	// ErrBusy: another Enter or Leave call on the same DoubleBarrier member
	// is still running. Returned by Enter and Leave.
	ErrBusy = errors.New("barrier: another Enter or Leave is running on this member")
	// ErrLost: the member's node or session went away while Enter or Leave
	// waited (the session expired, the client was closed, or someone
	// deleted the node). Returned by Enter and Leave, wrapping the client's
	// error when there is one.
	ErrLost = errors.New("barrier: membership lost")
)
