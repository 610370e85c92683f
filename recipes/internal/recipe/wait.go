package recipe

import (
	"context"
	"errors"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
)

// WaitGone blocks until path does not exist, re-checking it on the server
// after every wake-up (a watch event, a reconnect, a watch ended by a
// session event). It returns nil once the server says path is gone,
// ctx.Err() when ctx ends, ErrLost-style final errors from the client
// (ErrSessionExpired, ErrClosed), or errStop's value if stop is closed
// first (nil stop: never).
func WaitGone(ctx context.Context, c recipes.Conn, path string, stop <-chan struct{}, errStop error) error {
	for {
		ok, _, ch, err := c.ExistsW(ctx, path)
		if err != nil {
			if errors.Is(err, client.ErrConnectionLoss) {
				continue
			}
			return err
		}
		if !ok {
			return nil
		}
		select {
		case <-ch: // any event, or the watch's end: look again
		case <-stop:
			return errStop
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
