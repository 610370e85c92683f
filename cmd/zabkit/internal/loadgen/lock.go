package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// LockRoot is the znode under which the lock workload keeps its mutexes,
// one child per run.
const LockRoot = Root + "/locks"

// lockSeq marks a contender's node name: the protected prefix, then "-lock-",
// then the server's 10-digit sequence suffix.
const lockSeq = "-lock-"

// lockHooks are test seams in the lock recipe; nil in the bench.
type lockHooks struct {
	// skipWait makes Lock treat itself as the holder without waiting for
	// its predecessor: a broken recipe, which the tests show is caught.
	skipWait bool
	// onWait is called with the predecessor's name each time Lock starts
	// waiting for it.
	onWait func(pred string)
	// hold is called inside the critical section of the lock workload.
	hold func()
}

// mutex is the standard herd-free ZooKeeper lock recipe on the public client
// API, kept self-contained here so that the bench measures the textbook
// recipe the reference kit runs (go-zookeeper's Lock). The recipes/lock
// package comes in a later issue and will replace it.
//
// Layout: dir/_c_<16 hex digits>-lock-<seq>, one ephemeral-sequential node
// per Lock call; the hex marker lets Lock find its own node when the create
// fails with an unknown outcome. The holder is the node with the lowest
// sequence number; every other contender watches only its immediate
// predecessor, so a release wakes one contender, not the herd.
type mutex struct {
	c     *client.Client
	dir   string
	node  string // full path of the node held; "" when not held
	hooks *lockHooks
}

func newMutex(c *client.Client, dir string, hooks *lockHooks) *mutex {
	if hooks == nil {
		hooks = &lockHooks{}
	}
	return &mutex{c: c, dir: dir, hooks: hooks}
}

// lockEntry is one contender's node: its name and sequence number.
type lockEntry struct {
	name string
	seq  int64
}

// lockEntries returns the contenders among children, ordered by sequence
// number; names that are not contenders' nodes are left out.
func lockEntries(children []string) []lockEntry {
	out := make([]lockEntry, 0, len(children))
	for _, name := range children {
		i := strings.LastIndex(name, lockSeq)
		if i < 0 {
			continue
		}
		seq, err := strconv.ParseInt(name[i+len(lockSeq):], 10, 64)
		if err != nil || seq < 0 {
			continue
		}
		out = append(out, lockEntry{name, seq})
	}
	slices.SortFunc(out, func(a, b lockEntry) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), strings.Compare(a.name, b.name))
	})
	return out
}

// predecessor finds own among children. It returns the name of the
// contender just before it ("" when own is the lowest: the holder) and
// whether own is there at all.
func predecessor(children []string, own string) (pred string, found bool) {
	es := lockEntries(children)
	for i, e := range es {
		if e.name == own {
			if i == 0 {
				return "", true
			}
			return es[i-1].name, true
		}
	}
	return "", false
}

// Lock blocks until this contender holds the mutex, or ctx ends. On
// failure it deletes its node (when it knows it) and returns ctx.Err(),
// ErrLockNodeLost when its node vanished (the session expired), or the
// client's error (ErrSessionExpired, ErrClosed, ...).
func (m *mutex) Lock(ctx context.Context) error {
	if m.node != "" {
		return fmt.Errorf("loadgen: lock %s: already held", m.dir)
	}
	marker := fmt.Sprintf("_c_%016x", rand.Uint64())
	node, err := m.create(ctx, marker)
	if err != nil {
		m.abandon(ctx, marker, "")
		return err
	}
	own := path.Base(node)
	for {
		children, _, err := m.c.Children(ctx, m.dir)
		if err != nil {
			m.abandon(ctx, marker, node)
			return err
		}
		pred, found := predecessor(children, own)
		if !found {
			return fmt.Errorf("%w: %s", ErrLockNodeLost, node)
		}
		if pred == "" || m.hooks.skipWait {
			m.node = node
			return nil
		}
		// Watch the predecessor only. GetW rather than ExistsW: when the
		// predecessor has already gone, GetW fails with ErrNoNode and leaves
		// no watch behind, where ExistsW would leave an exists watch on a
		// name that is never created again (go-zookeeper's Lock, which the
		// reference kit runs, does the same).
		_, _, ch, err := m.c.GetW(ctx, m.dir+"/"+pred)
		if errors.Is(err, client.ErrNoNode) {
			continue // gone already: list again
		}
		if err != nil {
			m.abandon(ctx, marker, node)
			return err
		}
		if m.hooks.onWait != nil {
			m.hooks.onWait(pred)
		}
		select {
		case ev := <-ch:
			if ev.Err != nil {
				m.abandon(ctx, marker, node)
				return ev.Err
			}
			// Never assume the event means we hold it: the predecessor may
			// have given up while an earlier contender still holds. List again.
		case <-ctx.Done():
			m.abandon(ctx, marker, node)
			return ctx.Err()
		}
	}
}

