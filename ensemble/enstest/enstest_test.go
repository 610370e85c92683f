package enstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestKillLeaderClientMoves: a client on every peer keeps its session and
// its data when the leader is killed, and a restarted peer catches up.
func TestKillLeaderClientMoves(t *testing.T) {
	e := Start(t, Options{})
	c := e.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Create(ctx, "/a", []byte("1"), tree.ModeEphemeral)
	require.NoError(t, err)
	lead := e.Leader(t)
	e.Kill(lead)
	require.Eventually(t, func() bool {
		_, err := c.Set(ctx, "/a", []byte("2"), tree.AnyVersion)
		return err == nil
	}, 30*time.Second, 5*time.Millisecond)
	require.NotEqual(t, lead, e.Leader(t))
	e.Restart(t, lead)
	e.Leader(t)
	e.Converged(t)
	d, _, err := c.Get(ctx, "/a")
	require.NoError(t, err)
	require.Equal(t, "2", string(d))
}

// TestPauseExpiresSession: a client behind a paused proxy loses its
// session; Cut makes it reconnect elsewhere with the session intact.
func TestPauseExpiresSession(t *testing.T) {
	e := Start(t, Options{})
	f := e.Follower(t)
	c := e.ConnectPeer(t, f, client.WithSessionTimeout(400*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Create(ctx, "/e", nil, tree.ModeEphemeral)
	require.NoError(t, err)

	other := e.Connect(t)
	e.Proxy(f).Cut()
	require.Eventually(t, func() bool { return c.State() == client.StateConnected }, 30*time.Second, 5*time.Millisecond)
	ok, _, err := other.Exists(ctx, "/e")
	require.NoError(t, err)
	require.True(t, ok, "a cut connection must not end the session")

	e.Proxy(f).Pause()
	require.Eventually(t, func() bool {
		ok, _, err := other.Exists(ctx, "/e")
		return err == nil && !ok
	}, 30*time.Second, 5*time.Millisecond, "the paused client's session should expire")
	e.Proxy(f).Resume()
	require.Eventually(t, func() bool {
		_, _, err := c.Exists(ctx, "/")
		return errors.Is(err, client.ErrSessionExpired)
	}, 30*time.Second, 5*time.Millisecond)
}

// TestStartMain: the TestMain form starts and stops an ensemble.
func TestStartMain(t *testing.T) {
	e, stop, err := StartMain(Options{})
	require.NoError(t, err)
	c, err := client.Connect(context.Background(), e.Servers())
	require.NoError(t, err)
	_, err = c.Create(context.Background(), "/m", nil, tree.ModePersistent)
	require.NoError(t, err)
	c.Close()
	stop()
}
