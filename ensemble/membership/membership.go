package membership

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberInfo is what is known of one configured member.
type MemberInfo struct {
	// ID is the member's server id.
	ID uint64
	// PeerAddr and ClientAddr are the addresses it announced last.
	PeerAddr   string
	ClientAddr string
	// Alive is false once gossip declared it dead or it left, until it is
	// heard alive again.
	Alive bool
}

// member is the bookkeeping of one configured member heard of.
type member struct {
	info   MemberInfo
	gossip string // its gossip address, for reconnects
}

// Membership is one member's gossip node. Its methods are safe for
// concurrent use.
type Membership struct {
	s    settings
	log  *slog.Logger
	ml   *memberlist.Memberlist
	addr string

	// Timings derived from s.probe.
	gossipInterval time.Duration
	syncInterval   time.Duration
	leaveTimeout   time.Duration
	maxBackoff     time.Duration

	down chan uint64
	stop chan struct{}
	wg   sync.WaitGroup // the join loop

	closeOnce sync.Once
	closeErr  error

	joinAttempts atomic.Int64 // Join calls made by the join loop (tests wait on it)

	mu struct {
		sync.Mutex
		meta      []byte // what NodeMeta announces
		self      selfAddr
		members   map[uint64]*member
		closed    bool
		warned    map[string]bool // stranger names already counted and logged
		strangers int
	}
}

// Start creates the gossip node, binds its address and starts joining
// Seeds in the background. It returns an error wrapping ErrConfig for an
// invalid Config, or ErrBind (with memberlist's error) when the address
// cannot be bound.
func Start(cfg Config) (*Membership, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	m := &Membership{
		s:              s,
		log:            s.log,
		gossipInterval: s.probe / 3,
		syncInterval:   10 * s.probe,
		leaveTimeout:   max(10*(s.probe/3), 200*time.Millisecond),
		maxBackoff:     max(10*s.probe, time.Second),
		down:           make(chan uint64, max(16, 4*len(s.members))),
		stop:           make(chan struct{}),
	}
	m.mu.meta = s.selfMeta
	m.mu.members = make(map[uint64]*member)
	m.mu.warned = make(map[string]bool)

	ml, err := memberlist.Create(m.memberlistConfig())
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBind, cfg.BindAddr, err)
	}
	m.ml = ml
	local := ml.LocalNode()
	m.addr = local.Address()
	m.mu.Lock()
	m.mu.self = selfAddr{known: true, ip: slices.Clone(local.Addr), port: local.Port}
	m.mu.Unlock()

	m.wg.Add(1)
	go m.joinLoop()
	m.log.Info("gossip started", "addr", m.addr, "peer", s.self.ID)
	return m, nil
}

// memberlistConfig builds memberlist's Config: DefaultLocalConfig with
// every timing derived from the probe interval.
func (m *Membership) memberlistConfig() *memberlist.Config {
	p := m.s.probe
	c := memberlist.DefaultLocalConfig()
	c.Name = NodeName(m.s.self.ID)
	c.BindAddr = m.s.bindIP
	c.BindPort = m.s.bindPort
	c.AdvertisePort = m.s.bindPort
	c.ProbeInterval = p
	c.ProbeTimeout = p / 2
	c.GossipInterval = m.gossipInterval
	c.PushPullInterval = m.syncInterval
	c.SuspicionMult = 3
	c.SuspicionMaxTimeoutMult = 2
	c.IndirectChecks = 3
	c.GossipToTheDeadTime = 30 * p
	// A member restarted on another gossip address takes its name back as
	// soon as the old one is dead, not only once memberlist has forgotten
	// the dead record (GossipToTheDeadTime later).
	c.DeadNodeReclaimTime = p
	if m.s.secretKey != nil {
		c.SecretKey = m.s.secretKey
		c.GossipVerifyIncoming = true
		c.GossipVerifyOutgoing = true
	}
	c.Logger = slog.NewLogLogger(m.log.Handler(), slog.LevelDebug)
	d := &delegate{m: m}
	c.Delegate = d
	c.Events = d
	c.Alive = d
	c.Merge = d
	return c
}

// Addr returns the gossip address actually bound ("ip:port"), the one
// other members list in their Seeds.
func (m *Membership) Addr() string { return m.addr }

