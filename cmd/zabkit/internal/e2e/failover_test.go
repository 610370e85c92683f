//go:build unix

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/tree"
)

// TestKillLeaderWhileWriting: kill -9 of the leader while 4 clients write.
// A new leader in a later epoch serves, no client loses its session, every
// acknowledged create is on both survivors, and they converge. The time
// from the kill to the first acknowledged write of the new epoch is logged.
func TestKillLeaderWhileWriting(t *testing.T) {
	rng := testRand(t)
	rounds := 2
	if long() {
		rounds = 6
	}
	c := newCluster(t, 3, clusterOpts{})
	setup := c.connect()
	createRetry(t, setup, "/kw", nil)
	w := startWriters(t, c, 4, "/kw")
	var failovers []time.Duration
	for round := range rounds {
		lead, st := c.waitLeader()
		w.waitAcks(int64(100 + rng.IntN(200)))
		killAt := time.Now()
		c.kill(lead)
		newLead, nst := c.waitLeader()
		require.NotEqual(t, lead, newLead, "a killed peer cannot lead")
		require.Greater(t, nst.Epoch, st.Epoch, "the new leader leads a later epoch")
		w.waitAcks(100)

		// The first acknowledged write of the new epoch, and each
		// writer's first after the kill.
		var first *ack
		perWriter := map[int]time.Duration{}
		for _, a := range w.acks() {
			if !a.at.After(killAt) {
				continue
			}
			if _, ok := perWriter[a.worker]; !ok {
				perWriter[a.worker] = a.at.Sub(killAt)
			}
			if uint64(a.zxid.Epoch()) > st.Epoch && (first == nil || a.at.Before(first.at)) {
				a := a
				first = &a
			}
		}
		require.NotNil(t, first, "no write acknowledged in the new epoch")
		took := first.at.Sub(killAt)
		failovers = append(failovers, took)
		var per []string
		for i := range 4 {
			if d, ok := perWriter[i]; ok {
				per = append(per, fmt.Sprintf("writer %d %v", i, d.Round(time.Millisecond)))
			}
		}
		c.logf("failover %d: kill -9 of leader %d (epoch %d) to the first acknowledged write of epoch %d (leader %d): %v; first ack after the kill per writer: %s",
			round+1, lead, st.Epoch, nst.Epoch, newLead, took.Round(time.Millisecond), strings.Join(per, ", "))
		if round+1 < rounds {
			c.start(lead)
			c.waitLeader()
		}
	}
	w.stop()
	c.logf("writers: %d acknowledged creates, %d with unknown outcome", w.count.Load(), w.unknown.Load())
	w.checkSessions()
	c.waitConverged()
	w.checkAcked(c)
	slices.Sort(failovers)
	c.logf("failover times (kill -9 to first write of the new epoch): %v", failovers)
}

// TestRestartCatchUp: a killed peer that returns after a short absence
// catches up from the leader's log (DIFF: no snapshot installed), and a
// follower that was away while the leader wrote several snapshots catches
// up by SNAP ("installed snapshot from leader" in its log), whether it
// was stopped cleanly or killed. All peers converge after each and hold
// every write.
func TestRestartCatchUp(t *testing.T) {
	rng := testRand(t)
	c := newCluster(t, 3, clusterOpts{snapshotEvery: 100})
	lead, _ := c.waitLeader()
	cl := c.connect()
	createRetry(t, cl, "/cu", nil)
	var names []string
	create := func(name string) {
		createRetry(t, cl, "/cu/"+name, nil)
		names = append(names, name)
	}
	for i := range 20 {
		create(fmt.Sprintf("a%02d", i))
	}

	// DIFF: kill -9 the leader, write a little, bring it back.
	killed := lead
	c.kill(killed)
	lead, _ = c.waitLeader()
	for i := range 20 {
		create(fmt.Sprintf("b%02d", i))
	}
	for _, id := range c.running() {
		require.False(t, c.logHas(id, "snapshot written"),
			"peer %d wrote a snapshot below --snapshot-every: the leader may have compacted and DIFF is not certain", id)
	}
	c.start(killed)
	c.waitConverged()
	assert.False(t, c.logHas(killed, "installed snapshot from leader"), "peer %d was away for 20 txns: DIFF, not SNAP", killed)
	assert.Equal(t, 3, len(c.running()))

	// SNAP: stop a follower (SIGTERM: it leaves a final snapshot; or kill
	// -9: only its log), write past several snapshots, bring it back.
	kills := []bool{rng.IntN(2) == 0}
	if long() {
		kills = []bool{false, true, false, true}
	}
	for round, byKill := range kills {
		lead, _ = c.waitLeader()
		var followers []int
		for _, id := range c.running() {
			if id != lead {
				followers = append(followers, id)
			}
		}
		away := followers[rng.IntN(len(followers))]
		if byKill {
			c.kill(away)
		} else {
			c.stop(away)
		}
		before := c.countLines(lead, "snapshot written")
		const n = 350
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for g := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += 5 {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cl.Create(ctx, fmt.Sprintf("/cu/s%d-%03d", round, i), nil, tree.ModePersistent)
					cancel()
					if err != nil {
						errs <- fmt.Errorf("create s%d-%03d: %w", round, i, err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "two of three peers are up: writes must succeed")
		}
		for i := range n {
			names = append(names, fmt.Sprintf("s%d-%03d", round, i))
		}
		require.Eventually(t, func() bool { return c.countLines(lead, "snapshot written") > before }, waitFor, poll,
			"the leader wrote no snapshot after %d txns with --snapshot-every 100", n)
		c.logf("leader %d wrote %d snapshots while peer %d was away", lead, c.countLines(lead, "snapshot written")-before, away)
		c.start(away)
		c.waitConverged()
		assert.True(t, c.logHas(away, "installed snapshot from leader"), "peer %d was away for %d txns and several snapshots: SNAP", away, n)
	}

	for _, id := range c.running() {
		have := c.childrenOn(id, "/cu")
		for _, name := range names {
			assert.True(t, have[name], "peer %d lacks /cu/%s", id, name)
		}
	}
}

// TestCrashAllWhileWriting: kill -9 all three peers at once while 4 clients
// write, restart them on their data dirs. They elect a leader from what
// their logs hold, every acknowledged create is still there, the clients
// keep their sessions (restored from the replicated tree), and the peers
// converge.
func TestCrashAllWhileWriting(t *testing.T) {
	rng := testRand(t)
	rounds := 1
	if long() {
		rounds = 4
	}
	c := newCluster(t, 3, clusterOpts{})
	setup := c.connect()
	createRetry(t, setup, "/ca", nil)
	w := startWriters(t, c, 4, "/ca")
	for round := range rounds {
		_, st := c.waitLeader()
		w.waitAcks(int64(100 + rng.IntN(300)))
		var order []int
		for _, i := range rng.Perm(3) {
			order = append(order, i+1)
			c.kill(i + 1)
		}
		for _, i := range rng.Perm(3) {
			c.start(i + 1)
		}
		lead, nst := c.waitLeader()
		require.Greater(t, nst.Epoch, st.Epoch)
		c.logf("crash %d: all killed (in order %v) and restarted; leader %d in epoch %d", round+1, order, lead, nst.Epoch)
		w.waitAcks(100)
	}
	w.stop()
	c.logf("writers: %d acknowledged creates, %d with unknown outcome", w.count.Load(), w.unknown.Load())
	w.checkSessions()
	c.waitConverged()
	w.checkAcked(c)
}
