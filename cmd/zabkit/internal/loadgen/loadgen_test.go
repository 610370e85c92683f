package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T) string {
	t.Helper()
	srv, err := ensemble.New(ensemble.Config{DataDir: t.TempDir(), ClientAddr: "127.0.0.1:0", TickTime: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Stop(ctx))
	})
	return srv.Addr().String()
}

// Every workload runs for real against a server and counts what it did.
func TestWorkloads(t *testing.T) {
	addr := startServer(t)
	cfg := Config{Servers: []string{addr}, Clients: 4, Sessions: 2, Ops: 200, Keys: 50, Size: 16,
		SessionOps: 10, Watchers: 5, Rounds: 3, Lockers: 3, Duration: 200 * time.Millisecond}
	want := map[string][]string{
		"create": {"create", "delete"}, "set": {"set"}, "get": {"get"}, "mixed": {"mixed"},
		"session": {"session"}, "watch": {"watch"}, "lock": {"lock"},
	}
	for _, w := range Workloads {
		t.Run(w, func(t *testing.T) {
			var progressed bool
			cfg := cfg
			cfg.Progress = func(string, int, int) { progressed = true }
			res, err := Run(context.Background(), w, cfg)
			require.NoError(t, err)
			require.Len(t, res, len(want[w]))
			for i, r := range res {
				assert.Equal(t, want[w][i], r.Workload)
				assert.Zero(t, r.Errors, r.FirstErr)
				assert.Positive(t, r.OpsPerS)
				assert.LessOrEqual(t, r.P50, r.P99)
				assert.LessOrEqual(t, r.P99, r.P999)
			}
			assert.True(t, progressed)
		})
	}
	// NoDelete keeps what create made.
	kept := cfg
	kept.NoDelete, kept.Ops = true, 30
	res, err := Run(context.Background(), "create", kept)
	require.NoError(t, err)
	require.Len(t, res, 1)
	c0, err := client.Connect(context.Background(), []string{addr})
	require.NoError(t, err)
	n0, err := c0.CountChildren(context.Background(), Root)
	require.NoError(t, err)
	assert.Equal(t, int64(cfg.Keys+2+30), n0)
	require.NoError(t, c0.Close())

	// create deleted what it made; set/get/mixed left exactly the preloaded keys.
	c, err := client.Connect(context.Background(), []string{addr})
	require.NoError(t, err)
	defer c.Close()
	n, err := c.CountChildren(context.Background(), Root)
	require.NoError(t, err)
	assert.Equal(t, int64(cfg.Keys+2+30), n, "the preloaded keys, the fan-out node, the locks node and the kept creates")
	n, err = c.CountChildren(context.Background(), LockRoot)
	require.NoError(t, err)
	assert.Zero(t, n, "the lock run removed its mutex node")
}

func TestRunErrors(t *testing.T) {
	_, err := Run(context.Background(), "nope", Config{})
	assert.ErrorIs(t, err, ErrUnknownWorkload)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Run(ctx, "get", Config{Servers: []string{"127.0.0.1:1"}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, client.ErrNoServer) || errors.Is(err, context.DeadlineExceeded), err)
}

func TestPercentiles(t *testing.T) {
	lat := []time.Duration{1000, 2000, 3000, 4000}
	assert.Equal(t, 2.0, pct(lat, .5))
	assert.Equal(t, 4.0, pct(lat, .99))
	assert.Equal(t, 0.0, pct(nil, .5))
	r := summarize("x", [][]time.Duration{{3000}, {1000, 2000}}, time.Second)
	assert.Equal(t, 3, r.Ops)
	assert.Equal(t, 3.0, r.OpsPerS)
	assert.Equal(t, 3.0, r.Max)
}
