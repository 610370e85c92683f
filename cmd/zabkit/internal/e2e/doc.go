// Package e2e holds zabkit's real-process tests: every peer of an ensemble
// is its own `zabkit server` process on 127.0.0.1, and the tests hurt them
// the way an operator's machines get hurt: kill -9, SIGSTOP and SIGCONT (a
// peer that is slow or cut off), restarts on the same data directory, and
// a damaged tail of the newest txn log segment.
//
// The package has no API; it is only its tests, which run in the default
// `go test ./...`:
//
//	go test ./cmd/zabkit/internal/e2e/
//	ZABKIT_LONG=1 go test ./cmd/zabkit/internal/e2e/   # longer and more faults
//	ZABKIT_SEED=N go test ./cmd/zabkit/internal/e2e/   # replay a printed seed
//	ZABKIT_E2E_BIN=/tmp/zabkit go test ...              # use this binary, do not build
//	ZABKIT_E2E_RACE=1 go test ...                        # build the binary with -race
//
// # What runs
//
// TestMain builds the binary once with the go tool of the running
// toolchain (go test puts its GOROOT/bin first in PATH); without a go tool
// every test skips and says why. A harness starts N peers with --id, --peers,
// --client-addr on free loopback ports, --data, --pid-file and a 20ms ZAB
// tick, logs each peer's stdout and stderr to a file whose tail is printed
// when a test fails, and asks peers for their role, leader, last zxid and
// digest with client.PeerStatus.
//
// The tests: kill -9 of the leader under 4 writing clients (no acknowledged
// write lost; the time to the first write after the kill is logged), kill
// -9 of all three at once under the same load, catch up of a returning peer
// by DIFF and, after a long absence, by SNAP, a minority that may not
// commit, a follower restarted with a torn log tail, and a porcupine
// linearizability check of a recorded history of sets, compare-and-sets
// and linearizable reads under leader failures. Every test ends with all
// running peers at the same last zxid and digest. A peer log holding a
// data race report (a binary built with ZABKIT_E2E_RACE=1) fails the test.
//
// # Seeds
//
// Each test prints its seed; the seed picks what the test chooses (which
// peer to hurt, the damage to a log, the mix and keys of operations).
// Timing still comes from real processes, so a replay repeats the choices,
// not the exact interleaving.
package e2e
