package config

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// DefaultHistory is how many recent write ids a Counter keeps in its
// znode (see Counter).
const DefaultHistory = 32

// Counter is a shared int64 in one znode, with compare-and-set and atomic
// add (Curator's SharedCount and DistributedAtomicLong).
//
// The znode holds JSON: {"value":42,"ops":["3f2a9c0d1e4b5a67",...]}, where
// ops are the ids of the most recent writes, oldest first, one per version:
// the last of them wrote the current version, the one before it the
// version before, and so on (at most the history length, DefaultHistory
// unless WithHistory says otherwise). A znode holding a bare decimal
// integer (written by hand) or nothing reads as that value (0), with no
// history. Parents are created as containers.
//
// # Lost replies
//
// Every write is a compare-and-set on the znode's version and carries a
// fresh random id. When its reply is lost (client.ErrConnectionLoss, or ctx
// ending while it was in flight), the Counter reads the znode back:
//   - the id recorded for the version the write would have made is its
//     own: it was applied;
//   - another id is recorded there: another write took that version, so
//     this one never applied and never will (its version check fails);
//   - the znode is still at the version the write required: the Counter
//     sends the very same write again (same version check, same id), so
//     that of the lost request, possibly still on its way, and the new one
//     at most one applies; the next read-back tells which. If ctx has
//     ended it sends instead a fence: the unchanged value under a new id at
//     that version, whose success proves the lost write can never apply;
//   - the history no longer reaches back that far (more writes than the
//     history length happened since), the znode was deleted or re-created,
//     or it cannot be read (the session expired): the outcome is unknown.
//
// So Add and CompareAndSet apply at most once, and never twice silently: a
// nil error (or a true) means applied exactly once; an error wrapping
// ErrIndeterminate means maybe applied (never retried behind the caller's
// back); any other error means not applied. Deleting the znode while
// writes are in flight resets the counter; writes whose replies were lost
// across that report ErrIndeterminate.
//
// A Counter is safe for concurrent use; Counters on the same path (in one
// process or many) share the value, and should use the same history length
// (each write keeps at most its own).
type Counter struct {
	conn    recipes.Conn
	path    string
	history int
}

// CounterOption configures NewCounter.
type CounterOption func(*Counter)

// WithHistory sets how many write ids the znode keeps (default
// DefaultHistory, at least 1). More ids let a lost reply be resolved after
// more concurrent writes, at 19 bytes each per write.
func WithHistory(n int) CounterOption {
	return func(c *Counter) { c.history = max(n, 1) }
}

// NewCounter returns a Counter stored at path (created by the first
// write). It fails with ErrBadKey if path is not a valid znode path or is
// "/".
func NewCounter(conn recipes.Conn, path string, opts ...CounterOption) (*Counter, error) {
	if err := checkRoot(path); err != nil {
		return nil, err
	}
	if path == "/" {
		return nil, fmt.Errorf("%w: a counter cannot live at /", ErrBadKey)
	}
	c := &Counter{conn: conn, path: path, history: DefaultHistory}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Path returns the counter's znode path.
func (c *Counter) Path() string { return c.path }

// counterRecord is the znode's JSON.
type counterRecord struct {
	Value int64    `json:"value"`
	Ops   []string `json:"ops,omitempty"`
}

// counterState is one read of the counter.
type counterState struct {
	exists bool
	rec    counterRecord
	stat   tree.Stat
}

// version returns the version a CAS on this state requires.
func (s counterState) version() int32 {
	if !s.exists {
		return CreateOnly
	}
	return s.stat.Version
}

func parseCounter(data []byte) (counterRecord, error) {
	t := strings.TrimSpace(string(data))
	if t == "" {
		return counterRecord{}, nil
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return counterRecord{Value: n}, nil
	}
	var r counterRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return counterRecord{}, fmt.Errorf("%w: %v", ErrCounterData, err)
	}
	return r, nil
}

// read returns the counter's state, retrying after ErrConnectionLoss.
func (c *Counter) read(ctx context.Context) (counterState, error) {
	for {
		data, st, err := c.conn.Get(ctx, c.path)
		switch {
		case errors.Is(err, tree.ErrNoNode):
			return counterState{}, nil
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		case err != nil:
			return counterState{}, fmt.Errorf("config: counter %s: %w", c.path, err)
		}
		rec, err := parseCounter(data)
		if err != nil {
			return counterState{}, fmt.Errorf("config: counter %s: %w", c.path, err)
		}
		return counterState{exists: true, rec: rec, stat: st}, nil
	}
}

