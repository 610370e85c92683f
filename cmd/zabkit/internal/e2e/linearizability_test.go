//go:build unix

package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// The register model: one znode per key, whose state is its data and its
// version (every set, conditional or not, adds one to the version).

type opKind uint8

const (
	opGet opKind = iota // GetLinearizable
	opSet               // Set at any version
	opCAS               // Set at an expected version
)

func (k opKind) String() string {
	switch k {
	case opGet:
		return "get"
	case opSet:
		return "set"
	case opCAS:
		return "cas"
	}
	return fmt.Sprintf("opKind(%d)", uint8(k))
}

// regInput is an operation's call.
type regInput struct {
	kind   opKind
	key    string
	value  string // opSet, opCAS
	expect int32  // opCAS: the version it requires
}

// regOutput is an operation's result.
type regOutput struct {
	// unknown: a write whose outcome is unknown (connection lost, timed
	// out): it may or may not have happened, so its return is at the end of
	// history and the model accepts it either way.
	unknown bool
	// badVersion: an opCAS the server refused with ErrBadVersion.
	badVersion bool
	value      string // opGet: the data read
	version    int32  // opGet: the version read; opSet, opCAS: the new version
}

// regState is one key's state.
type regState struct {
	value   string
	version int32
}

// initialValue is every key's data before the history starts (version 0).
const initialValue = "init"

// registerModel is a porcupine model of a set of registers with versions,
// partitioned by key.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return regState{value: initialValue} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(regState), input.(regInput), output.(regOutput)
		next := regState{value: in.value, version: s.version + 1}
		switch in.kind {
		case opGet:
			return out.value == s.value && out.version == s.version, s
		case opSet:
			if out.unknown {
				return true, next
			}
			return out.version == next.version, next
		case opCAS:
			switch {
			case out.unknown:
				if s.version == in.expect {
					return true, next
				}
				return true, s
			case out.badVersion:
				return s.version != in.expect, s
			default:
				return s.version == in.expect && out.version == next.version, next
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		var res string
		switch {
		case out.unknown:
			res = "unknown"
		case out.badVersion:
			res = "bad version"
		case in.kind == opGet:
			res = fmt.Sprintf("%q v%d", out.value, out.version)
		default:
			res = fmt.Sprintf("ok v%d", out.version)
		}
		switch in.kind {
		case opGet:
			return fmt.Sprintf("get(%s) -> %s", in.key, res)
		case opSet:
			return fmt.Sprintf("set(%s, %q) -> %s", in.key, in.value, res)
		default:
			return fmt.Sprintf("cas(%s, %q, v%d) -> %s", in.key, in.value, in.expect, res)
		}
	},
	DescribeState: func(state any) string {
		s := state.(regState)
		return fmt.Sprintf("%q v%d", s.value, s.version)
	},
}

// faultKind is a fault the linearizability test injects.
type faultKind int

const (
	faultKillLeader    faultKind = iota // kill -9 the leader, restart it later
	faultPauseLeader                    // SIGSTOP the leader, SIGCONT it after a new one serves
	faultKillFollower                   // kill -9 a follower, restart it later
	faultCrashAll                       // kill -9 all three, restart them
	faultPauseFollower                  // SIGSTOP a follower (a slow peer), SIGCONT it later
)

var faultKinds = []faultKind{faultKillLeader, faultPauseLeader, faultKillFollower, faultCrashAll, faultPauseFollower}

// history records operations from several goroutines.
type history struct {
	base    time.Time
	nextID  atomic.Int64 // porcupine client ids: a worker takes a new one after an unknown outcome
	done    atomic.Int64 // operations finished, whatever their outcome
	unknown atomic.Int64
	dropped atomic.Int64 // failed reads, left out
	mu      struct {
		sync.Mutex
		ops []porcupine.Operation
	}
}

func (h *history) now() int64 { return int64(time.Since(h.base)) }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.mu.ops = append(h.mu.ops, op)
	h.mu.Unlock()
}

