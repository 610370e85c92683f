//go:build unix

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// TestMinorityCannotCommit: SIGSTOP two of three peers. The one left (the
// leader or a follower, by seed; both under ZABKIT_LONG) stops serving:
// it goes looking, a write through it fails, and its last zxid does not
// move. After SIGCONT the three elect a leader, take writes and converge.
func TestMinorityCannotCommit(t *testing.T) {
	rng := testRand(t)
	cases := []bool{rng.IntN(2) == 0} // whether the lone peer is the leader
	if long() {
		cases = []bool{true, false, true, false}
	}
	c := newCluster(t, 3, clusterOpts{})
	cl := c.connect()
	createRetry(t, cl, "/mp", nil)
	for round, loneLeads := range cases {
		for i := range 10 {
			createRetry(t, cl, fmt.Sprintf("/mp/r%d-%02d", round, i), nil)
		}
		c.waitConverged()
		lead, _ := c.waitLeader()
		lone := lead
		if !loneLeads {
			var followers []int
			for _, id := range c.ids() {
				if id != lead {
					followers = append(followers, id)
				}
			}
			lone = followers[rng.IntN(len(followers))]
		}
		require.Len(t, c.running(), 3)
		loneCl := c.connect(c.addr(lone))
		st, err := c.status(lone)
		require.NoError(t, err)
		before := st.LastZxid
		c.logf("round %d: leaving peer %d (%s) alone at %v", round, lone, st.Role, before)
		for _, id := range c.ids() {
			if id != lone {
				c.pause(id)
			}
		}

		var last *wire.PeerStatus
		require.Eventually(t, func() bool {
			last, err = c.status(lone)
			return err == nil && last.Role == "looking"
		}, waitFor, poll, "peer %d alone never went looking (last %+v, err %v)", lone, last, err)
		c.logf("peer %d alone is looking at %v", lone, last.LastZxid)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = loneCl.Create(ctx, fmt.Sprintf("/mp/minority-%d", round), nil, tree.ModePersistent)
		cancel()
		require.Error(t, err, "a write through a peer without a quorum must not succeed")
		c.logf("write through lone peer %d: %v", lone, err)
		assert.Never(t, func() bool {
			st, err := c.status(lone)
			if err != nil {
				return false
			}
			if st.LastZxid != before {
				t.Logf("peer %d alone moved: %s", lone, describe(map[int]*wire.PeerStatus{lone: st}, []int{lone}))
				return true
			}
			if st.Role != "looking" {
				t.Logf("peer %d alone is %s", lone, st.Role)
				return true
			}
			return false
		}, time.Second, 50*time.Millisecond, "peer %d alone must stay looking and commit nothing", lone)
		_ = loneCl.Close()

		for _, id := range c.ids() {
			if id != lone {
				c.resume(id)
			}
		}
		newLead, _ := c.waitLeader()
		createRetry(t, cl, fmt.Sprintf("/mp/healed-%d", round), nil)
		c.logf("healed: leader %d", newLead)
	}
	c.waitConverged()
	have := c.childrenOn(1, "/mp")
	for round := range cases {
		assert.True(t, have[fmt.Sprintf("healed-%d", round)])
		for i := range 10 {
			assert.True(t, have[fmt.Sprintf("r%d-%02d", round, i)])
		}
	}
}
