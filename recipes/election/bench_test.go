package election_test

import (
	"context"
	"testing"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/election"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
)

// BenchmarkElectionFailover measures the time from the leader's client
// going away to the next candidate's Campaign returning, on an in-process
// 3-peer ensemble, reported as ms/failover:
//
//   - closed: the leader's client is closed (a process that exits
//     cleanly): the server deletes its node at once;
//   - killed: the leader's client vanishes without a word (kill -9, a
//     dead host): the server deletes its node when its session expires,
//     so this is about the session timeout (1s here) plus the expiry tick.
func BenchmarkElectionFailover(b *testing.B) {
	for _, mode := range []string{"closed", "killed"} {
		b.Run(mode, func(b *testing.B) {
			e := recipetest.Ensemble(b)
			ctx := context.Background()
			f := e.Follower(b)
			next := e.ConnectPeer(b, e.Leader(b))
			var total time.Duration
			n := 0
			for b.Loop() {
				n++
				b.StopTimer()
				opts := []client.Option{}
				if mode == "killed" {
					opts = append(opts, client.WithSessionTimeout(time.Second))
				}
				leader := e.ConnectPeer(b, f, opts...)
				path := "/bench"
				if _, err := election.NewElection(leader, path).Campaign(ctx, nil); err != nil {
					b.Fatal(err)
				}
				cand := election.NewElection(next, path)
				won := make(chan error, 1)
				go func() {
					_, err := cand.Campaign(ctx, nil)
					won <- err
				}()
				for {
					cs, err := cand.Candidates(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if len(cs) == 2 {
						break
					}
				}
				b.StartTimer()
				start := time.Now()
				if mode == "closed" {
					leader.Close()
				} else {
					e.Proxy(f).Refuse(true)
					e.Proxy(f).Cut()
				}
				if err := <-won; err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if mode == "killed" {
					leader.Close()
					e.Proxy(f).Refuse(false)
				}
				if err := cand.Resign(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total)/float64(n)/float64(time.Millisecond), "ms/failover")
		})
	}
}
