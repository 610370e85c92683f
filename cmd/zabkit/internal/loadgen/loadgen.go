package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// Root is the znode under which every workload keeps its keys.
const Root = "/zabkit-bench"

// Workloads lists the workload names Run accepts, in the order `all` runs them.
// The failover workload is not among them: it kills peers, so it runs only
// when asked for by name, through Failover.
var Workloads = []string{"create", "set", "get", "mixed", "session", "watch", "lock"}

// Config says how to run a workload.
type Config struct {
	Servers        []string      // client addresses; session i prefers Servers[i%len]
	Clients        int           // concurrent goroutines (C)
	Sessions       int           // at most this many sessions shared by the goroutines
	Ops            int           // operations per run
	Ops1           int           // operations per run when Clients is 1 (0: Ops)
	Size           int           // value bytes
	Keys           int           // key space for set, get, mixed
	ReadPct        int           // mixed: percent reads
	SessionOps     int           // session: open+close cycles per run (default 500)
	NoDelete       bool          // create: keep the created keys (no delete run)
	Watchers       int           // watch: number of watching sessions
	Rounds         int           // watch: rounds
	Lockers        int           // lock: contenders, each with its own session (default 8)
	Duration       time.Duration // lock: run time (default 10s)
	SessionTimeout time.Duration // session timeout asked for
	MaxDuration    time.Duration // cap on one run (0: none)
	// Progress, when set, is called about ten times a second with the
	// operations done so far in the current run; total is 0 when the run
	// is timed rather than counted (lock).
	Progress func(workload string, done, total int)

	lockHooks *lockHooks // tests only: seams in the lock recipe
}