// operations returns the history with every unknown write's return moved
// past the end of everything else.
func (h *history) operations() []porcupine.Operation {
	h.mu.Lock()
	ops := slices.Clone(h.mu.ops)
	h.mu.Unlock()
	var end int64
	for _, op := range ops {
		if !op.Output.(regOutput).unknown {
			end = max(end, op.Return)
		}
	}
	for i := range ops {
		if ops[i].Output.(regOutput).unknown {
			ops[i].Return = end + 1 + int64(i)
		}
	}
	return ops
}

// linWorker runs one client's operations until stop: each a
// GetLinearizable, a Set or a conditional Set on one of keys, one at a
// time, recorded in h.
func linWorker(cl *client.Client, seed uint64, keys []string, h *history, stop <-chan struct{}, fatal chan<- error) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	id := int(h.nextID.Add(1) - 1)
	seen := map[string]int32{} // the last version this worker saw per key
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key := keys[rng.IntN(len(keys))]
		in := regInput{key: key}
		switch r := rng.IntN(10); {
		case r < 4:
			in.kind = opGet
		case r < 8:
			in.kind = opSet
		default:
			in.kind = opCAS
			// What it saw last (often stale by now), or one off; never
			// below 0, which would be tree.AnyVersion.
			in.expect = max(0, seen[key]+int32(rng.IntN(3))-1)
		}
		if in.kind != opGet {
			in.value = fmt.Sprintf("c%d-%d", id, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		call := h.now()
		var out regOutput
		var err error
		switch in.kind {
		case opGet:
			var data []byte
			var st tree.Stat
			data, st, err = cl.GetLinearizable(ctx, key)
			out.value, out.version = string(data), st.Version
		case opSet, opCAS:
			version := tree.AnyVersion
			if in.kind == opCAS {
				version = in.expect
			}
			var st tree.Stat
			st, err = cl.Set(ctx, key, []byte(in.value), version)
			out.version = st.Version
		}
		ret := h.now()
		cancel()
		h.done.Add(1)
		switch {
		case errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed):
			fatal <- fmt.Errorf("client %d: %v(%s): %w", id, in.kind, key, err)
			return
		case err == nil:
			seen[key] = out.version
		case in.kind == opGet:
			h.dropped.Add(1) // a failed read says nothing
			continue
		case in.kind == opCAS && errors.Is(err, client.ErrBadVersion):
			out = regOutput{badVersion: true}
		default:
			out = regOutput{unknown: true}
			h.unknown.Add(1)
		}
		h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
		if out.unknown {
			// This client id has an operation that never ends: go on as a
			// new one, as a crashed process would.
			id = int(h.nextID.Add(1) - 1)
		}
	}
}

// checkLinearizable checks ops against the register model; on a violation
// it writes porcupine's visualization to a file in visDir ("": the system
// temp dir, kept after the test) and prints its path, returned as well.
func checkLinearizable(t *testing.T, ops []porcupine.Operation, timeout time.Duration, visDir string) (porcupine.CheckResult, string) {
	t.Helper()
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, timeout)
	t.Logf("porcupine: %v for %d operations in %v", res, len(ops), time.Since(began).Round(time.Millisecond))
	if res == porcupine.Illegal {
		f, err := os.CreateTemp(visDir, "zabkit-linearizability-*.html")
		if err == nil {
			err = porcupine.Visualize(registerModel, info, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Logf("cannot write the visualization: %v", err)
		} else {
			t.Logf("history is not linearizable: visualization in %s", f.Name())
			if txt, err := dumpHistory(ops, f.Name()+".txt"); err == nil {
				t.Logf("the history as text, per key in call order: %s", txt)
			}
			return res, f.Name()
		}
	}
	return res, ""
}

