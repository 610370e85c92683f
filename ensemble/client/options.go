package client

import (
	"log/slog"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
)

// DefaultSessionTimeout is the session timeout a Client asks for unless
// WithSessionTimeout says otherwise. The server may negotiate it into its
// own bounds; SessionTimeout returns what it granted.
const DefaultSessionTimeout = 10 * time.Second

// DefaultPort is added to a server address given without one.
const DefaultPort = "2281"

// Option configures Connect.
type Option func(*options)

type options struct {
	sessionTimeout time.Duration
	connectTimeout time.Duration // 0: derived per attempt
	maxFrame       int
	logger         *slog.Logger
	closeWait      time.Duration
}

func defaultOptions() options {
	return options{
		sessionTimeout: DefaultSessionTimeout,
		maxFrame:       wire.DefaultMaxFrame,
		closeWait:      2 * time.Second,
	}
}

// WithSessionTimeout sets the session timeout to ask the server for
// (default 10s). The server bounds it; the client pings every third of the
// negotiated timeout when idle, and gives up reconnecting (ErrSessionExpired)
// once it has heard nothing from any server for that long.
func WithSessionTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.sessionTimeout = d
		}
	}
}

// WithLogger sets the logger for connection events (nil: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithConnectTimeout bounds one attempt to dial and handshake with one
// server. The default is the session timeout divided by the number of
// servers (at least 100ms), so that a reconnect can try every server within
// the session timeout, as ZooKeeper's client does.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.connectTimeout = d
		}
	}
}

// WithMaxFrame sets the largest frame body the client accepts from a server
// (default wire.DefaultMaxFrame). A larger reply breaks the connection.
func WithMaxFrame(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxFrame = n
		}
	}
}
