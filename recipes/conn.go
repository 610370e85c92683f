package recipes

import (
	"context"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// Conn is the part of *client.Client the recipes use; a *client.Client is
// a Conn. Each method behaves, and fails, as the client method of the same
// name documents.
type Conn interface {
	Create(ctx context.Context, path string, data []byte, mode tree.CreateMode) (string, error)
	CreateTTL(ctx context.Context, path string, data []byte, mode tree.CreateMode, ttl time.Duration) (string, error)
	Delete(ctx context.Context, path string, version int32) error
	Exists(ctx context.Context, path string) (bool, tree.Stat, error)
	ExistsW(ctx context.Context, path string) (bool, tree.Stat, <-chan client.Event, error)
	Get(ctx context.Context, path string) ([]byte, tree.Stat, error)
	GetW(ctx context.Context, path string) ([]byte, tree.Stat, <-chan client.Event, error)
	Set(ctx context.Context, path string, data []byte, version int32) (tree.Stat, error)
	Children(ctx context.Context, path string) ([]string, tree.Stat, error)
	ChildrenW(ctx context.Context, path string) ([]string, tree.Stat, <-chan client.Event, error)
	ChildrenPage(ctx context.Context, path, after string, max int) ([]string, bool, error)
	GetEphemerals(ctx context.Context, prefix string) ([]string, error)
	Multi(ctx context.Context, ops ...tree.Op) ([]client.MultiResult, error)
	Sync(ctx context.Context, path string) error
	AddWatch(ctx context.Context, path string, recursive bool) (*client.Watch, error)
	SessionID() tree.SessionID
	SessionTimeout() time.Duration
	State() client.State
	Subscribe() (<-chan client.State, func())
	LastHeard() time.Time
}

var _ Conn = (*client.Client)(nil)
