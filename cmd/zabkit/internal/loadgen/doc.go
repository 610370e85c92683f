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
//
// It may import ensemble/client and tree; it is used only by cmd/zabkit.
package loadgen