// PeerAddr returns the ZAB address last announced by configured member id,
// alive or not; false if it was never heard of.
func (m *Membership) PeerAddr(id uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.mu.members[id]; ok {
		return e.info.PeerAddr, true
	}
	return "", false
}

// ClientAddr returns the client address last announced by configured member
// id, alive or not; false if it was never heard of. It may be "" if the
// member serves no clients.
func (m *Membership) ClientAddr(id uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.mu.members[id]; ok {
		return e.info.ClientAddr, true
	}
	return "", false
}

// Members returns every configured member heard of, this one included,
// sorted by ID. The slice is a copy.
func (m *Membership) Members() []MemberInfo {
	m.mu.Lock()
	out := make([]MemberInfo, 0, len(m.mu.members))
	for _, e := range m.mu.members {
		out = append(out, e.info)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b MemberInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Down returns the channel of failure hints: the id of a configured member
// (never this one) that gossip declared dead or that left. Sends never
// block: hints are dropped while the buffer is full. A hint is advice for
// the transport (drop the connection, redial PeerAddr), never a vote. The
// channel is closed by Close.
func (m *Membership) Down() <-chan uint64 { return m.down }

// Strangers returns how many distinct nodes were refused by the stranger
// rules (see the package doc). Nodes that could not be heard at all (wrong
// secret) are not counted.
func (m *Membership) Strangers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.strangers
}

// UpdateClientAddr re-announces this member with a new ClientAddr and
// waits briefly for the update to go out (it spreads by gossip in any
// case). It returns ErrClosed after Close, or an error wrapping ErrConfig
// when addr is not a host:port or the meta would not fit.
func (m *Membership) UpdateClientAddr(addr string) error {
	self := m.s.self
	self.ClientAddr = addr
	b, err := encodeMeta(self)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.mu.meta = b
	m.mu.Unlock()
	if err := m.ml.UpdateNode(m.leaveTimeout); err != nil {
		// Only the wait for the first broadcast timed out; the new meta is
		// ours and the next gossip or state sync carries it.
		m.log.Debug("client addr update not yet broadcast", "err", err)
	}
	return nil
}

// Close leaves the gossip cluster (waiting a short time for the leave to
// go out, so others see "left" rather than "dead"), shuts the node down,
// and closes Down. It always returns nil after the first call.
func (m *Membership) Close() error { return m.close(true) }

// close stops the node; leave=false skips the leave message, which looks
// like a crash to the others.
func (m *Membership) close(leave bool) error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		if leave {
			if err := m.ml.Leave(m.leaveTimeout); err != nil {
				m.log.Debug("leave not broadcast", "err", err)
			}
		}
		if err := m.ml.Shutdown(); err != nil {
			m.closeErr = fmt.Errorf("membership: shutdown: %w", err)
		}
		m.mu.Lock()
		m.mu.closed = true
		close(m.down)
		m.mu.Unlock()
		m.log.Info("gossip stopped", "addr", m.addr)
	})
	return m.closeErr
}

