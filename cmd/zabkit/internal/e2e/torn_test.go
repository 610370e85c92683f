//go:build unix

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/tree"
)

// TestTornTailFollowerRejoins: kill -9 a follower while clients write,
// damage the tail of its newest log segment (cut in the middle of the last
// record, garbage after it, or a flipped byte inside it), restart it. It
// must start, cut the torn tail ("wal cut torn tail" in its log, unless
// the cut left only zero bytes, which read as the log's clean end), rejoin
// and converge, and no acknowledged write is lost anywhere.
func TestTornTailFollowerRejoins(t *testing.T) {
	rng := testRand(t)
	modes := tornModes
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			rounds := 1
			if long() {
				rounds = 3
			}
			c := newCluster(t, 3, clusterOpts{})
			setup := c.connect()
			createRetry(t, setup, "/tt", nil)
			w := startWriters(t, c, 2, "/tt")
			for range rounds {
				lead, _ := c.waitLeader()
				var followers []int
				for _, id := range c.running() {
					if id != lead {
						followers = append(followers, id)
					}
				}
				victim := followers[rng.IntN(len(followers))]
				w.waitAcks(int64(50 + rng.IntN(150)))
				c.kill(victim)
				w.waitAcks(20)
				tail, err := damageTail(filepath.Join(c.dataDir(victim), "log"), mode, rng)
				require.NoError(t, err)
				c.logf("damaged peer %d's %s (%v): %d records, last %v at [%d,%d), the one before %v",
					victim, filepath.Base(tail.path), mode, tail.records, tree.Zxid(tail.lastZxid),
					tail.lastStart, tail.lastEnd, tree.Zxid(tail.prevZxid))
				c.start(victim)
				w.waitAcks(20)
				c.waitLeader()
				if tail.zeroCut {
					c.logf("the cut left only zero bytes of the last record: the log ends there without a torn tail to report")
				} else {
					assert.True(t, c.logHas(victim, "wal cut torn tail"), "peer %d did not report cutting its torn tail", victim)
				}
			}
			w.stop()
			c.logf("writers: %d acknowledged creates, %d with unknown outcome", w.count.Load(), w.unknown.Load())
			w.checkSessions()
			c.waitConverged()
			w.checkAcked(c)
		})
	}
}
