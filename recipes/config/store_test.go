package config_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/tree"
)

// prefix returns a fresh prefix for a test on the shared ensemble.
func prefix(t testing.TB) string {
	return "/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

func newStore(t testing.TB, c recipes.Conn, p string, opts ...config.Option) *config.Store {
	t.Helper()
	s, err := config.NewStore(c, p, opts...)
	require.NoError(t, err)
	return s
}

type dbConfig struct {
	URL     string   `json:"url"`
	Pool    int      `json:"pool"`
	Replica []string `json:"replica,omitempty"`
}

// TestStoreRoundTrip: typed values under nested keys, raw and custom
// codecs, listing, directories, deletes that leave no empty directory.
func TestStoreRoundTrip(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	root := prefix(t)
	s := newStore(t, c, root)

	want := dbConfig{URL: "postgres://db:5432", Pool: 8, Replica: []string{"r1", "r2"}}
	st, err := s.Put(ctx, "svc/db", want, config.CreateOnly)
	require.NoError(t, err)
	assert.EqualValues(t, 0, st.Version)
	var got dbConfig
	st2, err := s.Get(ctx, "svc/db", &got)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, st, st2)

	_, err = s.Put(ctx, "svc/db/timeout", "5s", config.AnyVersion) // a key below a key
	require.NoError(t, err)
	_, err = s.Put(ctx, "flags/beta", true, config.AnyVersion)
	require.NoError(t, err)
	keys, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"flags/beta", "svc/db", "svc/db/timeout"}, keys)
	keys, err = s.List(ctx, "svc/db")
	require.NoError(t, err)
	assert.Equal(t, []string{"svc/db", "svc/db/timeout"}, keys)

	// "svc" and "flags" are directories, not keys.
	_, _, err = s.GetBytes(ctx, "svc")
	require.ErrorIs(t, err, config.ErrNotFound)
	_, err = s.Get(ctx, "nope", &got)
	require.ErrorIs(t, err, config.ErrNotFound)
	var wrong int
	_, err = s.Get(ctx, "svc/db", &wrong)
	require.ErrorIs(t, err, config.ErrCodec)

	// Deleting a key with keys below it clears it into a directory.
	require.NoError(t, s.Delete(ctx, "svc/db", st.Version))
	_, _, err = s.GetBytes(ctx, "svc/db")
	require.ErrorIs(t, err, config.ErrNotFound)
	var timeout string
	_, err = s.Get(ctx, "svc/db/timeout", &timeout)
	require.NoError(t, err)
	assert.Equal(t, "5s", timeout)
	// Deleting the last key removes the directories it leaves empty.
	require.NoError(t, s.Delete(ctx, "svc/db/timeout", config.AnyVersion))
	ok, _, err := c.Exists(ctx, root+"/svc")
	require.NoError(t, err)
	assert.False(t, ok, "empty directories are removed with the last key")
	ok, _, err = c.Exists(ctx, root)
	require.NoError(t, err)
	assert.True(t, ok, "the prefix itself stays")
	require.NoError(t, s.Delete(ctx, "svc/db/timeout", config.AnyVersion), "deleting an absent key is a no-op")

	// A directory can become a key.
	_, err = s.Put(ctx, "a/b", 1, config.AnyVersion)
	require.NoError(t, err)
	_, err = s.Put(ctx, "a", 2, config.CreateOnly)
	require.NoError(t, err, "a directory is not a key: CreateOnly holds")
	var n int
	_, err = s.Get(ctx, "a", &n)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	// Raw and custom codecs.
	raw := newStore(t, c, root+"/raw", config.WithCodec(config.Raw))
	_, err = raw.Put(ctx, "k", []byte("bytes"), config.AnyVersion)
	require.NoError(t, err)
	var sv string
	_, err = raw.Get(ctx, "k", &sv)
	require.NoError(t, err)
	assert.Equal(t, "bytes", sv)
	_, err = raw.Put(ctx, "empty", "", config.AnyVersion)
	require.ErrorIs(t, err, config.ErrEmptyValue)
	up := newStore(t, c, root+"/upper", config.WithCodec(upperCodec{}))
	_, err = up.Put(ctx, "k", "shout", config.AnyVersion)
	require.NoError(t, err)
	d, _, err := c.Get(ctx, root+"/upper/k")
	require.NoError(t, err)
	assert.Equal(t, "SHOUT", string(d))

	// Bad keys and versions are refused before anything is sent.
	for _, k := range []string{"", "/a", "a/", "a//b", "a/./b", "../x", "a/\x00"} {
		_, err := s.Put(ctx, k, 1, config.AnyVersion)
		assert.ErrorIs(t, err, config.ErrBadKey, "key %q", k)
	}
	_, err = s.Put(ctx, "x", 1, -3)
	assert.ErrorIs(t, err, config.ErrBadVersion)
	assert.ErrorIs(t, s.Delete(ctx, "x", config.CreateOnly), config.ErrBadVersion)
	_, err = config.NewStore(c, "rel/path")
	assert.ErrorIs(t, err, config.ErrBadKey)
}

// upperCodec is a custom Codec: strings stored upper-case.
type upperCodec struct{}

func (upperCodec) Marshal(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("not a string: %T", v)
	}
	return []byte(strings.ToUpper(s)), nil
}

func (upperCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*string)
	if !ok {
		return fmt.Errorf("not a *string: %T", v)
	}
	*p = string(data)
	return nil
}

