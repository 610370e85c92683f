package membership

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// DefaultProbeInterval is the failure-detector period used when
// Config.ProbeInterval is zero. With the timings derived from it (see
// Config.ProbeInterval) a crashed member is declared dead in about 1-2 s on
// a LAN or loopback.
const DefaultProbeInterval = 300 * time.Millisecond

// MinProbeInterval is the smallest ProbeInterval Start accepts.
const MinProbeInterval = 20 * time.Millisecond

// Config configures one member's gossip node. Start returns an error
// wrapping ErrConfig for values that make no sense.
type Config struct {
	// Self is what this member announces. ID must be in Members, ClusterID
	// non-empty, PeerAddr a host:port; ClientAddr may be empty and set later
	// with UpdateClientAddr. The encoding must fit in MaxMetaBytes.
	Self Meta
	// BindAddr is the gossip host:port (TCP and UDP). The host must be an IP
	// literal ("127.0.0.1", "0.0.0.0", "::"); port 0 picks a free port that
	// is free for both protocols (Addr reports it).
	BindAddr string
	// Seeds are gossip addresses of other members to join. They are tried
	// in the background until one answers; Start does not wait for them,
	// so a member starts even when nobody else is up. Our own address may
	// be among them.
	Seeds []string
	// Members are the configured member ids, voters and observers, this
	// member included. Every other id is a stranger.
	Members []uint64
	// Secret, when set, encrypts and authenticates all gossip with the
	// AES-256 key SHA-256(ClusterID + "\x00" + Secret). Nodes without the
	// same key cannot be heard at all.
	Secret string
	// Logger receives this package's logs and, at debug level, memberlist's
	// own log lines. Nil discards.
	Logger *slog.Logger
	// ProbeInterval is the failure-detector period; DefaultProbeInterval if
	// zero, at least MinProbeInterval. The other timings follow from it:
	// probe timeout 1/2, gossip every 1/3, full state sync (and reconnect to
	// members believed dead) every 10 intervals, suspicion 3 to 6
	// intervals before a member is declared dead.
	ProbeInterval time.Duration
}

// settings is a validated Config with the derived values.
type settings struct {
	self      Meta
	selfMeta  []byte
	bindIP    string
	bindPort  int
	seeds     []string
	members   map[uint64]bool
	secretKey []byte
	log       *slog.Logger
	probe     time.Duration
}

// validate checks cfg and fills in the defaults; errors wrap ErrConfig.
func (cfg Config) validate() (settings, error) {
	s := settings{members: make(map[uint64]bool, len(cfg.Members))}
	for _, id := range cfg.Members {
		s.members[id] = true
	}
	if !s.members[cfg.Self.ID] {
		return s, fmt.Errorf("%w: own id %d is not in Members", ErrConfig, cfg.Self.ID)
	}
	meta, err := encodeMeta(cfg.Self)
	if err != nil {
		return s, err
	}
	s.self, s.selfMeta = cfg.Self, meta

	host, port, err := net.SplitHostPort(cfg.BindAddr)
	if err != nil {
		return s, fmt.Errorf("%w: bind addr: %w", ErrConfig, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return s, fmt.Errorf("%w: bind addr %q: host is not an IP literal", ErrConfig, cfg.BindAddr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return s, fmt.Errorf("%w: bind addr %q: bad port", ErrConfig, cfg.BindAddr)
	}
	s.bindIP, s.bindPort = host, int(p)

	for _, seed := range cfg.Seeds {
		if seed == "" {
			return s, fmt.Errorf("%w: empty seed", ErrConfig)
		}
		s.seeds = append(s.seeds, seed)
	}
	if cfg.Secret != "" {
		s.secretKey = deriveKey(cfg.Self.ClusterID, cfg.Secret)
	}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.ProbeInterval == 0:
		s.probe = DefaultProbeInterval
	case cfg.ProbeInterval < MinProbeInterval:
		return s, fmt.Errorf("%w: probe interval %v below %v", ErrConfig, cfg.ProbeInterval, MinProbeInterval)
	default:
		s.probe = cfg.ProbeInterval
	}
	return s, nil
}
