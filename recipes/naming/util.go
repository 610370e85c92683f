package naming

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// errNilConn is the error of a recipe built on a nil Conn.
var errNilConn = fmt.Errorf("naming: nil Conn: %w", tree.ErrBadArguments)

// checkBase returns nil if path is a valid absolute znode path to use as a
// recipe's base, or an error wrapping ErrBadName and tree.ErrBadArguments.
func checkBase(path string) error {
	if err := tree.ValidatePath(path, false); err != nil {
		return fmt.Errorf("%w: base path: %w", ErrBadName, err)
	}
	return nil
}

// checkName returns nil if name can be one path element under a valid
// base, or an error wrapping ErrBadName and tree.ErrBadArguments.
func checkName(what, base, name string) error {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("%w: %s %q: %w", ErrBadName, what, name, tree.ErrBadArguments)
	}
	if err := tree.ValidatePath(recipe.Join(base, name), false); err != nil {
		return fmt.Errorf("%w: %s %q: %w", ErrBadName, what, name, err)
	}
	return nil
}

// sessionOver reports whether err says the session can serve no more
// calls: it expired or the client was closed.
func sessionOver(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed)
}

// connLoss reports whether err is a connection loss (maybe applied).
func connLoss(err error) bool { return errors.Is(err, client.ErrConnectionLoss) }

// cleanupCtx returns a context for clean-up after the caller's ctx may
// have ended: it keeps ctx's values, not its cancellation, and lasts
// recipe.CleanupTimeout.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recipe.CleanupTimeout)
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