// create makes the contender's ephemeral-sequential node and returns its
// path. When the create fails with an unknown outcome (connection loss) it
// looks for its marker among the children.
func (m *mutex) create(ctx context.Context, marker string) (string, error) {
	node, err := m.c.Create(ctx, m.dir+"/"+marker+lockSeq, nil, tree.ModeEphemeralSequential)
	if err == nil || !errors.Is(err, client.ErrConnectionLoss) {
		return node, err
	}
	children, _, lerr := m.c.Children(ctx, m.dir)
	if lerr != nil {
		return "", err
	}
	for _, name := range children {
		if strings.HasPrefix(name, marker+lockSeq) {
			return m.dir + "/" + name, nil
		}
	}
	// Not there: the create never happened. Try once more.
	return m.c.Create(ctx, m.dir+"/"+marker+lockSeq, nil, tree.ModeEphemeralSequential)
}

// abandon deletes the node of a Lock that failed: node when known, else
// whatever carries marker (a create whose outcome is unknown). It uses a
// fresh context, bounded by the session timeout, since ctx may have ended;
// errors are ignored, the node goes with the session anyway.
func (m *mutex) abandon(ctx context.Context, marker, node string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c.SessionTimeout())
	defer cancel()
	if node == "" {
		children, _, err := m.c.Children(cctx, m.dir)
		if err != nil {
			return
		}
		for _, name := range children {
			if strings.HasPrefix(name, marker+lockSeq) {
				node = m.dir + "/" + name
			}
		}
		if node == "" {
			return
		}
	}
	_ = m.c.Delete(cctx, node, tree.AnyVersion)
}

// Unlock releases the mutex by deleting the holder's node. It returns the
// client's error; a delete lost to a connection loss is retried, and
// ErrNoNode on the retry means the first one took effect.
func (m *mutex) Unlock(ctx context.Context) error {
	if m.node == "" {
		return fmt.Errorf("loadgen: unlock %s: not held", m.dir)
	}
	node := m.node
	m.node = ""
	err := m.c.Delete(ctx, node, tree.AnyVersion)
	for retry := 0; retry < 3 && errors.Is(err, client.ErrConnectionLoss); retry++ {
		err = m.c.Delete(ctx, node, tree.AnyVersion)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
	}
	return err
}

// lock runs the lock workload: Lockers contenders, each with its own
// session, loop acquire/release of one mutex for Duration. Ops counts
// handoffs (acquisitions) and the latencies are acquire latencies, queue
// wait included; Violations counts acquisitions made while another
// contender held the mutex.
func (r *runner) lock(ctx context.Context, admin *client.Client) ([]Result, error) {
	n := r.cfg.Lockers
	dir := fmt.Sprintf("%s/m%d", LockRoot, time.Now().UnixNano()%1e9)
	for _, p := range []string{LockRoot, dir} {
		if _, err := admin.Create(ctx, p, nil, tree.ModePersistent); err != nil && !errors.Is(err, client.ErrNodeExists) {
			return nil, fmt.Errorf("loadgen: create %s: %w", p, err)
		}
	}
	sess, err := r.openN(ctx, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(sess)
	hooks := r.cfg.lockHooks
	if hooks == nil {
		hooks = &lockHooks{}
	}
	var (
		holders          atomic.Int32
		violations, errs atomic.Int64
		done             atomic.Int64
		firstErr         atomic.Value
		wg               sync.WaitGroup
	)
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}
	lats := make([][]time.Duration, n)
	stopProgress := r.progress("lock", 0, &done)
	start := time.Now()
	stop := start.Add(r.cfg.Duration)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			m := newMutex(sess[w], dir, hooks)
			for time.Now().Before(stop) && ctx.Err() == nil {
				t0 := time.Now()
				if err := m.Lock(ctx); err != nil {
					if ctx.Err() != nil {
						return
					}
					fail(err)
					pause(ctx, 10*time.Millisecond) // a failing session must not spin
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				if holders.Add(1) != 1 {
					violations.Add(1)
				}
				if hooks.hold != nil {
					hooks.hold()
				}
				holders.Add(-1)
				done.Add(1)
				if err := m.Unlock(ctx); err != nil && ctx.Err() == nil {
					fail(err)
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := summarize("lock", lats, elapsed)
	res.Clients, res.Sessions, res.Errors = n, n, errs.Load()
	if v, ok := firstErr.Load().(string); ok {
		res.FirstErr = v
	}
	if v := violations.Load(); v > 0 {
		res.Violations = v
		res.FirstErr = strings.TrimSuffix(fmt.Sprintf("MUTUAL EXCLUSION VIOLATED %d times; %s", v, res.FirstErr), "; ")
	}
	// The run's mutex node is empty now; remove it so runs do not pile up.
	if ctx.Err() == nil {
		_ = admin.Delete(ctx, dir, tree.AnyVersion)
	}
	return []Result{res}, nil
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
