package recipe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/tree"
)

// ProtectedPrefix starts the name of every protected node, as in Curator:
// "_c_" + GUID + "-" + the recipe's own name.
const ProtectedPrefix = "_c_"

// guidLen is the length of a GUID in hex characters.
const guidLen = 32

// CleanupTimeout bounds the clean-up a cancelled call does after its
// context ended.
const CleanupTimeout = 5 * time.Second

// NewGUID returns a fresh random 32-hex-character id.
func NewGUID() string {
	var b [guidLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ProtectedName returns the node name for guid and name: "_c_<guid>-<name>".
func ProtectedName(guid, name string) string {
	return ProtectedPrefix + guid + "-" + name
}

// GUIDOf returns the GUID of a protected node name and true, or "" and
// false for a name that is not protected.
func GUIDOf(name string) (string, bool) {
	if !strings.HasPrefix(name, ProtectedPrefix) || len(name) < len(ProtectedPrefix)+guidLen+1 {
		return "", false
	}
	g := name[len(ProtectedPrefix) : len(ProtectedPrefix)+guidLen]
	if name[len(ProtectedPrefix)+guidLen] != '-' {
		return "", false
	}
	return g, true
}

// StripProtected returns name without its "_c_<guid>-" prefix, or name
// itself if it is not protected.
func StripProtected(name string) string {
	if _, ok := GUIDOf(name); ok {
		return name[len(ProtectedPrefix)+guidLen+1:]
	}
	return name
}

// Base returns the last element of path.
func Base(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// Join returns parent + "/" + name, with no double slash under "/".
func Join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// CreateProtected creates a protected node parent/_c_<guid>-<name> with
// data in mode (usually sequential) and returns its path. It creates
// missing parents as containers. After ErrConnectionLoss it looks for the
// node it may have created (same GUID; for an ephemeral mode, only among
// this session's ephemerals) and adopts it, or creates again with the same
// GUID, so exactly one node exists when it returns nil. If ctx ends, it
// deletes any node with its GUID (within CleanupTimeout) and returns
// ctx.Err(). Other errors are the client's (ErrSessionExpired, ErrClosed,
// tree errors such as ErrNoChildrenForEphemerals), after the same clean-up.
func CreateProtected(ctx context.Context, c recipes.Conn, parent, name string, data []byte, mode tree.CreateMode) (string, error) {
	guid := NewGUID()
	path := Join(parent, ProtectedName(guid, name))
	for {
		created, err := c.Create(ctx, path, data, mode)
		switch {
		case err == nil:
			return created, nil
		case errors.Is(err, tree.ErrNoNode):
			if err := EnsurePath(ctx, c, parent); err != nil {
				return "", cleanupAfter(c, parent, guid, mode, err)
			}
			continue
		case errors.Is(err, client.ErrConnectionLoss):
			// Look for it until the server answers: creating again before
			// knowing would leave a second node.
			found, ferr := FindProtected(ctx, c, parent, guid, mode)
			for errors.Is(ferr, client.ErrConnectionLoss) {
				found, ferr = FindProtected(ctx, c, parent, guid, mode)
			}
			if ferr != nil {
				return "", cleanupAfter(c, parent, guid, mode, ferr)
			}
			if found != "" {
				return found, nil
			}
			continue
		default:
			return "", cleanupAfter(c, parent, guid, mode, err)
		}
	}
}

// cleanupAfter deletes the node with guid if err says the call gave up
// (ctx ended), and returns err.
func cleanupAfter(c recipes.Conn, parent, guid string, mode tree.CreateMode, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrConnectionLoss) {
		DeleteProtected(c, parent, guid, mode)
	}
	return err
}

// FindProtected returns the path of the node under parent whose name
// carries guid, or "" if there is none. For an ephemeral mode only this
// session's ephemerals count (a node another session owns is never
// adopted). It fails with the client's errors.
func FindProtected(ctx context.Context, c recipes.Conn, parent, guid string, mode tree.CreateMode) (string, error) {
	// The create whose reply was lost may not have reached the peer the
	// client reconnected to (the client never saw its zxid): catch that
	// peer up first, or the node would be missed and created twice.
	if err := c.Sync(ctx, parent); err != nil && !errors.Is(err, tree.ErrNoNode) {
		return "", err
	}
	prefix := Join(parent, ProtectedPrefix+guid+"-")
	if mode.IsEphemeral() {
		paths, err := c.GetEphemerals(ctx, prefix)
		if err != nil {
			return "", err
		}
		for _, p := range paths {
			if strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
				return p, nil
			}
		}
		return "", nil
	}
	names, _, err := c.Children(ctx, parent)
	if errors.Is(err, tree.ErrNoNode) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if g, ok := GUIDOf(n); ok && g == guid {
			return Join(parent, n), nil
		}
	}
	return "", nil
}

// DeleteProtected deletes the node with guid under parent, if any, within
// CleanupTimeout on a context of its own (the caller's has usually ended).
// It reports whether it is sure no such node is left.
func DeleteProtected(c recipes.Conn, parent, guid string, mode tree.CreateMode) bool {
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	for ctx.Err() == nil {
		p, err := FindProtected(ctx, c, parent, guid, mode)
		if err == nil && p == "" {
			return true
		}
		if err == nil {
			err = c.Delete(ctx, p, tree.AnyVersion)
			if err == nil || errors.Is(err, tree.ErrNoNode) {
				return true
			}
		}
		if Final(err) {
			return mode.IsEphemeral() && errors.Is(err, client.ErrSessionExpired)
		}
	}
	return false
}

// DeleteNode deletes path (any version) and treats ErrNoNode as done. After
// ErrConnectionLoss it retries until ctx ends, so a nil return means the
// server confirmed the node is gone. It returns ctx.Err() or a final
// client error (ErrSessionExpired, ErrClosed) otherwise; after
// ErrSessionExpired an ephemeral node is gone too, which the caller checks.
func DeleteNode(ctx context.Context, c recipes.Conn, path string) error {
	for {
		err := c.Delete(ctx, path, tree.AnyVersion)
		if err == nil || errors.Is(err, tree.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, client.ErrConnectionLoss) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Final reports whether err ends a retry loop: the session or client is
// gone, or the context ended.
func Final(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// EnsurePath creates path and its missing ancestors as containers (nodes
// the server deletes once their last child is gone); existing nodes are
// left as they are. It retries after ErrConnectionLoss and returns the
// client's other errors.
func EnsurePath(ctx context.Context, c recipes.Conn, path string) error {
	if path == "/" || path == "" {
		return nil
	}
	if ok, _, err := c.Exists(ctx, path); err == nil && ok {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var err error
	// An empty container ancestor can be reaped by the server between two
	// creates (ErrNoNode): start again from the top, a few times.
	for range ensureAttempts {
		if err = ensureOnce(ctx, c, parts); !errors.Is(err, tree.ErrNoNode) {
			return err
		}
	}
	return err
}

// ensureAttempts bounds EnsurePath's restarts after a reaped ancestor.
const ensureAttempts = 10

// ensureOnce creates each prefix of parts in turn as a container.
func ensureOnce(ctx context.Context, c recipes.Conn, parts []string) error {
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		for {
			_, err := c.Create(ctx, cur, nil, tree.ModeContainer)
			if err == nil || errors.Is(err, tree.ErrNodeExists) {
				break
			}
			if errors.Is(err, client.ErrConnectionLoss) {
				continue
			}
			return fmt.Errorf("create %s: %w", cur, err)
		}
	}
	return nil
}