// Get returns the counter's value and version (CreateOnly, with value 0,
// if the znode does not exist yet), for CompareAndSet. It reads from the
// server the client is connected to (see Store.Get). It fails with
// ErrCounterData or the client's errors.
func (c *Counter) Get(ctx context.Context) (value int64, version int32, err error) {
	s, err := c.read(ctx)
	if err != nil {
		return 0, 0, err
	}
	return s.rec.Value, s.version(), nil
}

// CompareAndSet sets the counter to value if its version is
// expectedVersion (CreateOnly: if it does not exist) and reports whether
// it did. A false with a nil error means the version had moved on; call
// Get again. Errors: ErrBadVersion (AnyVersion or a negative version other
// than CreateOnly), ErrCounterData, ErrIndeterminate (see Counter), the
// client's errors (not applied).
func (c *Counter) CompareAndSet(ctx context.Context, expectedVersion int32, value int64) (bool, error) {
	if expectedVersion < 0 && expectedVersion != CreateOnly {
		return false, fmt.Errorf("%w: %d (CompareAndSet needs a version or CreateOnly)", ErrBadVersion, expectedVersion)
	}
	s, err := c.read(ctx)
	if err != nil {
		return false, err
	}
	if s.version() != expectedVersion {
		return false, nil
	}
	return c.write(ctx, s, value)
}

// Add adds delta to the counter atomically (a compare-and-set loop) and
// returns the new value. It creates the counter at delta if it does not
// exist. Errors: ErrOverflow (nothing written), ErrCounterData,
// ErrIndeterminate (see Counter: maybe applied), the client's errors and
// ctx.Err() (not applied). If ctx ends while a write is in flight, Add
// still finds out (within 5 seconds more at most, writing a fence if need
// be, see Counter) whether it was applied and, if it was, returns the new
// value and nil.
func (c *Counter) Add(ctx context.Context, delta int64) (int64, error) {
	for {
		s, err := c.read(ctx)
		if err != nil {
			return 0, err
		}
		v := s.rec.Value
		if (delta > 0 && v > math.MaxInt64-delta) || (delta < 0 && v < math.MinInt64-delta) {
			return 0, fmt.Errorf("%w: %d + %d", ErrOverflow, v, delta)
		}
		ok, err := c.write(ctx, s, v+delta)
		if err != nil {
			return 0, err
		}
		if ok {
			return v + delta, nil
		}
	}
}

// newOpID returns a fresh 16-hex-character write id.
func newOpID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// attempt is one write's payload: its id and the znode data.
type attempt struct {
	id   string
	data []byte
}

// attempt returns a write of value on top of s with a fresh id.
func (c *Counter) attempt(s counterState, value int64) (attempt, error) {
	id := newOpID()
	ops := append(append([]string(nil), s.rec.Ops...), id)
	if len(ops) > c.history {
		ops = ops[len(ops)-c.history:]
	}
	data, err := json.Marshal(counterRecord{Value: value, Ops: ops})
	if err != nil {
		return attempt{}, fmt.Errorf("config: counter %s: %w", c.path, err)
	}
	return attempt{id: id, data: data}, nil
}

// send writes data if the counter is still as s says: a Set at s's
// version, or a Create if it did not exist.
func (c *Counter) send(ctx context.Context, s counterState, data []byte) error {
	for {
		if s.exists {
			_, err := c.conn.Set(ctx, c.path, data, s.stat.Version)
			return err
		}
		_, err := c.conn.Create(ctx, c.path, data, tree.ModePersistent)
		if !errors.Is(err, tree.ErrNoNode) {
			return err
		}
		if err := recipe.EnsurePath(ctx, c.conn, parentOf(c.path)); err != nil {
			return err
		}
	}
}

// isRace reports whether err says the counter moved on from the state a
// write required.
func isRace(err error) bool {
	return errors.Is(err, tree.ErrBadVersion) || errors.Is(err, tree.ErrNoNode) || errors.Is(err, tree.ErrNodeExists)
}

