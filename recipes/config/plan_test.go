package config_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
)

// TestPutAllAtomic: a PutAll creates nested keys and their directories in
// one multi; when one entry's condition fails nothing at all is written
// (not the other keys, not a directory); a lost reply whose multi applied
// is reported as done.
func TestPutAllAtomic(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	root := prefix(t)
	s := newStore(t, c, root)

	stats, err := s.PutAll(ctx, config.Entries(map[string]any{"db/url": "pg://a", "db/pool": 4, "flags/x/y": true}))
	require.NoError(t, err)
	require.Len(t, stats, 3)
	assert.NotZero(t, stats[0].Mzxid)
	assert.Equal(t, stats[0].Mzxid, stats[2].Mzxid, "one multi, one zxid")
	before := serverState(t, ctx, s, "")
	assert.Len(t, before, 3)

	// The last entry's version is stale: nothing is written.
	_, err = s.PutAll(ctx, []config.Entry{
		{Key: "db/url", Value: "pg://b", Version: config.AnyVersion},
		{Key: "new/deep/key", Value: 1, Version: config.CreateOnly},
		{Key: "flags/x/y", Delete: true, Version: config.AnyVersion},
		{Key: "db/pool", Value: 8, Version: stats[1].Version + 1},
	})
	require.ErrorIs(t, err, config.ErrConflict)
	assert.Contains(t, err.Error(), `"db/pool"`)
	assert.Equal(t, before, serverState(t, ctx, s, ""))
	ok, _, err := c.Exists(ctx, root+"/new")
	require.NoError(t, err)
	assert.False(t, ok, "no directory left behind by the failed multi")

	// With the right version it all applies, deletes prune directories.
	stats, err = s.PutAll(ctx, []config.Entry{
		{Key: "db/url", Value: "pg://b", Version: config.AnyVersion},
		{Key: "new/deep/key", Value: 1, Version: config.CreateOnly},
		{Key: "flags/x/y", Delete: true, Version: config.AnyVersion},
		{Key: "db/pool", Value: 8, Version: stats[1].Version},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"db/url": `"pg://b"`, "db/pool": "8", "new/deep/key": "1"}, serverState(t, ctx, s, ""))
	ok, _, err = c.Exists(ctx, root+"/flags")
	require.NoError(t, err)
	assert.False(t, ok, "flags/x and flags were left empty: removed")

	// A lost reply after the multi applied: done, not a conflict.
	f := &setLossConn{Conn: c, multis: 1}
	fs := newStore(t, f, root)
	_, err = fs.PutAll(ctx, []config.Entry{{Key: "db/pool", Value: 9, Version: stats[3].Version}, {Key: "z", Value: 1, Version: config.CreateOnly}})
	require.NoError(t, err)
	assert.Equal(t, 1, f.Lost())
	var pool int
	_, err = s.Get(ctx, "db/pool", &pool)
	require.NoError(t, err)
	assert.Equal(t, 9, pool)

	// Bad input is refused before anything is sent.
	_, err = s.PutAll(ctx, []config.Entry{{Key: "a", Value: 1}, {Key: "a", Value: 2}})
	require.ErrorIs(t, err, config.ErrBadKey)
	_, err = s.PutAll(ctx, []config.Entry{{Key: "a", Delete: true, Version: config.CreateOnly}})
	require.ErrorIs(t, err, config.ErrBadVersion)
}

// TestPushPlan: Diff computes creates, updates and deletes against the
// store; Apply applies them in one multi; a change made between Diff and
// Apply (even to a key the plan leaves as it is) fails the whole Apply
// with ErrConflict and writes nothing.
func TestPushPlan(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	s := newStore(t, c, prefix(t))
	_, err := s.PutAll(ctx, config.Entries(map[string]any{"keep": 1, "change": 1, "drop/me": 1, "also/drop": 1}))
	require.NoError(t, err)

	desired := map[string]any{"keep": 1, "change": 2, "add/new": "x"}
	plan, err := s.Diff(ctx, desired)
	require.NoError(t, err)
	assert.Equal(t, "+ add/new\n- also/drop\n~ change\n- drop/me\n", plan.String())
	assert.Equal(t, "1 created, 1 updated, 2 deleted, 1 unchanged", plan.Summary())
	assert.Equal(t, []string{"keep"}, plan.Unchanged)

	// Someone changes the key the plan keeps: Apply must fail as a whole.
	_, err = s.Put(ctx, "keep", 100, config.AnyVersion)
	require.NoError(t, err)
	before := serverState(t, ctx, s, "")
	err = plan.Apply(ctx)
	require.ErrorIs(t, err, config.ErrConflict)
	assert.Contains(t, err.Error(), `"keep"`)
	assert.Equal(t, before, serverState(t, ctx, s, ""), "no partial push")

	// Push = Diff + Apply.
	plan, err = s.Push(ctx, desired)
	require.NoError(t, err)
	assert.Equal(t, "+ add/new\n- also/drop\n~ change\n- drop/me\n~ keep\n", plan.String(), "re-planned: keep goes back to 1")
	assert.Equal(t, map[string]string{"keep": "1", "change": "2", "add/new": `"x"`}, serverState(t, ctx, s, ""))
	plan, err = s.Diff(ctx, desired)
	require.NoError(t, err)
	assert.True(t, plan.Empty())
	require.NoError(t, plan.Apply(ctx), "an empty plan does nothing")
}

// TestPushConcurrent: eight pushers push whole configurations (different
// keys and values) over and over, re-planning on conflict; at the end the
// store holds exactly one of the pushed configurations, never a mix.
func TestPushConcurrent(t *testing.T) {
	ctx := recipetest.Ctx(t)
	root := prefix(t)
	const pushers, rounds = 8, 5
	configs := make([]map[string]any, pushers)
	for p := range configs {
		m := map[string]any{}
		for k := range 6 {
			if (p+k)%3 == 0 {
				continue // each config has its own key set
			}
			m[fmt.Sprintf("k%d/v", k)] = fmt.Sprintf("p%d", p)
		}
		m["who"] = p
		configs[p] = m
	}
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	var mu sync.Mutex
	conflicts := 0
	for p := range pushers {
		s := newStore(t, shared.Connect(t), root)
		wg.Go(func() {
			for range rounds {
				for {
					_, err := s.Push(ctx, configs[p])
					if errors.Is(err, config.ErrConflict) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						errs <- err
						return
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
	s := newStore(t, shared.Connect(t), root)
	got := serverState(t, ctx, s, "")
	var who int
	require.NoError(t, config.JSON.Unmarshal([]byte(got["who"]), &who))
	want := map[string]string{}
	for k, v := range configs[who] {
		raw, _ := config.JSON.Marshal(v)
		want[k] = string(raw)
	}
	assert.Equal(t, want, got, "the store holds exactly pusher %d's configuration", who)
	t.Logf("%d conflicts", conflicts)
}

// TestPushLostReply: an Apply whose multi applied but whose reply was lost
// reports success.
func TestPushLostReply(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	f := &setLossConn{Conn: c, multis: 1}
	s := newStore(t, f, prefix(t))
	plan, err := s.Push(ctx, map[string]any{"a": 1, "b/c": 2})
	require.NoError(t, err)
	assert.Equal(t, "+ a\n+ b/c\n", plan.String())
	assert.Equal(t, 1, f.Lost())
	plan, err = s.Diff(ctx, map[string]any{"a": 1, "b/c": 2})
	require.NoError(t, err)
	assert.True(t, plan.Empty())
}
