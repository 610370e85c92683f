package config_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/config"
)

// benchSeq names a fresh counter for each benchmark run.
var benchSeq atomic.Int64

// BenchmarkCounterAdd: Adds on one counter from 1 and 8 goroutines, each
// with its own session, on the shared 3-peer ensemble. Contended adds
// retry their compare-and-set, so adds/s is the counter's real throughput.
func BenchmarkCounterAdd(b *testing.B) {
	for _, g := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			counters := make([]*config.Counter, g)
			path := fmt.Sprintf("/bench/counter-%d", benchSeq.Add(1))
			clients := make([]*client.Client, g)
			for i := range counters {
				clients[i] = shared.Connect(b)
				n, err := config.NewCounter(clients[i], path)
				if err != nil {
					b.Fatal(err)
				}
				counters[i] = n
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, g)
			for i, n := range counters {
				share := b.N / g
				if i < b.N%g {
					share++
				}
				wg.Go(func() {
					for range share {
						if _, err := n.Add(ctx, 1); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			if err := clients[0].Sync(ctx, path); err != nil {
				b.Fatal(err)
			}
			v, _, err := counters[0].Get(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if v != int64(b.N) {
				b.Fatalf("counter %d after %d adds", v, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "adds/s")
		})
	}
}
