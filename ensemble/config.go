package ensemble

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/internal/vfs"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultClientAddr is where a peer serves clients unless told otherwise.
	DefaultClientAddr = "127.0.0.1:2281"
	// DefaultTickTime is the session tick: expiry is checked once per tick.
	DefaultTickTime = 2 * time.Second
	// DefaultMaxDataBytes is the largest znode data accepted (1 MiB).
	DefaultMaxDataBytes = 1 << 20
	// DefaultMaxConnsPerIP caps the open client connections from one IP.
	DefaultMaxConnsPerIP = 60
	// DefaultMaxOutstanding caps the requests of one connection whose reply
	// has not been written yet.
	DefaultMaxOutstanding = 1000
	// DefaultSnapshotEvery is how many txns are applied between snapshots.
	DefaultSnapshotEvery = 100000
	// DefaultSnapshotRetain is how many snapshots (and the log they need) are kept.
	DefaultSnapshotRetain = 3
)

// Config configures a standalone peer. Zero fields take the defaults named
// on each field; New returns an error wrapping ErrConfig for values that make
// no sense.
type Config struct {
	// ServerID is this peer's id (0..255); it is the top byte of every
	// session id the peer creates.
	ServerID uint32
	// DataDir holds the txn log (DataDir/log) and snapshots (DataDir/snap).
	// Required.
	DataDir string
	// ClientAddr is the TCP address clients connect to; DefaultClientAddr if
	// empty. Tests use "127.0.0.1:0".
	ClientAddr string
	// TickTime is the session tick; DefaultTickTime if zero. Session expiry
	// and container/TTL expiry are checked every tick.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the timeout a client may
	// negotiate; 2 and 20 ticks if zero.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxFrame caps one frame's body in either direction; wire.DefaultMaxFrame
	// if zero. It must leave room for MaxDataBytes plus the envelope.
	MaxFrame int
	// MaxDataBytes caps one znode's data; DefaultMaxDataBytes if zero.
	MaxDataBytes int
	// MaxConnsPerIP caps the open connections from one IP address;
	// DefaultMaxConnsPerIP if zero, no limit if negative.
	MaxConnsPerIP int
	// MaxOutstanding caps, per connection, the requests read whose reply has
	// not been written yet; at the cap the peer stops reading that
	// connection until replies drain (back-pressure, no error).
	// DefaultMaxOutstanding if zero.
	MaxOutstanding int
	// SnapshotEvery is the number of applied txns between snapshots;
	// DefaultSnapshotEvery if zero.
	SnapshotEvery int
	// SnapshotRetain is how many snapshots are kept, with the log needed to
	// replay from the oldest of them; DefaultSnapshotRetain if zero.
	SnapshotRetain int
	// Members is the static ensemble: every voter and observer with its
	// ZAB peer address, this peer (ServerID) included. Empty: a standalone
	// peer. The voting set never changes at run time; gossip only updates
	// addresses.
	Members []Member
	// ClusterID names the ensemble; peers refuse ZAB connections from
	// another cluster. DefaultClusterID if empty.
	ClusterID string
	// PeerSecret, when set, is a shared secret every member must present
	// on ZAB connections (HMAC challenge-response) and that encrypts the
	// gossip. Without it, peers check the cluster id and server id only.
	PeerSecret string
	// ZabTick is the ZAB protocol tick (heartbeats, election timeouts);
	// DefaultZabTick if zero.
	ZabTick time.Duration
	// ElectionTicks and SyncLimitTicks are in ZabTicks: a looking peer
	// retries an election round after ElectionTicks (plus jitter); a
	// leader without a quorum, or a follower without its leader, for
	// SyncLimitTicks returns to election. DefaultElectionTicks and
	// DefaultSyncLimitTicks if zero.
	ElectionTicks  int
	SyncLimitTicks int
	// FS is the filesystem for the log and snapshots; vfs.OS() if nil.
	FS vfs.FS
	// Logger receives the peer's logs; nil discards them.
	Logger *slog.Logger
}

// Member is one configured member of an ensemble.
type Member struct {
	// ID is the member's server id, 1..255, unique in the ensemble.
	ID uint32
	// PeerAddr is the host:port where the member accepts ZAB connections
	// from other members (ZooKeeper's quorum port).
	PeerAddr string
	// GossipAddr is the host:port (TCP and UDP) of the member's gossip
	// (memberlist) agent; empty: this member does not gossip.
	GossipAddr string
	// Observer members receive every commit and serve clients but never
	// vote.
	Observer bool
}

// Ensemble defaults (see Config).
const (
	DefaultClusterID      = "zabkit"
	DefaultZabTick        = 50 * time.Millisecond
	DefaultElectionTicks  = 10
	DefaultSyncLimitTicks = 10
)

