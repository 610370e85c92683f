package ensemble

import (
	"context"
	"fmt"
	"os"

	"github.com/zabkit/zabkit/internal/vfs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// The benchmarks run a real server (fsync on, data in a temp dir) and the
// Go client over loopback, in the shape of ../shared/zookeeper-reference:
// 128-byte values, C goroutines sharing min(C, 8) sessions. Each reports
// ops/s and p50/p99 latency in microseconds.

var benchClients = []int{1, 16, 64}

func BenchmarkCreate(b *testing.B) {
	for _, c := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			var seq atomic.Int64
			runBench(b, c, nil, func(ctx context.Context, cl *client.Client, worker int) error {
				_, err := cl.Create(ctx, fmt.Sprintf("/bench/n%d", seq.Add(1)), benchValue, tree.ModePersistent)
				return err
			})
		})
	}
}

func BenchmarkEnsembleCreate(b *testing.B) {
	for _, c := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			var seq atomic.Int64
			runBenchEnsemble(b, c, nil, func(ctx context.Context, cl *client.Client, worker int) error {
				_, err := cl.Create(ctx, fmt.Sprintf("/bench/n%d", seq.Add(1)), benchValue, tree.ModePersistent)
				return err
			})
		})
	}
}

func BenchmarkSetData(b *testing.B) {
	for _, c := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			runBench(b, c, preload(c), func(ctx context.Context, cl *client.Client, worker int) error {
				_, err := cl.Set(ctx, fmt.Sprintf("/bench/k%d", worker), benchValue, tree.AnyVersion)
				return err
			})
		})
	}
}

func BenchmarkGetData(b *testing.B) {
	for _, c := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			runBench(b, c, preload(c), func(ctx context.Context, cl *client.Client, worker int) error {
				_, _, err := cl.Get(ctx, fmt.Sprintf("/bench/k%d", worker))
				return err
			})
		})
	}
}

var benchValue = make([]byte, 128)

// preload returns a setup that creates /bench/k<i> for every worker.
func preload(workers int) func(context.Context, *client.Client) error {
	return func(ctx context.Context, cl *client.Client) error {
		for i := range workers {
			if _, err := cl.Create(ctx, fmt.Sprintf("/bench/k%d", i), benchValue, tree.ModePersistent); err != nil {
				return err
			}
		}
		return nil
	}
}

// runBench starts a server, opens min(workers, 8) sessions, runs setup,
// then has workers goroutines share b.N calls of op, and reports
// throughput and latency percentiles.
func runBench(b *testing.B, workers int, setup func(context.Context, *client.Client) error,
	op func(ctx context.Context, cl *client.Client, worker int) error) {
	cfg := Config{DataDir: b.TempDir(), ClientAddr: "127.0.0.1:0", MaxConnsPerIP: -1}
	s, err := New(cfg)
	require.NoError(b, err)
	require.NoError(b, s.Start(context.Background()))
	defer func() { require.NoError(b, s.Stop(context.Background())) }()
	runBenchOn(b, []string{s.Addr().String()}, workers, setup, op)
}

// runBenchEnsemble is runBench against an in-process 3-peer ensemble, the
// sessions spread over the peers.
func runBenchEnsemble(b *testing.B, workers int, setup func(context.Context, *client.Client) error,
	op func(ctx context.Context, cl *client.Client, worker int) error) {
	e := newTestEnsemble(b, 3, 0, func(c *Config) {
		c.MaxConnsPerIP = -1
		c.ZabTick, c.TickTime, c.Logger = 0, 0, nil
		if os.Getenv("ZABKIT_BENCH_MEMFS") != "" {
			c.FS = vfs.NewCrashable()
		}
	})
	e.leader()
	runBenchOn(b, e.servers(), workers, setup, op)
}

func runBenchOn(b *testing.B, servers []string, workers int, setup func(context.Context, *client.Client) error,
	op func(ctx context.Context, cl *client.Client, worker int) error) {
	var err error
	ctx := context.Background()
	sessions := make([]*client.Client, min(workers, 8))
	for i := range sessions {
		sessions[i], err = client.Connect(ctx, []string{servers[i%len(servers)]})
		require.NoError(b, err)
		defer sessions[i].Close()
	}
	_, err = sessions[0].Create(ctx, "/bench", nil, tree.ModePersistent)
	require.NoError(b, err)
	if setup != nil {
		require.NoError(b, setup(ctx, sessions[0]))
	}

	lat := make([][]time.Duration, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := sessions[w%len(sessions)]
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(ctx, cl, w); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}