// Result is one run's outcome; its JSON form is one line of `zabkit bench --json`.
type Result struct {
	Workload string  `json:"workload"`
	Clients  int     `json:"clients"`
	Sessions int     `json:"sessions"`
	Ops      int     `json:"ops"`
	Errors   int64   `json:"errors"`
	Secs     float64 `json:"secs"`
	OpsPerS  float64 `json:"ops_per_s"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	P999     float64 `json:"p999_us"`
	Max      float64 `json:"max_us"`
	FirstErr string  `json:"first_err,omitempty"`
	// Violations (lock only) counts acquisitions made while another
	// contender held the mutex: anything but 0 means the lock is broken.
	Violations int64 `json:"violations,omitempty"`
}

func (c *Config) defaults() {
	if len(c.Servers) == 0 {
		c.Servers = []string{"127.0.0.1:2281"}
	}
	if c.Clients <= 0 {
		c.Clients = 1
	}
	if c.Sessions <= 0 {
		c.Sessions = 8
	}
	if c.Ops <= 0 {
		c.Ops = 20000
	}
	if c.Ops1 <= 0 {
		c.Ops1 = c.Ops
	}
	if c.Size < 0 {
		c.Size = 0
	}
	if c.Keys <= 0 {
		c.Keys = 1000
	}
	if c.ReadPct <= 0 || c.ReadPct > 100 {
		c.ReadPct = 90
	}
	if c.SessionOps <= 0 {
		c.SessionOps = 500
	}
	if c.Watchers <= 0 {
		c.Watchers = 1000
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Lockers <= 0 {
		c.Lockers = 8
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
}

// Run runs one workload and returns its results (create also returns the
// delete run). It returns an error, and no results, when it cannot set up:
// no server answers, or the workload name is unknown. Errors of single
// operations are counted in Result.Errors, never returned.
func Run(ctx context.Context, workload string, cfg Config) ([]Result, error) {
	cfg.defaults()
	if !slices.Contains(Workloads, workload) {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownWorkload, workload, Workloads)
	}
	r := &runner{cfg: cfg, val: payload(cfg.Size)}
	admin, err := r.open(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.Create(ctx, Root, nil, tree.ModePersistent); err != nil && !errors.Is(err, client.ErrNodeExists) {
		return nil, fmt.Errorf("loadgen: create %s: %w", Root, err)
	}
	switch workload {
	case "create":
		return r.create(ctx)
	case "set", "get", "mixed":
		if err := r.preload(ctx, admin); err != nil {
			return nil, err
		}
		return r.kv(ctx, workload)
	case "session":
		return r.session(ctx)
	case "lock":
		return r.lock(ctx, admin)
	default:
		return r.watch(ctx, admin)
	}
}

type runner struct {
	cfg Config
	val []byte
}

func payload(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// open opens session number i, preferring server i%len(servers).
func (r *runner) open(ctx context.Context, i int) (*client.Client, error) {
	n := len(r.cfg.Servers)
	order := make([]string, 0, n)
	for k := 0; k < n; k++ {
		order = append(order, r.cfg.Servers[(i+k)%n])
	}
	c, err := client.Connect(ctx, order, client.WithSessionTimeout(r.cfg.SessionTimeout))
	if err != nil {
		return nil, fmt.Errorf("loadgen: connect to %v: %w", order, err)
	}
	return c, nil
}

func (r *runner) openN(ctx context.Context, n int) ([]*client.Client, error) {
	cs := make([]*client.Client, 0, n)
	for i := 0; i < n; i++ {
		c, err := r.open(ctx, i)
		if err != nil {
			closeAll(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

func (r *runner) opsFor(c int) int {
	if c == 1 {
		return r.cfg.Ops1
	}
	return r.cfg.Ops
}

func kvKey(i int) string { return Root + "/kv-" + fmt.Sprintf("%06d", i) }

// loop runs total ops over cfg.Clients goroutines; op(c, rnd, i) does op i on
// the goroutine's shared session c.
func (r *runner) loop(ctx context.Context, name string, sess []*client.Client, total int,
	op func(ctx context.Context, c *client.Client, rnd *rand.Rand, i int) error) Result {
	conc := r.cfg.Clients
	var next, done, errs atomic.Int64
	next.Store(-1)
	var firstErr atomic.Value
	lats := make([][]time.Duration, conc)
	runCtx := ctx
	if r.cfg.MaxDuration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, r.cfg.MaxDuration)
		defer cancel()
	}
	stopProgress := r.progress(name, total, &done)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := sess[w%len(sess)]
			rnd := rand.New(rand.NewPCG(uint64(w), 0x5eed))
			l := make([]time.Duration, 0, total/conc+1)
			for runCtx.Err() == nil {
				i := int(next.Add(1))
				if i >= total {
					break
				}
				t0 := time.Now()
				err := op(runCtx, c, rnd, i)
				d := time.Since(t0)
				done.Add(1)
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				l = append(l, d)
			}
			lats[w] = l
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := summarize(name, lats, elapsed)
	res.Clients, res.Sessions, res.Errors = conc, len(sess), errs.Load()
	if v, ok := firstErr.Load().(string); ok {
		res.FirstErr = v
	}
	return res
}

func (r *runner) progress(name string, total int, done *atomic.Int64) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				r.cfg.Progress(name, int(done.Load()), total)
				return
			case <-t.C:
				r.cfg.Progress(name, int(done.Load()), total)
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}

func summarize(name string, lats [][]time.Duration, elapsed time.Duration) Result {
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := Result{Workload: name, Ops: len(all), Secs: elapsed.Seconds()}
	if elapsed > 0 {
		res.OpsPerS = float64(len(all)) / elapsed.Seconds()
	}
	res.P50, res.P99, res.P999 = pct(all, .50), pct(all, .99), pct(all, .999)
	if len(all) > 0 {
		res.Max = us(all[len(all)-1])
	}
	return res
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// pct returns the p-quantile of sorted lat in microseconds (nearest rank).
func pct(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*p+0.5) - 1
	i = max(0, min(i, len(lat)-1))
	return us(lat[i])
}

func (r *runner) create(ctx context.Context) ([]Result, error) {
	sess, err := r.openN(ctx, min(r.cfg.Clients, r.cfg.Sessions))
	if err != nil {
		return nil, err
	}
	defer closeAll(sess)
	prefix := fmt.Sprintf("%s/c%d-%d-", Root, time.Now().UnixNano()%1e9, r.cfg.Clients)
	created := r.loop(ctx, "create", sess, r.opsFor(r.cfg.Clients), func(ctx context.Context, c *client.Client, _ *rand.Rand, i int) error {
		_, err := c.Create(ctx, prefix+strconv.Itoa(i), r.val, tree.ModePersistent)
		return err
	})
	if r.cfg.NoDelete {
		return []Result{created}, nil
	}
	n := created.Ops + int(created.Errors)
	deleted := r.loop(ctx, "delete", sess, n, func(ctx context.Context, c *client.Client, _ *rand.Rand, i int) error {
		return c.Delete(ctx, prefix+strconv.Itoa(i), tree.AnyVersion)
	})
	return []Result{created, deleted}, nil
}

func (r *runner) preload(ctx context.Context, admin *client.Client) error {
	sess, err := r.openN(ctx, min(8, r.cfg.Sessions))
	if err != nil {
		return err
	}
	defer closeAll(sess)
	saved := r.cfg.Clients
	r.cfg.Clients = 16
	res := r.loop(ctx, "preload", sess, r.cfg.Keys, func(ctx context.Context, c *client.Client, _ *rand.Rand, i int) error {
		_, err := c.Create(ctx, kvKey(i), r.val, tree.ModePersistent)
		if errors.Is(err, client.ErrNodeExists) {
			return nil
		}
		return err
	})
	r.cfg.Clients = saved
	if res.Errors > 0 {
		return fmt.Errorf("loadgen: preload: %d errors, first: %s", res.Errors, res.FirstErr)
	}
	return nil
}

func (r *runner) kv(ctx context.Context, kind string) ([]Result, error) {
	sess, err := r.openN(ctx, min(r.cfg.Clients, r.cfg.Sessions))
	if err != nil {
		return nil, err
	}
	defer closeAll(sess)
	keys, readPct := r.cfg.Keys, r.cfg.ReadPct
	res := r.loop(ctx, kind, sess, r.opsFor(r.cfg.Clients), func(ctx context.Context, c *client.Client, rnd *rand.Rand, _ int) error {
		k := kvKey(rnd.IntN(keys))
		read := kind == "get" || (kind == "mixed" && rnd.IntN(100) < readPct)
		if read {
			_, _, err := c.Get(ctx, k)
			return err
		}
		_, err := c.Set(ctx, k, r.val, tree.AnyVersion)
		return err
	})
	return []Result{res}, nil
}

func (r *runner) session(ctx context.Context) ([]Result, error) {
	total := r.cfg.SessionOps
	placeholder := make([]*client.Client, 1)
	res := r.loop(ctx, "session", placeholder, total, func(ctx context.Context, _ *client.Client, _ *rand.Rand, i int) error {
		c, err := r.open(ctx, i)
		if err != nil {
			return err
		}
		return c.Close()
	})
	res.Sessions = 0
	return []Result{res}, nil
}

// watch measures fan-out: Watchers sessions watch one node; a set; the
// latency is until the last watcher has its event.
func (r *runner) watch(ctx context.Context, admin *client.Client) ([]Result, error) {
	path := Root + "/fanout"
	if _, err := admin.Create(ctx, path, r.val, tree.ModePersistent); err != nil && !errors.Is(err, client.ErrNodeExists) {
		return nil, fmt.Errorf("loadgen: create %s: %w", path, err)
	}
	ws, err := r.openN(ctx, r.cfg.Watchers)
	if err != nil {
		return nil, err
	}
	defer closeAll(ws)
	lats := make([]time.Duration, 0, r.cfg.Rounds)
	var errs int64
	var firstErr string
	fail := func(err error) {
		if errs++; errs == 1 {
			firstErr = err.Error()
		}
	}
	start := time.Now()
	for round := 0; round < r.cfg.Rounds && ctx.Err() == nil; round++ {
		chans := make([]<-chan client.Event, len(ws))
		for i, c := range ws {
			_, _, ch, err := c.GetW(ctx, path)
			if err != nil {
				fail(err)
				continue
			}
			chans[i] = ch
		}
		t0 := time.Now()
		if _, err := admin.Set(ctx, path, r.val, tree.AnyVersion); err != nil {
			fail(err)
			continue
		}
		for _, ch := range chans {
			if ch == nil {
				continue
			}
			select {
			case ev := <-ch:
				if ev.Err != nil {
					fail(ev.Err)
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		lats = append(lats, time.Since(t0))
		if r.cfg.Progress != nil {
			r.cfg.Progress("watch", round+1, r.cfg.Rounds)
		}
	}
	res := summarize("watch", [][]time.Duration{lats}, time.Since(start))
	res.Clients, res.Sessions, res.Errors, res.FirstErr = r.cfg.Watchers, r.cfg.Watchers+1, errs, firstErr
	return []Result{res}, nil
}

// Format writes res as one human-readable line.
func Format(w io.Writer, res Result) {
	fmt.Fprintf(w, "%-8s clients=%-3d sessions=%-4d ops=%-6d errors=%-3d %10.0f ops/s  p50=%8.0fus p99=%8.0fus p99.9=%8.0fus\n",
		res.Workload, res.Clients, res.Sessions, res.Ops, res.Errors, res.OpsPerS, res.P50, res.P99, res.P999)
	if res.FirstErr != "" {
		fmt.Fprintf(w, "         first error: %s\n", res.FirstErr)
	}
}
