// Package loadgen runs zabkit's benchmark workloads against a running
// ensemble through the public Go client: the engine behind `zabkit bench`.
//
// The workloads have the shape of the ZooKeeper reference kit's, so the two
// can be compared in one run on one machine: C goroutines share min(C,
// Sessions) sessions spread over the servers, values are Size bytes, a run
// is Ops operations (Ops1 when C is 1), keys are preloaded for set, get and
// mixed, and every result reports ops/s and p50/p99/p99.9 latency.
//
// # Workloads
//
//   - create: creates fresh keys, then reports a delete run over the same
//     keys (unless NoDelete).
//   - set, get, mixed (ReadPct% get, the rest set): over Keys preloaded keys.
//   - session: opens and closes a session per op.
//   - watch: Watchers sessions each leave a one-shot data watch on one node;
//     one set; the latency is until the last watcher is notified.
//   - lock: Lockers contenders, each with its own session, take and release
//     one mutex for Duration with the standard herd-free ZooKeeper recipe
//     (ephemeral-sequential child under LockRoot/<run>, the lowest holds,
//     the others watch their immediate predecessor and list again on its
//     event). Ops/s is handoffs per second, the latencies are acquire
//     latencies with the queue wait; an atomic holder counter reports
//     Result.Violations. The recipe lives here until recipes/lock exists.
//   - failover (Failover, not Run): against an ensemble of `zabkit server`
//     processes started with --pid-file, a writer sets one key in a loop
//     while the leader is killed with SIGKILL; it measures the time to a new
//     leader, to the first successful write, the longest write gap and the
//     rejoin of the restarted peer, one FailoverResult per iteration with
//     the reference kit's field names.
//
// It may import ensemble/client, ensemble/wire and tree; it is used only by
// cmd/zabkit.
package loadgen
