package zabtest

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Seeds: ZABKIT_SEEDS=N runs N seeds per configuration instead of the
// default; ZABKIT_SEED=N replays one seed with a trace of its last events;
// ZABKIT_STEPS=N makes each run N random steps long (default 1500).
func seeds(t *testing.T, def int) (first, count uint64) {
	t.Helper()
	if v := os.Getenv("ZABKIT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ZABKIT_SEED=%q: %v", v, err)
		}
		return s, 1
	}
	n := def
	if raceEnabled {
		n = max(1, def/20)
	}
	if v := os.Getenv("ZABKIT_SEEDS"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s <= 0 {
			t.Fatalf("ZABKIT_SEEDS=%q: want a positive integer", v)
		}
		n = s
	}
	return 1, uint64(n)
}

func runSeeds(t *testing.T, def int, opt Options) {
	first, count := seeds(t, def)
	if v := os.Getenv("ZABKIT_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("ZABKIT_STEPS=%q: want a positive integer", v)
		}
		opt.Steps = n
	}
	var tot Stats
	for seed := first; seed < first+count; seed++ {
		opt.Seed = seed
		st, err := RunStats(opt)
		if err != nil {
			// Replay the same seed with a trace: the run is deterministic.
			opt.Trace = true
			_, err = RunStats(opt)
			t.Fatalf("%v\nreplay: ZABKIT_SEED=%d go test ./broadcast/zabtest -run '%s'", err, seed, runPattern(t.Name()))
		}
		tot.Delivered += st.Delivered
		tot.Epochs += st.Epochs
		tot.Crashes += st.Crashes
		tot.Torn += st.Torn
		tot.Snaps += st.Snaps
	}
	t.Logf("%d seeds: %d txns delivered, %d established epochs, %d crashes (%d torn), %d SNAPs installed",
		count, tot.Delivered, tot.Epochs, tot.Crashes, tot.Torn, tot.Snaps)
	if count >= 20 && (tot.Delivered < int(count) || tot.Epochs < int(count) || tot.Torn == 0 ||
		(opt.Compact && tot.Snaps == 0)) {
		t.Errorf("the schedule did too little: %+v", tot)
	}
}

// runPattern turns a test name into a -run pattern matching only it.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func TestSimulation(t *testing.T) {
	for _, peers := range []int{3, 5} {
		t.Run(fmt.Sprintf("peers=%d", peers), func(t *testing.T) {
			runSeeds(t, 2000, Options{Peers: peers})
		})
	}
}

// TestSimulationObservers adds non-voting members: they must deliver the
// same history and never count toward a quorum.
func TestSimulationObservers(t *testing.T) {
	runSeeds(t, 300, Options{Peers: 3, Observers: 2})
}

// TestSimulationSnap makes peers compact their logs behind snapshots, so
// that lagging or diverging followers are synced by SNAP.
func TestSimulationSnap(t *testing.T) {
	for _, peers := range []int{3, 5} {
		t.Run(fmt.Sprintf("peers=%d", peers), func(t *testing.T) {
			runSeeds(t, 500, Options{Peers: peers, Observers: 1, Compact: true})
		})
	}
}

// TestSimulationCounterExhaustion runs with a tiny zxid counter so that
// leaders keep running out of it and must move to a new epoch.
func TestSimulationCounterExhaustion(t *testing.T) {
	for _, peers := range []int{3, 5} {
		t.Run(fmt.Sprintf("peers=%d", peers), func(t *testing.T) {
			runSeeds(t, 200, Options{Peers: peers, MaxCounter: 4})
		})
	}
}

// TestDeterministic: the same seed gives the same run, event for event.
func TestDeterministic(t *testing.T) {
	var trace []string
	dumpTrace = func(tr []string) { trace = tr }
	defer func() { dumpTrace = nil }()
	for seed := uint64(1); seed <= 5; seed++ {
		opt := Options{Seed: seed, Peers: 5, Observers: 1, Compact: true, Trace: true}
		a, errA := RunStats(opt)
		ta := trace
		b, errB := RunStats(opt)
		if a != b || fmt.Sprint(errA) != fmt.Sprint(errB) || !slices.Equal(ta, trace) || len(ta) < 1000 {
			t.Fatalf("seed %d: two runs differ: %+v %v / %+v %v (%d/%d events)", seed, a, errA, b, errB, len(ta), len(trace))
		}
	}
}