// withDefaults returns cfg with every zero field set to its default, or an
// error wrapping ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DataDir == "" {
		return cfg, fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	if cfg.ServerID > 255 {
		return cfg, fmt.Errorf("%w: ServerID %d is over 255", ErrConfig, cfg.ServerID)
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = DefaultClientAddr
	}
	if cfg.TickTime == 0 {
		cfg.TickTime = DefaultTickTime
	}
	if cfg.TickTime < 0 {
		return cfg, fmt.Errorf("%w: negative TickTime", ErrConfig)
	}
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = 2 * cfg.TickTime
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = 20 * cfg.TickTime
	}
	if cfg.MinSessionTimeout < 0 || cfg.MaxSessionTimeout < cfg.MinSessionTimeout {
		return cfg, fmt.Errorf("%w: session timeout bounds [%v, %v]", ErrConfig, cfg.MinSessionTimeout, cfg.MaxSessionTimeout)
	}
	if cfg.MaxSessionTimeout.Milliseconds() > 1<<31-1 {
		return cfg, fmt.Errorf("%w: MaxSessionTimeout %v does not fit in int32 milliseconds", ErrConfig, cfg.MaxSessionTimeout)
	}
	if cfg.MaxDataBytes == 0 {
		cfg.MaxDataBytes = DefaultMaxDataBytes
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = wire.DefaultMaxFrame
	}
	if cfg.MaxDataBytes < 0 || cfg.MaxFrame < 0 {
		return cfg, fmt.Errorf("%w: negative MaxDataBytes or MaxFrame", ErrConfig)
	}
	if cfg.MaxFrame < cfg.MaxDataBytes+minEnvelope {
		return cfg, fmt.Errorf("%w: MaxFrame %d leaves no room for MaxDataBytes %d plus %d bytes of envelope",
			ErrConfig, cfg.MaxFrame, cfg.MaxDataBytes, minEnvelope)
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if cfg.MaxOutstanding <= 0 {
		if cfg.MaxOutstanding < 0 {
			return cfg, fmt.Errorf("%w: negative MaxOutstanding", ErrConfig)
		}
		cfg.MaxOutstanding = DefaultMaxOutstanding
	}
	if cfg.SnapshotEvery <= 0 {
		if cfg.SnapshotEvery < 0 {
			return cfg, fmt.Errorf("%w: negative SnapshotEvery", ErrConfig)
		}
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	if cfg.SnapshotRetain <= 0 {
		if cfg.SnapshotRetain < 0 {
			return cfg, fmt.Errorf("%w: negative SnapshotRetain", ErrConfig)
		}
		cfg.SnapshotRetain = DefaultSnapshotRetain
	}
	if err := cfg.checkMembers(); err != nil {
		return cfg, err
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// checkMembers validates the ensemble fields and sets their defaults.
func (cfg *Config) checkMembers() error {
	if cfg.ClusterID == "" {
		cfg.ClusterID = DefaultClusterID
	}
	if cfg.ZabTick == 0 {
		cfg.ZabTick = DefaultZabTick
	}
	if cfg.ElectionTicks == 0 {
		cfg.ElectionTicks = DefaultElectionTicks
	}
	if cfg.SyncLimitTicks == 0 {
		cfg.SyncLimitTicks = DefaultSyncLimitTicks
	}
	if cfg.ZabTick < 0 || cfg.ElectionTicks < 0 || cfg.SyncLimitTicks < 0 {
		return fmt.Errorf("%w: negative ZabTick, ElectionTicks or SyncLimitTicks", ErrConfig)
	}
	if len(cfg.Members) == 0 {
		return nil
	}
	seen := map[uint32]bool{}
	self, voters := false, 0
	for _, m := range cfg.Members {
		switch {
		case m.ID == 0 || m.ID > 255:
			return fmt.Errorf("%w: member id %d is outside 1..255", ErrConfig, m.ID)
		case seen[m.ID]:
			return fmt.Errorf("%w: member id %d appears twice", ErrConfig, m.ID)
		case m.PeerAddr == "":
			return fmt.Errorf("%w: member %d has no peer address", ErrConfig, m.ID)
		}
		seen[m.ID] = true
		self = self || m.ID == cfg.ServerID
		if !m.Observer {
			voters++
		}
	}
	if !self {
		return fmt.Errorf("%w: ServerID %d is not among the members", ErrConfig, cfg.ServerID)
	}
	if voters == 0 {
		return fmt.Errorf("%w: no voting member", ErrConfig)
	}
	return nil
}

// self returns this peer's own Member entry (zero if standalone).
func (cfg *Config) self() Member {
	for _, m := range cfg.Members {
		if m.ID == cfg.ServerID {
			return m
		}
	}
	return Member{}
}

// minEnvelope is the room a frame needs beyond its data: path, xid, stat.
const minEnvelope = 4 << 10
