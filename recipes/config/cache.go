package config

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zabkit/zabkit/tree"
)

// Cache is a local mirror of the keys under one key of a Store: an initial
// load, then a persistent recursive watch whose events are read back from
// the server, and a full re-read after every reconnect (see Store.Watch:
// the Cache is the same engine, keeping the values).
//
// Consistency: for each key the Cache only ever moves forward: a value is
// replaced only by one with a larger Mzxid, and a deletion only by a later
// re-creation, so a reader never sees an older value after a newer one.
// The Cache lags the server by the time an event takes to arrive and be
// read back, longer while the client is disconnected (it then serves the
// last values it had). It is not a snapshot across keys: after a multi
// (Store.PutAll) the Cache may briefly show some of its keys changed and
// not yet others.
//
// A Cache is safe for concurrent use. Its one goroutine applies the
// changes and calls OnChange; Close stops it and waits for it.
type Cache struct {
	s        *Store
	key      string
	onChange func(Change)

	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{}
	cancel    context.CancelFunc
	closeOnce sync.Once

	mu struct {
		sync.RWMutex
		items map[string]Item // by key
		err   error           // why it stopped
	}
}

// Item is one key's value in a Cache.
type Item struct {
	Key   string
	Value []byte
	Stat  tree.Stat
}

// CacheOption configures NewCache.
type CacheOption func(*Cache)

// OnChange sets a callback the Cache calls for every change it applies,
// in order, from its one goroutine, after the change is visible to Get and
// Snapshot: first one Change per key of the initial load (Initial set),
// then each change; when the Cache stops because the session ended, one
// last Change with Err. While fn runs the Cache applies nothing else, so
// fn should be quick; it must not call Close (Close waits for it).
func OnChange(fn func(Change)) CacheOption {
	return func(c *Cache) { c.onChange = fn }
}

// NewCache starts a Cache of key and every key below it in s ("" for the
// whole store) and returns it at once; Ready is closed once the initial
// load is done. Close it when done. It fails only with ErrBadKey.
func NewCache(s *Store, key string, opts ...CacheOption) (*Cache, error) {
	root, err := s.subtree(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{s: s, key: key, ready: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	c.mu.items = map[string]Item{}
	for _, o := range opts {
		o(c)
	}
	m := &mirror{s: s, root: root, keep: true, known: map[string]entry{}}
	m.emit = func(ch Change) bool {
		c.mu.Lock()
		if ch.Deleted {
			delete(c.mu.items, ch.Key)
		} else {
			c.mu.items[ch.Key] = Item{Key: ch.Key, Value: ch.Value, Stat: ch.Stat}
		}
		c.mu.Unlock()
		if c.onChange != nil {
			c.onChange(ch)
		}
		return true
	}
	go func() {
		defer close(c.done)
		err := m.run(ctx, func() { c.readyOnce.Do(func() { close(c.ready) }) })
		if ctx.Err() != nil {
			err = ErrClosed
		}
		if err == nil {
			err = ErrClosed
		}
		c.mu.Lock()
		c.mu.err = err
		c.mu.Unlock()
		if !errors.Is(err, ErrClosed) && c.onChange != nil {
			c.onChange(Change{Err: err})
		}
	}()
	return c, nil
}

// Ready is closed once the initial load has been applied (and reported to
// OnChange). It stays open if the Cache stops before that: wait on Done
// too.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// WaitReady waits until the initial load is applied and returns nil, or
// returns ctx.Err(), or the Cache's Err if it stopped first.
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		select {
		case <-c.ready:
			return nil
		default:
		}
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the Cache has stopped: after Close, or when the
// session expired or the client was closed. The values stay readable.
func (c *Cache) Done() <-chan struct{} { return c.done }

// Err returns nil while the Cache runs, then why it stopped: ErrClosed
// after Close, client.ErrSessionExpired or client.ErrClosed when the
// session or client ended, or another error it could not get past.
func (c *Cache) Err() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mu.err
}

// Get decodes key's cached value into v and returns its Stat. It fails
// with ErrNotFound or ErrCodec. It never talks to the server.
func (c *Cache) Get(key string, v any) (tree.Stat, error) {
	data, st, err := c.GetBytes(key)
	if err != nil {
		return st, err
	}
	return st, decode(c.s.codec, key, data, v)
}

// GetBytes returns key's cached raw value and Stat, or ErrNotFound. The
// bytes are shared: do not modify them.
func (c *Cache) GetBytes(key string) ([]byte, tree.Stat, error) {
	c.mu.RLock()
	it, ok := c.mu.items[key]
	c.mu.RUnlock()
	if !ok {
		return nil, tree.Stat{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return it.Value, it.Stat, nil
}

// Snapshot returns a copy of the cached keys and values (the bytes are
// shared: do not modify them), as of one moment of the Cache.
func (c *Cache) Snapshot() map[string]Item {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]Item, len(c.mu.items))
	for k, it := range c.mu.items {
		out[k] = it
	}
	return out
}

// Len returns the number of cached keys.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.mu.items)
}

// Close stops the Cache: it removes its watch (within a few seconds at
// most) and waits for its goroutine. It returns nil; calling it again does
// nothing. It must not be called from OnChange.
func (c *Cache) Close() error {
	c.closeOnce.Do(c.cancel)
	<-c.done
	return nil
}