// isLost reports whether err leaves a write's outcome open: the request may
// have been applied.
func isLost(err error) bool {
	return errors.Is(err, client.ErrConnectionLoss) || errors.Is(err, client.ErrSessionExpired) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// write stores value if the counter is still as s says, and reports
// whether it did; (false, nil) means another write came first.
//
// After a lost reply it reads the counter back (resolve). Still at s's
// version: it sends the very same write again (same version condition,
// same id), so that of the lost request and the new one at most one can
// apply, even if the lost one is still on its way. If ctx has ended, it
// sends instead a fence: the unchanged value with a new id at s's version,
// whose success proves the lost write can never apply.
func (c *Counter) write(ctx context.Context, s counterState, value int64) (bool, error) {
	own, err := c.attempt(s, value)
	if err != nil {
		return false, err
	}
	var (
		cur    = own
		doubt  bool  // an attempt of own may have applied unseen
		cause  error // what lost the first reply
		fenced bool  // cur is a fence
		cctx   context.Context
		cancel context.CancelFunc = func() {}
	)
	defer func() { cancel() }()
	// rctx returns ctx while it lasts, then a context bounded by
	// recipe.CleanupTimeout from the first call after ctx ended.
	rctx := func() context.Context {
		if ctx.Err() == nil {
			return ctx
		}
		if cctx == nil {
			cctx, cancel = context.WithTimeout(context.Background(), recipe.CleanupTimeout)
		}
		return cctx
	}
	for {
		sctx := ctx
		if fenced {
			sctx = rctx()
		}
		err := c.send(sctx, s, cur.data)
		switch {
		case err == nil && !fenced:
			return true, nil
		case err == nil:
			return false, fmt.Errorf("config: counter %s: %w", c.path, ctx.Err()) // the fence landed: own never will
		case isRace(err) && !doubt:
			return false, nil
		case isLost(err):
			doubt = true
			if cause == nil {
				cause = err
			}
		case !isRace(err):
			if doubt {
				return false, fmt.Errorf("%w: counter %s: %w (after %w)", ErrIndeterminate, c.path, err, cause)
			}
			return false, fmt.Errorf("config: counter %s: %w", c.path, err)
		}
		out, why := c.resolve(rctx(), s, own.id)
		switch out {
		case outApplied:
			return true, nil
		case outOther:
			if ctx.Err() != nil {
				return false, fmt.Errorf("config: counter %s: %w", c.path, ctx.Err())
			}
			return false, nil
		case outUnknown:
			return false, fmt.Errorf("%w: counter %s: %s: %w", ErrIndeterminate, c.path, why, cause)
		}
		// outBase: nothing landed yet.
		switch {
		case ctx.Err() == nil:
			cur = own // again, identically: of all the copies at most one lands
		case !fenced:
			if cur, err = c.attempt(s, s.rec.Value); err != nil {
				return false, err
			}
			fenced = true
		}
	}
}

// outcome is what resolve found about a write whose reply was lost.
type outcome uint8

const (
	outBase    outcome = iota // the counter is still as the write required
	outApplied                // the write applied
	outOther                  // another write took the version: it never will
	outUnknown                // cannot tell
)

// resolve reads the counter back and decides what became of the write
// with id that required state s.
func (c *Counter) resolve(ctx context.Context, s counterState, id string) (outcome, string) {
	now, err := c.read(ctx)
	switch {
	case err != nil:
		return outUnknown, "reading back: " + err.Error()
	case !now.exists && !s.exists:
		return outBase, ""
	case !now.exists:
		return outUnknown, "the counter was deleted"
	case s.exists && now.stat.Czxid != s.stat.Czxid:
		return outUnknown, "the counter was re-created"
	}
	target := int32(0) // the version the write makes
	if s.exists {
		target = s.stat.Version + 1
	}
	if now.stat.Version < target {
		return outBase, ""
	}
	first := now.stat.Version - int32(len(now.rec.Ops)) + 1 // the version ops[0] made
	if target < first {
		return outUnknown, fmt.Sprintf("%d writes since, more than the history holds", now.stat.Version-target+1)
	}
	if now.rec.Ops[target-first] == id {
		return outApplied, ""
	}
	return outOther, ""
}