// joinLoop owns the joining: it tries Seeds with backoff until some other
// member answers (or joins us), then, every sync interval, rejoins the
// seeds and the last gossip addresses of members believed dead, if there
// are any (so that two sides of a long partition, which stopped probing
// each other, find each other again).
func (m *Membership) joinLoop() {
	defer m.wg.Done()
	backoff := m.s.probe
	joined := false
	for {
		// Another member may have joined us first (we may have no seeds).
		joined = joined || m.ml.NumMembers() > 1
		if targets := m.joinTargets(joined); len(targets) > 0 {
			if m.join(targets) {
				if !joined {
					m.log.Info("gossip joined", "addr", m.addr)
				}
				joined = true
			}
		}
		wait := m.syncInterval
		if !joined {
			wait = backoff
			backoff = min(2*backoff, m.maxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// joinTargets returns the addresses to join: before the first join the
// seeds; after it, nothing while every member heard of is alive, else the
// seeds and the dead members' gossip addresses. Our own address is left
// out.
func (m *Membership) joinTargets(joined bool) []string {
	var out []string
	add := func(a string) {
		if a != "" && a != m.addr && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if joined {
		m.mu.Lock()
		for id, e := range m.mu.members {
			if id != m.s.self.ID && !e.info.Alive {
				add(e.gossip)
			}
		}
		m.mu.Unlock()
		if len(out) == 0 && m.ml.NumMembers() > 1 {
			return nil
		}
	}
	for _, s := range m.s.seeds {
		add(s)
	}
	return out
}

// join contacts the targets one at a time (so Close waits for one at
// most) and reports whether some other member is now alive.
func (m *Membership) join(targets []string) bool {
	for _, t := range targets {
		select {
		case <-m.stop:
			return false
		default:
		}
		m.joinAttempts.Add(1)
		if _, err := m.ml.Join([]string{t}); err != nil {
			m.log.Debug("gossip join failed", "addr", t, "err", err)
		}
	}
	return m.ml.NumMembers() > 1
}

// refuse counts a refused node once per name and logs it at Warn the first
// time; past maxStrangerNames distinct names, new names are counted at every
// refusal and no longer logged.
func (m *Membership) refuse(name string, ip net.IP, port uint16, reason string) error {
	key := clip(name)
	m.mu.Lock()
	fresh := !m.mu.warned[key]
	logIt := false
	if fresh {
		m.mu.strangers++
		if len(m.mu.warned) < maxStrangerNames {
			m.mu.warned[key] = true
			logIt = true
		}
	}
	m.mu.Unlock()
	if logIt {
		m.log.Warn("gossip stranger refused", "name", key,
			"addr", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), "reason", reason)
	}
	return strangerError(name, reason)
}

// delegate implements memberlist's delegate interfaces for a Membership,
// so that their methods stay off Membership's API. memberlist calls them
// with its own locks held: they only take m.mu, never call memberlist.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
)

// NodeMeta returns our encoded Meta (never longer than limit: it was
// checked against MaxMetaBytes when set).
func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if len(d.m.mu.meta) > limit {
		return nil
	}
	return slices.Clone(d.m.mu.meta)
}

// NotifyMsg ignores user messages: this package sends none.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts has no user broadcasts to send.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState has no user state to push.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores user state: this package sends none.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive refuses a stranger before it enters memberlist's view.
func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	d.m.mu.Lock()
	self := d.m.mu.self
	d.m.mu.Unlock()
	if _, reason := classify(&d.m.s, self, n.Name, n.Addr, n.Port, n.Meta, false); reason != "" {
		return d.m.refuse(n.Name, n.Addr, n.Port, reason)
	}
	return nil
}

// NotifyMerge refuses a join whose remote state holds any stranger: a
// whole foreign cluster is never merged.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	var first error
	for _, n := range peers {
		if _, reason := classify(&d.m.s, selfAddr{}, n.Name, n.Addr, n.Port, n.Meta, true); reason != "" {
			if err := d.m.refuse(n.Name, n.Addr, n.Port, reason); first == nil {
				first = err
			}
		}
	}
	return first
}

// NotifyJoin records a member heard alive (again).
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.m.heard(n, true) }

// NotifyUpdate records a member's new meta.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.m.heard(n, true) }

// NotifyLeave records a member declared dead or left and hints Down.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	id, ok := d.m.heard(n, false)
	if !ok || id == d.m.s.self.ID {
		return
	}
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if d.m.mu.closed {
		return
	}
	select {
	case d.m.down <- id:
	default:
	}
}

// heard records what a node in memberlist's view announces. Only nodes
// that passed the stranger rules get here; the identity checks are
// repeated anyway so that nothing else is ever recorded.
func (m *Membership) heard(n *memberlist.Node, alive bool) (uint64, bool) {
	meta, err := decodeMeta(n.Meta)
	if err != nil || meta.ClusterID != m.s.self.ClusterID || n.Name != NodeName(meta.ID) || !m.s.members[meta.ID] {
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.mu.members[meta.ID]
	if e == nil {
		e = &member{}
		m.mu.members[meta.ID] = e
	}
	e.info = MemberInfo{ID: meta.ID, PeerAddr: meta.PeerAddr, ClientAddr: meta.ClientAddr, Alive: alive}
	e.gossip = n.Address()
	return meta.ID, true
}