// TestStoreCAS: conditional puts and deletes conflict as they should, and
// 32 concurrent read-modify-write loops on one key lose no update.
func TestStoreCAS(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	s := newStore(t, c, prefix(t))

	st, err := s.Put(ctx, "k", 1, config.CreateOnly)
	require.NoError(t, err)
	_, err = s.Put(ctx, "k", 2, config.CreateOnly)
	require.ErrorIs(t, err, config.ErrConflict)
	_, err = s.Put(ctx, "k", 2, st.Version+1)
	require.ErrorIs(t, err, config.ErrConflict)
	_, err = s.Put(ctx, "absent", 2, 0)
	require.ErrorIs(t, err, config.ErrConflict)
	st, err = s.Put(ctx, "k", 2, st.Version)
	require.NoError(t, err)
	require.ErrorIs(t, s.Delete(ctx, "k", st.Version-1), config.ErrConflict)
	require.ErrorIs(t, s.Delete(ctx, "absent", 3), config.ErrConflict)
	var v int
	_, err = s.Get(ctx, "k", &v)
	require.NoError(t, err)
	assert.Equal(t, 2, v, "failed writes changed nothing")
	require.NoError(t, s.Delete(ctx, "k", st.Version))

	// 32 writers, each adding 1 ten times with Get + Put(version). A Put
	// whose reply a real connection loss took and that cannot tell
	// (ErrIndeterminate) may or may not have added its 1.
	const writers, each = 32, 10
	clients := []*client.Client{c, shared.Connect(t), shared.Connect(t), shared.Connect(t)}
	var wg sync.WaitGroup
	var conflicts sync.Map
	var unknown atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		ws := newStore(t, clients[w%len(clients)], prefix(t))
		wg.Go(func() {
			for range each {
				for {
					var n int
					st, err := ws.Get(ctx, "sum", &n)
					version := st.Version
					if errors.Is(err, config.ErrNotFound) {
						version = config.CreateOnly
					} else if err != nil {
						errs <- err
						return
					}
					_, err = ws.Put(ctx, "sum", n+1, version)
					if errors.Is(err, config.ErrConflict) {
						conflicts.Store(w, true)
						continue
					}
					if errors.Is(err, config.ErrIndeterminate) {
						unknown.Add(1)
						break
					}
					if err != nil {
						errs <- err
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var sum int
	require.NoError(t, c.Sync(ctx, prefix(t)+"/sum"))
	_, err = s.Get(ctx, "sum", &sum)
	require.NoError(t, err)
	if unknown.Load() == 0 {
		assert.Equal(t, writers*each, sum, "no lost update")
	} else {
		t.Logf("%d puts of unknown outcome", unknown.Load())
		assert.GreaterOrEqual(t, sum, writers*each-int(unknown.Load()), "no lost update")
		assert.LessOrEqual(t, sum, writers*each, "no lost update")
	}
}

// setLossConn loses the reply of the next Set or Multi that succeeds (the
// server applied it) and runs onLose, as a connection loss at that moment
// would.
type setLossConn struct {
	recipes.Conn
	mu     sync.Mutex
	sets   int // Set replies to lose
	multis int // Multi replies to lose
	onLose func()
	lost   int
}

func (f *setLossConn) lose(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n == 0 {
		return false
	}
	*n--
	f.lost++
	return true
}

func (f *setLossConn) Set(ctx context.Context, path string, data []byte, version int32) (tree.Stat, error) {
	st, err := f.Conn.Set(ctx, path, data, version)
	if err == nil && f.lose(&f.sets) {
		if f.onLose != nil {
			f.onLose()
		}
		return tree.Stat{}, fmt.Errorf("test: reply to set %s dropped: %w", path, client.ErrConnectionLoss)
	}
	return st, err
}

func (f *setLossConn) Multi(ctx context.Context, ops ...tree.Op) ([]client.MultiResult, error) {
	res, err := f.Conn.Multi(ctx, ops...)
	if err == nil && f.lose(&f.multis) {
		if f.onLose != nil {
			f.onLose()
		}
		return nil, fmt.Errorf("test: reply to multi dropped: %w", client.ErrConnectionLoss)
	}
	return res, err
}

func (f *setLossConn) Lost() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost
}

// TestStorePutLostReply: a conditional Put whose reply is lost after the
// server applied it reports success (its bytes are there at version+1),
// not a conflict with itself; one whose key moved on meanwhile reports
// ErrIndeterminate, not success or conflict.
func TestStorePutLostReply(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	other := newStore(t, c, prefix(t))
	f := &setLossConn{Conn: c}
	s := newStore(t, f, prefix(t))
	st, err := s.Put(ctx, "k", "v1", config.CreateOnly)
	require.NoError(t, err)

	f.sets = 1
	st2, err := s.Put(ctx, "k", "v2", st.Version)
	require.NoError(t, err)
	assert.Equal(t, 1, f.Lost())
	assert.Equal(t, st.Version+1, st2.Version)

	f.sets = 1
	f.onLose = func() { _, _ = other.Put(ctx, "k", "theirs", config.AnyVersion) }
	_, err = s.Put(ctx, "k", "v3", st2.Version)
	require.ErrorIs(t, err, config.ErrIndeterminate)
	require.NotErrorIs(t, err, config.ErrConflict)
	assert.Equal(t, 2, f.Lost())
}
