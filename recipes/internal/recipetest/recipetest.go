package recipetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/enstest"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/tree"
)

// Ensemble starts a 3-peer in-process ensemble for a recipe test; it is
// stopped when the test ends.
func Ensemble(t testing.TB) *enstest.Ensemble {
	t.Helper()
	return enstest.Start(t, enstest.Options{})
}

// Ctx returns a context that ends after 60 seconds or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Seed returns the seed for a randomized test: ZABKIT_SEED if set, else
// the current time; it logs it so a failure can be replayed.
func Seed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("ZABKIT_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("ZABKIT_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with ZABKIT_SEED=%d)", seed, seed)
	return seed
}

// FaultConn is a recipes.Conn that passes every call to Conn, except that
// it can be told to lose the reply of the next creates: the create is
// applied by the server, then OnLose runs (typically the proxy's Cut, so
// the client really reconnects) and the caller gets ErrConnectionLoss.
// This is the "connection lost between create and getChildren" fault.
type FaultConn struct {
	recipes.Conn

	mu       sync.Mutex
	loseNext int
	onLose   func()
	lost     []string
}

// NewFaultConn wraps c.
func NewFaultConn(c recipes.Conn) *FaultConn { return &FaultConn{Conn: c} }

// LoseCreateReplies makes the next n successful creates (of any mode)
// report ErrConnectionLoss after running onLose (nil: nothing).
func (f *FaultConn) LoseCreateReplies(n int, onLose func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseNext, f.onLose = n, onLose
}

// Lost returns the paths whose create reply was lost, in order.
func (f *FaultConn) Lost() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lost...)
}

// Create creates as the client does, then loses the reply if told to.
func (f *FaultConn) Create(ctx context.Context, path string, data []byte, mode tree.CreateMode) (string, error) {
	p, err := f.Conn.Create(ctx, path, data, mode)
	if err != nil {
		return p, err
	}
	f.mu.Lock()
	lose := f.loseNext > 0
	var onLose func()
	if lose {
		f.loseNext--
		f.lost = append(f.lost, p)
		onLose = f.onLose
	}
	f.mu.Unlock()
	if !lose {
		return p, nil
	}
	if onLose != nil {
		onLose()
	}
	return "", fmt.Errorf("recipetest: reply to create %s dropped: %w", p, client.ErrConnectionLoss)
}
