package ensemble

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// TestContainerAndTTLExpiry: the peer proposes the deletion of an emptied
// container and of a TTL node past its TTL, and their watches fire.
func TestContainerAndTTLExpiry(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 10*time.Second)
	c.create("/box", nil, tree.ModeContainer)
	c.create("/box/item", nil, tree.ModePersistent)
	resp := c.call(wire.Request{Op: wire.OpCreate, Path: "/ttl", Mode: tree.ModePersistentWithTTL, TTL: 30})
	require.Equal(t, wire.CodeOK, resp.Code, resp.Message)
	require.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpGetData, Path: "/box", Watch: true}).Code)
	require.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpGetData, Path: "/ttl", Watch: true}).Code)

	require.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpDelete, Path: "/box/item", Version: -1}).Code)
	got := map[string]tree.EventType{}
	for len(got) < 2 {
		ev := c.event()
		got[ev.Path] = ev.Type
	}
	assert.Equal(t, map[string]tree.EventType{"/box": tree.EventNodeDeleted, "/ttl": tree.EventNodeDeleted}, got)
	assert.Equal(t, wire.CodeNoNode, c.call(wire.Request{Op: wire.OpExists, Path: "/box"}).Code)
	assert.Equal(t, wire.CodeNoNode, c.call(wire.Request{Op: wire.OpExists, Path: "/ttl"}).Code)
}
