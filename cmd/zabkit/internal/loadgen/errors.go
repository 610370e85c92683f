package loadgen

import "errors"

var (
	// ErrUnknownWorkload is returned by Run for a name not in Workloads.
	ErrUnknownWorkload = errors.New("loadgen: unknown workload")
	// ErrLockNodeLost is returned by the lock recipe when its contender's
	// node vanished while it waited (the session expired); the lock
	// workload counts it in Result.Errors.
	ErrLockNodeLost = errors.New("loadgen: lock node vanished")
	// ErrMutualExclusion is what `zabkit bench lock` fails with when a run
	// reports Result.Violations: two contenders held the mutex at once.
	ErrMutualExclusion = errors.New("loadgen: mutual exclusion violated")
	// ErrNotEnsemble is returned by Failover when the servers are not an
	// ensemble of at least three peers (fewer addresses, or a standalone
	// peer among them).
	ErrNotEnsemble = errors.New("loadgen: failover needs an ensemble of at least 3 peers")
	// ErrNoLeader is returned by Failover when no peer reports leading
	// within FailoverConfig.Timeout, or the ensemble never becomes whole
	// (every peer leading, following or observing) before an iteration.
	ErrNoLeader = errors.New("loadgen: no leader")
)
