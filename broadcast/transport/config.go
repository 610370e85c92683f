package transport

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxFrame caps one frame body after authentication (1 GiB): a
	// SNAP sync carries the whole snapshot in one message.
	DefaultMaxFrame = 1 << 30
	// DefaultDialTimeout bounds one TCP connect.
	DefaultDialTimeout = time.Second
	// DefaultQueueLimit is how many messages may wait for one destination
	// before its queue is dropped and its connection reset.
	DefaultQueueLimit = 65536
	// DefaultHandshakeTimeout bounds the whole authentication handshake of
	// one connection, either side.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultWriteTimeout: a connection is declared broken when a write
	// of up to writeChunk (4 MiB) bytes does not complete within it.
	DefaultWriteTimeout = 10 * time.Second
)

// maxClusterID bounds Config.ClusterID so that every handshake frame fits
// in handshakeMaxFrame.
const maxClusterID = 256

// Config configures a Transport. Zero fields take the defaults named on each
// field; New returns an error wrapping ErrConfig for values that make no
// sense.
type Config struct {
	// ID is this member's server id: non-zero and one of Members.
	ID uint64
	// ClusterID names the ensemble; both sides of every connection must
	// agree on it. Required, at most 256 bytes.
	ClusterID string
	// Secret is an optional shared secret. Without it the handshake only
	// checks server ids and the cluster id; with it each side proves it
	// knows the secret (see the package doc).
	Secret string
	// ListenAddr is the TCP address to accept peer connections on.
	// Required; tests use "127.0.0.1:0".
	ListenAddr string
	// Members is every configured member id (voters and observers), this
	// one included. Only they may connect, and messages go only to them.
	Members []uint64
	// Resolve returns the current address of a member, or ok == false if
	// none is known. It is called before every dial (gossip may move a
	// member), from the destination's writer goroutine, so it must be safe
	// for concurrent use and should not block. Required.
	Resolve func(id uint64) (addr string, ok bool)
	// MaxFrame caps one frame body after authentication, in both
	// directions: a larger message is dropped by the sender and a larger
	// announced frame closes the connection at the receiver. Every member
	// should use the same value. DefaultMaxFrame if zero; at most 4 GiB-1.
	MaxFrame int
	// DialTimeout bounds one TCP connect; DefaultDialTimeout if zero.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the authentication of one connection;
	// DefaultHandshakeTimeout if zero.
	HandshakeTimeout time.Duration
	// WriteTimeout: a connection whose writes stall (no 4 MiB chunk
	// written within WriteTimeout) is declared broken;
	// DefaultWriteTimeout if zero.
	WriteTimeout time.Duration
	// QueueLimit caps the messages waiting for one destination. When a
	// Send finds the queue full, the whole queue is dropped and the
	// destination's connection is reset as if it broke (what is queued
	// until the writer notices is dropped too, and a Down hint is sent):
	// memory stays bounded when a peer stops reading, and ZAB's core
	// resends or resyncs what was lost. DefaultQueueLimit if zero.
	QueueLimit int
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns cfg with defaults applied, or an error wrapping
// ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if cfg.ID == 0 {
		return bad("ID must be non-zero")
	}
	if cfg.ClusterID == "" {
		return bad("ClusterID is required")
	}
	if len(cfg.ClusterID) > maxClusterID {
		return bad("ClusterID of %d bytes exceeds %d", len(cfg.ClusterID), maxClusterID)
	}
	if cfg.ListenAddr == "" {
		return bad("ListenAddr is required")
	}
	if cfg.Resolve == nil {
		return bad("Resolve is required")
	}
	seen := make(map[uint64]bool, len(cfg.Members))
	for _, id := range cfg.Members {
		if id == 0 {
			return bad("member id 0")
		}
		if seen[id] {
			return bad("member %d listed twice", id)
		}
		seen[id] = true
	}
	if !seen[cfg.ID] {
		return bad("ID %d is not among Members", cfg.ID)
	}
	switch {
	case cfg.MaxFrame < 0 || uint64(cfg.MaxFrame) > math.MaxUint32:
		return bad("MaxFrame %d out of range (0..4 GiB-1)", cfg.MaxFrame)
	case cfg.DialTimeout < 0:
		return bad("negative DialTimeout")
	case cfg.HandshakeTimeout < 0:
		return bad("negative HandshakeTimeout")
	case cfg.WriteTimeout < 0:
		return bad("negative WriteTimeout")
	case cfg.QueueLimit < 0:
		return bad("negative QueueLimit")
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.QueueLimit == 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Members = append([]uint64(nil), cfg.Members...)
	return cfg, nil
}
