package election

import "errors"

var (
	// ErrNotLeader: this Election does not lead (it never won, it resigned,
	// or its leadership was lost). Returned by Proclaim, wrapping the
	// client's error when the server said so (tree.ErrNoNode: the node is
	// gone; client.ErrSessionExpired, client.ErrClosed).
	ErrNotLeader = errors.New("election: not the leader")
	// ErrNoLeader: no candidate stands. Returned by Leader.
	ErrNoLeader = errors.New("election: no leader")
	// ErrLost: the candidate's node or its session went away while Campaign
	// waited (the session expired, the client was closed, or someone deleted
	// the node). Returned by Campaign, wrapping the client's error when there
	// is one.
	ErrLost = errors.New("election: candidacy lost")
	// ErrCampaigning: another Campaign call on the same Election is still
	// running. Returned by Campaign.
	ErrCampaigning = errors.New("election: a campaign is already running")
)