// dumpHistory writes ops as text, one line each, per key in call order
// (times in ms since the start), to path; it returns path.
func dumpHistory(ops []porcupine.Operation, path string) (string, error) {
	var b strings.Builder
	for _, part := range registerModel.Partition(ops) {
		part = slices.Clone(part)
		slices.SortStableFunc(part, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		for _, op := range part {
			fmt.Fprintf(&b, "%10.3f %10.3f client %3d  %s\n", float64(op.Call)/1e6, float64(op.Return)/1e6, op.ClientId,
				registerModel.DescribeOperation(op.Input, op.Output))
		}
		b.WriteString("\n")
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// TestLinearizableUnderFailover: 5 clients do GetLinearizable, Set and
// conditional Set on 3 keys through two faults (8 under ZABKIT_LONG): the
// first kills the leader (kill -9, restarted later), each later one, by
// seed, does that again, pauses the leader (SIGSTOP, then SIGCONT: a
// deposed leader that wakes up), kills or pauses a follower, or kills all
// three at once. The recorded history must be linearizable for a register
// per key; writes with unknown outcome end at infinity, failed reads are
// dropped. The peers then converge.
func TestLinearizableUnderFailover(t *testing.T) {
	rng := testRand(t)
	faults, phase := 2, int64(300)
	if long() {
		faults, phase = 8, 1000
	}
	c := newCluster(t, 3, clusterOpts{})
	setup := c.connect()
	keys := []string{"/lin-a", "/lin-b", "/lin-c"}
	for _, k := range keys {
		createRetry(t, setup, k, []byte(initialValue))
	}
	// Every key at version 0 with the initial value, as the model starts.
	for _, k := range keys {
		data, st, err := setup.GetLinearizable(context.Background(), k)
		require.NoError(t, err)
		require.Equal(t, initialValue, string(data))
		require.Equal(t, int32(0), st.Version)
	}

	h := &history{base: time.Now()}
	stop := make(chan struct{})
	fatal := make(chan error, 5)
	var wg sync.WaitGroup
	for range 5 {
		cl := c.connect()
		seed := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			linWorker(cl, seed, keys, h, stop, fatal)
		}()
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopWorkers)
	waitOps := func(n int64) {
		t.Helper()
		target := h.done.Load() + n
		if !eventually(func() bool { return h.done.Load() >= target || len(fatal) > 0 }) {
			t.Fatalf("clients finished %d operations, not %d, within %v", h.done.Load(), target, waitFor)
		}
		if len(fatal) > 0 {
			t.Fatalf("a client lost its session: %v", <-fatal)
		}
	}

	waitOps(phase)
	for f := range faults {
		lead, st := c.waitLeader()
		kind := faultKind(rng.IntN(len(faultKinds)))
		if f == 0 {
			kind = faultKillLeader // at least one kill -9 of the leader in every run
		}
		switch kind {
		case faultKillLeader:
			c.kill(lead)
			nl, nst := c.waitLeader()
			c.logf("fault %d: leader %d (epoch %d, %d client connections) killed; leader %d in epoch %d",
				f+1, lead, st.Epoch, st.Connections, nl, nst.Epoch)
			waitOps(phase)
			c.start(lead)
		case faultPauseLeader:
			c.pause(lead)
			nl, nst := c.waitLeader()
			c.logf("fault %d: leader %d (epoch %d, %d client connections) paused; leader %d in epoch %d",
				f+1, lead, st.Epoch, st.Connections, nl, nst.Epoch)
			waitOps(phase)
			c.resume(lead)
		case faultKillFollower:
			follower := lead%3 + 1
			c.kill(follower)
			c.logf("fault %d: follower %d of leader %d killed", f+1, follower, lead)
			waitOps(phase)
			c.start(follower)
		case faultPauseFollower:
			follower := lead%3 + 1
			c.pause(follower)
			c.logf("fault %d: follower %d of leader %d paused", f+1, follower, lead)
			waitOps(phase)
			c.resume(follower)
		case faultCrashAll:
			for _, id := range c.ids() {
				c.kill(id)
			}
			for _, id := range c.ids() {
				c.start(id)
			}
			nl, nst := c.waitLeader()
			c.logf("fault %d: all three killed and restarted; leader %d in epoch %d", f+1, nl, nst.Epoch)
		}
		c.waitLeader()
		waitOps(phase)
	}
	stopWorkers()
	if len(fatal) > 0 {
		t.Fatalf("a client lost its session: %v", <-fatal)
	}

	ops := h.operations()
	kinds := map[opKind]int{}
	bad := 0
	for _, op := range ops {
		kinds[op.Input.(regInput).kind]++
		if op.Output.(regOutput).badVersion {
			bad++
		}
	}
	c.logf("history: %d operations (%d gets, %d sets, %d cas of which %d bad version), %d unknown outcomes, %d failed reads dropped",
		len(ops), kinds[opGet], kinds[opSet], kinds[opCAS], bad, h.unknown.Load(), h.dropped.Load())
	timeout := time.Minute
	if long() {
		timeout = 5 * time.Minute
	}
	res, _ := checkLinearizable(t, ops, timeout, "")
	assert.NotEqual(t, porcupine.Illegal, res, "the history is not linearizable")
	if res == porcupine.Unknown {
		t.Logf("porcupine gave up after %v: no violation found, none proven absent", timeout)
	}
	c.waitConverged()
}

// TestCheckerHasTeeth feeds the checker small hand-made histories: the
// illegal ones must come out Illegal, so a pass above means something.
func TestCheckerHasTeeth(t *testing.T) {
	op := func(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	get := func(client int, call, ret int64, k, v string, ver int32) porcupine.Operation {
		return op(client, call, ret, regInput{kind: opGet, key: k}, regOutput{value: v, version: ver})
	}
	set := func(client int, call, ret int64, k, v string, ver int32) porcupine.Operation {
		return op(client, call, ret, regInput{kind: opSet, key: k, value: v}, regOutput{version: ver})
	}
	unknownSet := func(client int, call, ret int64, k, v string) porcupine.Operation {
		return op(client, call, ret, regInput{kind: opSet, key: k, value: v}, regOutput{unknown: true})
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"stale read after an acknowledged write", []porcupine.Operation{
			set(0, 0, 10, "/k", "a", 1),
			get(1, 20, 30, "/k", initialValue, 0),
		}, porcupine.Illegal},
		{"read of a value never written", []porcupine.Operation{
			get(0, 0, 10, "/k", "ghost", 1),
		}, porcupine.Illegal},
		{"reads see two writes in opposite orders", []porcupine.Operation{
			set(0, 0, 100, "/k", "a", 1),
			set(1, 0, 100, "/k", "b", 2),
			get(2, 110, 120, "/k", "a", 2),
			get(3, 130, 140, "/k", "b", 2),
		}, porcupine.Illegal},
		{"a set's version skips one", []porcupine.Operation{
			set(0, 0, 10, "/k", "a", 2),
		}, porcupine.Illegal},
		{"cas refused at the version it required", []porcupine.Operation{
			op(0, 0, 10, regInput{kind: opCAS, key: "/k", value: "x", expect: 0}, regOutput{badVersion: true}),
		}, porcupine.Illegal},
		{"cas accepted at another version", []porcupine.Operation{
			set(0, 0, 10, "/k", "a", 1),
			op(1, 20, 30, regInput{kind: opCAS, key: "/k", value: "x", expect: 0}, regOutput{version: 2}),
		}, porcupine.Illegal},
		{"unknown write seen, then unseen", []porcupine.Operation{
			unknownSet(0, 0, 1000, "/k", "u"),
			get(1, 10, 20, "/k", "u", 1),
			get(1, 30, 40, "/k", initialValue, 0),
		}, porcupine.Illegal},
		{"concurrent write seen or not", []porcupine.Operation{
			set(0, 0, 100, "/k", "a", 1),
			get(1, 10, 20, "/k", initialValue, 0),
			get(2, 30, 40, "/k", "a", 1),
		}, porcupine.Ok},
		{"unknown write seen late", []porcupine.Operation{
			unknownSet(0, 0, 1000, "/k", "u"),
			get(1, 10, 20, "/k", initialValue, 0),
			get(1, 30, 40, "/k", "u", 1),
			get(2, 50, 60, "/other", initialValue, 0),
		}, porcupine.Ok},
		{"unknown cas never seen", []porcupine.Operation{
			op(0, 0, 1000, regInput{kind: opCAS, key: "/k", value: "u", expect: 0}, regOutput{unknown: true}),
			set(1, 10, 20, "/k", "b", 1),
			get(1, 30, 40, "/k", "b", 1),
		}, porcupine.Ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, vis := checkLinearizable(t, tc.ops, 10*time.Second, t.TempDir())
			assert.Equal(t, tc.want, res)
			if res == porcupine.Illegal {
				st, err := os.Stat(vis)
				if assert.NoError(t, err, "the visualization of an illegal history") {
					assert.Positive(t, st.Size())
				}
			}
		})
	}
}
