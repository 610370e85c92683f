package config_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/tree"
)

// ledger records every value the writers of a test stored: key -> the
// Mzxid their Put returned -> the bytes. A Change that carries a value must
// match an entry.
type ledger struct {
	mu  sync.Mutex
	put map[string]map[tree.Zxid]string
}

func newLedger() *ledger { return &ledger{put: map[string]map[tree.Zxid]string{}} }

func (l *ledger) record(key string, st tree.Stat, raw []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.put[key] == nil {
		l.put[key] = map[tree.Zxid]string{}
	}
	l.put[key][st.Mzxid] = string(raw)
}

// stream collects the Changes one Watch or Cache delivered, in order.
type stream struct {
	mu      sync.Mutex
	changes []config.Change
	state   map[string]string // key -> last value ("" deleted/absent)
}

func newStream() *stream { return &stream{state: map[string]string{}} }

func (s *stream) add(c config.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes = append(s.changes, c)
	if c.Err != nil {
		return
	}
	if c.Deleted {
		delete(s.state, c.Key)
	} else {
		s.state[c.Key] = string(c.Value)
	}
}

func (s *stream) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.changes)
}

func (s *stream) snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.state)
}

// collect runs a goroutine that drains ch into s until it is closed; wait
// returns once it has.
func collect(ch <-chan config.Change, s *stream) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range ch {
			s.add(c)
		}
	}()
	return func() { <-done }
}

// check verifies a stream's history: per key, Zxids strictly increase (no
// value older than one delivered before, and no value twice: the package
// promises that much, more than "duplicates allowed"), a value's Zxid is
// its Mzxid, and every value is one a writer stored at that Mzxid (with
// the ledger nil, only the order is checked). It returns one error per
// violation.
func (s *stream) check(l *ledger) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	var errs []error
	type last struct {
		zxid    tree.Zxid
		deleted bool
		value   string
	}
	seen := map[string]last{}
	for i, c := range s.changes {
		if c.Err != nil {
			if i != len(s.changes)-1 {
				errs = append(errs, fmt.Errorf("change %d: error %v before the end", i, c.Err))
			}
			continue
		}
		prev, ok := seen[c.Key]
		if ok && c.Zxid <= prev.zxid {
			errs = append(errs, fmt.Errorf("change %d: key %s went back or repeated: %v after %v (deleted %v -> %v)", i, c.Key, c.Zxid, prev.zxid, prev.deleted, c.Deleted))
		}
		if !c.Deleted {
			if c.Zxid != c.Stat.Mzxid {
				errs = append(errs, fmt.Errorf("change %d: key %s: Zxid %v is not Mzxid %v", i, c.Key, c.Zxid, c.Stat.Mzxid))
			}
			if l != nil {
				if w, ok := l.put[c.Key][c.Stat.Mzxid]; !ok || w != string(c.Value) {
					errs = append(errs, fmt.Errorf("change %d: key %s: value %q at %v was never written there (writer: %q, %v)", i, c.Key, c.Value, c.Stat.Mzxid, w, ok))
				}
			}
		}
		seen[c.Key] = last{zxid: c.Zxid, deleted: c.Deleted, value: string(c.Value)}
	}
	return errs
}

// serverState reads every key under s from the server: key -> raw value.
func serverState(t testing.TB, ctx context.Context, s *config.Store, under string) map[string]string {
	t.Helper()
	keys, err := s.List(ctx, under)
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		v, _, err := s.GetBytes(ctx, k)
		if err == nil {
			out[k] = string(v)
		}
	}
	return out
}

// converge waits until got() equals the server's state under key (read
// again each time: s's session may lag the writers' sessions for a moment).
func converge(t testing.TB, ctx context.Context, s *config.Store, under string, got func() map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		want := serverState(t, ctx, s, under)
		g := got()
		if maps.Equal(g, want) {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			require.Equal(t, want, g, "did not converge to the server's state")
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
