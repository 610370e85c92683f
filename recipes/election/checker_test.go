package election_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/election"
	"github.com/zabkit/zabkit/tree"
)

// held is what the checkers need of a leadership (a *election.Leadership,
// or a fake one in the teeth test).
type held interface {
	Context() context.Context
	Token() int64
	Node() string
}

// leaderChecker records who believes it leads (Campaign returned and the
// leadership's Context is live) and finds two believers at once, tokens
// that do not increase from one leader to the next, and a believer that
// the server does not list first.
type leaderChecker struct {
	mu         sync.Mutex
	believers  map[int]held
	lastToken  int64
	count      int
	samples    int
	violations []string
}

func newLeaderChecker() *leaderChecker {
	return &leaderChecker{believers: map[int]held{}}
}

func (c *leaderChecker) violate(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// begin is called by participant id when its Campaign returned l.
func (c *leaderChecker) begin(id int, l held) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for other, ol := range c.believers {
		if ol.Context().Err() == nil {
			c.violate("participant %d became leader (token %d) while %d still led (token %d)", id, l.Token(), other, ol.Token())
		}
	}
	if l.Token() <= c.lastToken {
		c.violate("participant %d's token %d is not above the previous leader's %d", id, l.Token(), c.lastToken)
	}
	c.lastToken = l.Token()
	c.believers[id] = l
	c.count++
}

// end is called by participant id after it resigned.
func (c *leaderChecker) end(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.believers, id)
}

// live returns the node of the one live believer, "" for none, and the
// number of live believers.
func (c *leaderChecker) live() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	node, n := "", 0
	for _, l := range c.believers {
		if l.Context().Err() == nil {
			node = l.Node()
			n++
		}
	}
	return node, n
}

// sample compares the believer with the server: when the same leadership
// is believed before and after reading the leader (a synced read), the
// server must list its node first.
func (c *leaderChecker) sample(ctx context.Context, observer *election.Election) error {
	before, n := c.live()
	if n > 1 {
		c.mu.Lock()
		c.violate("%d participants believe they lead at once", n)
		c.mu.Unlock()
	}
	ld, err := observer.Leader(ctx)
	if err != nil && !errors.Is(err, election.ErrNoLeader) {
		return err
	}
	after, _ := c.live()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples++
	if before != "" && before == after && ld.Node != before {
		c.violate("%s believes it leads but the server's leader is %q", before, ld.Node)
	}
	return nil
}

func (c *leaderChecker) report() (violations []string, leaderships, samples int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...), c.count, c.samples
}

// fence is a store that accepts a write only with a token at least as
// high as any it accepted before (its "fencing"); the store is a znode
// holding "<token> <count>", updated by compare-and-set on its version.
// A leader whose write is refused while it still believes it leads has
// met a newer leader: two leaders at once.
type fence struct {
	path string

	mu         sync.Mutex
	accepted   int
	violations []string
}

func newFence(ctx context.Context, c recipes.Conn, path string) (*fence, error) {
	if _, err := c.Create(ctx, path, []byte("0 0"), tree.ModePersistent); err != nil {
		return nil, err
	}
	return &fence{path: path}, nil
}

// write tries a fenced increment with token; it reports whether the store
// accepted it.
func (f *fence) write(ctx context.Context, c recipes.Conn, token int64) (bool, error) {
	for {
		data, stat, err := c.Get(ctx, f.path)
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return false, err
		}
		top, count, err := parseFence(data)
		if err != nil {
			return false, err
		}
		if token < top {
			return false, nil
		}
		_, err = c.Set(ctx, f.path, fmt.Appendf(nil, "%d %d", token, count+1), stat.Version)
		switch {
		case err == nil:
			f.mu.Lock()
			f.accepted++
			f.mu.Unlock()
			return true, nil
		case errors.Is(err, tree.ErrBadVersion):
			continue
		case errors.Is(err, client.ErrConnectionLoss):
			// Maybe applied: the version check makes a retry safe, and a
			// write applied twice is impossible. Count it only if the store
			// shows it.
			data, _, gerr := c.Get(ctx, f.path)
			for errors.Is(gerr, client.ErrConnectionLoss) {
				data, _, gerr = c.Get(ctx, f.path)
			}
			if gerr != nil {
				return false, gerr
			}
			if t2, c2, _ := parseFence(data); t2 == token && c2 == count+1 {
				f.mu.Lock()
				f.accepted++
				f.mu.Unlock()
				return true, nil
			}
			continue
		default:
			return false, err
		}
	}
}

// leaderWrite is a leader's fenced write: a refusal while the leadership
// is still live is a violation.
func (f *fence) leaderWrite(ctx context.Context, c recipes.Conn, id int, l held) error {
	ok, err := f.write(ctx, c, l.Token())
	if err != nil {
		return err
	}
	if !ok && l.Context().Err() == nil {
		f.mu.Lock()
		f.violations = append(f.violations, fmt.Sprintf("participant %d (token %d) still leads but the store refused its write: a newer leader wrote", id, l.Token()))
		f.mu.Unlock()
	}
	return nil
}

// check reads the store and compares its count with the writes accepted.
func (f *fence) check(ctx context.Context, c recipes.Conn) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.violations...)
	data, _, err := c.Get(ctx, f.path)
	if err != nil {
		return append(out, "read store: "+err.Error())
	}
	if _, count, _ := parseFence(data); count != f.accepted {
		out = append(out, fmt.Sprintf("store counted %d writes, %d were accepted", count, f.accepted))
	}
	return out
}

func parseFence(data []byte) (token int64, count int, err error) {
	parts := strings.Fields(string(data))
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("bad fence data %q", data)
	}
	token, err = strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	count, err = strconv.Atoi(parts[1])
	return token, count, err
}
