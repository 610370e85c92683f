package ensemble

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// TestClientEndToEnd drives the server through the Go client: errors come
// back as the tree's sentinels, watches arrive on channels.
func TestClientEndToEnd(t *testing.T) {
	s := startServer(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{s.Addr().String()}, client.WithSessionTimeout(5*time.Second))
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Create(ctx, "/e2e", []byte("v"), tree.ModePersistent)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/e2e", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, client.ErrNodeExists)
	_, _, err = c.Get(ctx, "/missing")
	assert.ErrorIs(t, err, tree.ErrNoNode)

	data, _, ch, err := c.GetW(ctx, "/e2e")
	require.NoError(t, err)
	assert.Equal(t, "v", string(data))
	_, err = c.Set(ctx, "/e2e", []byte("w"), tree.AnyVersion)
	require.NoError(t, err)
	select {
	case ev := <-ch:
		assert.Equal(t, tree.EventNodeDataChanged, ev.Type)
		assert.Equal(t, "/e2e", ev.Path)
	case <-ctx.Done():
		t.Fatal("no watch event")
	}

	res, err := c.Multi(ctx, client.CreateOp("/e2e/a", nil, tree.ModePersistent), client.CheckOp("/e2e", 5))
	assert.ErrorIs(t, err, tree.ErrBadVersion)
	require.Len(t, res, 2)
	assert.ErrorIs(t, res[0].Err, tree.ErrRolledBack)
	require.NoError(t, c.Sync(ctx, "/e2e"))
	_, _, err = c.GetLinearizable(ctx, "/e2e")
	require.NoError(t, err)
}

// TestClientSurvivesRestart: a client rides over a server restart on the
// same address: its session resumes, its ephemeral stays, and its watch is
// re-registered (SetWatches) and fires.
func TestClientSurvivesRestart(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	addr := s.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(5*time.Second))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/watched", nil, tree.ModePersistent)
	require.NoError(t, err)
	_, _, ch, err := c.GetW(ctx, "/watched")
	require.NoError(t, err)

	stopServer(t, s)
	cfg.ClientAddr = addr
	s = startServer(t, cfg)

	require.Eventually(t, func() bool { return c.State() == client.StateConnected }, 20*time.Second, 5*time.Millisecond)
	eph, err := c.GetEphemerals(ctx, "/")
	require.NoError(t, err)
	assert.Equal(t, []string{"/eph"}, eph)

	other, err := client.Connect(ctx, []string{addr})
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Set(ctx, "/watched", []byte("x"), tree.AnyVersion)
	require.NoError(t, err)
	select {
	case ev := <-ch:
		assert.Equal(t, tree.EventNodeDataChanged, ev.Type)
	case <-ctx.Done():
		t.Fatal("the watch did not survive the restart")
	}

	// Close ends the session: its ephemeral goes.
	require.NoError(t, c.Close())
	ok, _, err := other.Exists(ctx, "/eph")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = c.Create(ctx, "/after-close", nil, tree.ModePersistent)
	assert.True(t, errors.Is(err, client.ErrClosed) || err != nil)
}
