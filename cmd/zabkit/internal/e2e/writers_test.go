//go:build unix

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// ack is one acknowledged create.
type ack struct {
	worker int
	name   string    // child name under the writers' parent
	at     time.Time // when the reply arrived
	zxid   tree.Zxid // the node's Czxid
}

// writers are clients creating unique znodes under one parent as fast as
// they can, each on its own session with every peer in its connect string,
// remembering every create that was acknowledged.
type writers struct {
	t       *testing.T
	parent  string
	clients []*client.Client
	session []tree.SessionID // each client's session at the start
	stopCh  chan struct{}
	wg      sync.WaitGroup
	count   atomic.Int64 // acknowledged creates
	unknown atomic.Int64 // creates whose outcome is unknown

	mu struct {
		sync.Mutex
		acks  []ack
		fatal []error // errors that end a worker: an expired or closed session
	}
	stopOnce sync.Once
}

// startWriters starts n writers under parent (which must exist); they
// stop at w.stop or at the end of the test.
func startWriters(t *testing.T, c *cluster, n int, parent string) *writers {
	t.Helper()
	w := &writers{t: t, parent: parent, stopCh: make(chan struct{})}
	for range n {
		cl := c.connect()
		w.clients = append(w.clients, cl)
		w.session = append(w.session, cl.SessionID())
	}
	for i, cl := range w.clients {
		w.wg.Add(1)
		go w.run(i, cl)
	}
	t.Cleanup(w.stop)
	return w
}

// run is worker i's loop: create parent/c<i>-<seq> until stopped. A
// failed create is not retried under the same name (its outcome is
// unknown); the next one gets a new name.
func (w *writers) run(i int, cl *client.Client) {
	defer w.wg.Done()
	for seq := 0; ; seq++ {
		select {
		case <-w.stopCh:
			return
		default:
		}
		name := fmt.Sprintf("c%d-%06d", i, seq)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := cl.Multi(ctx, client.CreateOp(w.parent+"/"+name, []byte(name), tree.ModePersistent))
		cancel()
		switch {
		case err == nil:
			w.mu.Lock()
			w.mu.acks = append(w.mu.acks, ack{worker: i, name: name, at: time.Now(), zxid: res[0].Stat.Czxid})
			w.mu.Unlock()
			w.count.Add(1)
		case errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed):
			w.mu.Lock()
			w.mu.fatal = append(w.mu.fatal, fmt.Errorf("writer %d at %s: %w", i, name, err))
			w.mu.Unlock()
			return
		default:
			w.unknown.Add(1)
		}
	}
}

// waitAcks waits until n more creates than now have been acknowledged.
func (w *writers) waitAcks(n int64) {
	w.t.Helper()
	target := w.count.Load() + n
	if !eventually(func() bool { return w.count.Load() >= target || w.fatals() != nil }) {
		w.t.Fatalf("writers reached %d acknowledged creates, not %d, within %v", w.count.Load(), target, waitFor)
	}
	if err := w.fatals(); err != nil {
		w.t.Fatalf("a writer stopped: %v", err)
	}
}

// fatals returns the errors that stopped workers, joined, or nil.
func (w *writers) fatals() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.mu.fatal...)
}

// stop stops the writers and waits for them.
func (w *writers) stop() {
	w.stopOnce.Do(func() { close(w.stopCh) })
	w.wg.Wait()
}

// acks returns every acknowledged create so far.
func (w *writers) acks() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.mu.acks...)
}

// checkSessions asserts that no writer's session expired or changed.
func (w *writers) checkSessions() {
	w.t.Helper()
	assert.NoError(w.t, w.fatals())
	for i, cl := range w.clients {
		assert.Equal(w.t, w.session[i], cl.SessionID(), "writer %d kept its session", i)
	}
}

// checkAcked asserts that every acknowledged create is on every running
// peer, read after a Sync on that peer.
func (w *writers) checkAcked(c *cluster) {
	w.t.Helper()
	acks := w.acks()
	for _, id := range c.running() {
		have := c.childrenOn(id, w.parent)
		var lost []string
		for _, a := range acks {
			if !have[a.name] {
				lost = append(lost, fmt.Sprintf("%s (zxid %v, writer %d)", a.name, a.zxid, a.worker))
			}
		}
		if !assert.Empty(w.t, lost, "peer %d lost %d of %d acknowledged creates under %s", id, len(lost), len(acks), w.parent) {
			continue
		}
		w.t.Logf("peer %d holds all %d acknowledged creates under %s (%d children)", id, len(acks), w.parent, len(have))
	}
}
