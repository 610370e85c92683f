package broadcast

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// StateType is a peer's role.
type StateType uint8

// Peer states, as ZooKeeper names them.
const (
	StateLooking StateType = iota
	StateFollowing
	StateLeading
	StateObserving
)

func (s StateType) String() string {
	switch s {
	case StateLooking:
		return "looking"
	case StateFollowing:
		return "following"
	case StateLeading:
		return "leading"
	case StateObserving:
		return "observing"
	}
	return "unknown"
}

// Config configures a Peer.
type Config struct {
	// ID is this peer's server id, one of Voters.
	ID uint64
	// Voters is the static voting set. ID is one of Voters or of
	// Observers.
	Voters []uint64
	// Observers are non-voting members: they follow the leader and
	// deliver every commit, but never vote, lead, or count toward a
	// quorum.
	Observers []uint64
	// ElectionTicks: a looking peer that has not settled within
	// ElectionTicks (plus a random jitter up to as much again) starts a
	// new election round. A new leader (or follower) that is not
	// established within 2*ElectionTicks gives up. Default 10.
	ElectionTicks int
	// HeartbeatTicks: the leader pings, and peers resend unanswered
	// election, discovery and sync messages, every HeartbeatTicks.
	// Default 1.
	HeartbeatTicks int
	// SyncLimitTicks: an established leader that has not heard from a
	// quorum, or a follower that has not heard from its leader, within
	// SyncLimitTicks returns to election. Default 5*HeartbeatTicks.
	SyncLimitTicks int
	// Rand is the only source of randomness (election jitter, session
	// ids). Required.
	Rand *rand.Rand
	// Storage is the durable state to start from. Required.
	Storage Storage
	// MaxCounter is the largest zxid counter a leader uses before it
	// forces a new epoch; 0 means 2^32-1. Small values are for tests.
	MaxCounter uint32
}

type followerPhase uint8

const (
	fDiscover   followerPhase = iota // FOLLOWERINFO sent, waiting for NEWEPOCH
	fEpochAcked                      // ACKEPOCH sent, waiting for NEWLEADER
	fSynced                          // ACK(NEWLEADER) sent, waiting for UPTODATE
	fServing                         // UPTODATE received
)

type leaderPhase uint8

const (
	lDiscover  leaderPhase = iota // collecting FOLLOWERINFO
	lEpochWait                    // NEWEPOCH sent, collecting ACKEPOCH
	lSync                         // NEWLEADER sent, collecting ACK(NEWLEADER)
	lEstablished
)

// learner is the leader's view of one follower's session.
type learner struct {
	session  uint64
	accepted uint64
	ackEpoch *Message
	syncSent bool
	synced   bool // ACK(NEWLEADER) received
	match    Zxid // highest zxid the follower has durably acked
	heard    int64
}

// Peer is one ZAB peer: a deterministic state machine. It does no I/O:
// feed it ticks and messages, and drain Ready. Not safe for concurrent
// use; one goroutine owns it.
type Peer struct {
	id         uint64
	observer   bool
	voters     []uint64
	members    []uint64 // voters and observers, sorted
	quorum     int
	election   int
	heartbeat  int
	syncLimit  int
	maxCounter uint32
	rand       *rand.Rand
	storage    Storage

	state StateType
	now   int64

	// Durable state as this peer will have it once the pending Ready is
	// persisted, and as it is durably (stable*).
	acceptedEpoch, currentEpoch uint64
	stableAccepted              uint64
	stableCurrent               uint64
	snapZxid                    Zxid // the log holds the txns after it
	pendingSnap                 *Snapshot
	log                         []Entry
	stableIdx                   int // log[:stableIdx] is durable
	truncPending                bool
	truncTo                     Zxid

	commit  Zxid // highest zxid known committed
	applied Zxid // highest zxid delivered (acknowledged by Advance)
	msgs    []Message

	// Election.
	round         uint64
	vote          Vote
	recv          map[uint64]Vote
	outOfElection map[uint64]Message
	decideAt      int64
	lookingSince  int64
	lookTimeout   int64
	lastSent      int64

	// Following and leading.
	leader      uint64
	epoch       uint64 // the epoch being led or followed, 0 until known
	roleSince   int64
	session     uint64
	fphase      followerPhase
	heard       int64
	ackEpochMsg Message
	nackAt      int64 // tick of the last resend request (a proposal gap)
	lphase      leaderPhase
	learners    map[uint64]*learner
}

// NewPeer returns a peer in StateLooking, its state loaded from
// cfg.Storage.
func NewPeer(cfg Config) (*Peer, error) {
	if cfg.Rand == nil || cfg.Storage == nil {
		return nil, fmt.Errorf("broadcast: Rand and Storage are required: %w", ErrBadConfig)
	}
	voters := slices.Clone(cfg.Voters)
	slices.Sort(voters)
	members := slices.Concat(voters, cfg.Observers)
	slices.Sort(members)
	if len(voters) == 0 || len(slices.Compact(slices.Clone(members))) != len(members) || members[0] == 0 {
		return nil, fmt.Errorf("broadcast: bad voters %v / observers %v: %w", cfg.Voters, cfg.Observers, ErrBadConfig)
	}
	if !slices.Contains(members, cfg.ID) {
		return nil, fmt.Errorf("broadcast: id %d not among voters %v or observers %v: %w", cfg.ID, cfg.Voters, cfg.Observers, ErrBadConfig)
	}
	hs, log, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, err
	}
	snap, err := cfg.Storage.Snapshot()
	if err != nil {
		return nil, err
	}
	for i := range log {
		if (i > 0 && log[i].Zxid <= log[i-1].Zxid) || log[i].Zxid <= snap.Zxid {
			return nil, fmt.Errorf("broadcast: log not in zxid order after snapshot at %v: %w", log[i].Zxid, ErrBadConfig)
		}
	}
	hs.Committed = max(hs.Committed, snap.Zxid)
	if last := max(snap.Zxid, lastOf(log)); hs.Committed > last {
		return nil, fmt.Errorf("broadcast: committed %v beyond the log: %w", hs.Committed, ErrBadConfig)
	}
	p := &Peer{
		id: cfg.ID, observer: !slices.Contains(voters, cfg.ID), voters: voters, members: members, quorum: len(voters)/2 + 1,
		election: cfg.ElectionTicks, heartbeat: cfg.HeartbeatTicks, syncLimit: cfg.SyncLimitTicks,
		maxCounter: cfg.MaxCounter, rand: cfg.Rand, storage: cfg.Storage, snapZxid: snap.Zxid,
		acceptedEpoch: hs.AcceptedEpoch, currentEpoch: hs.CurrentEpoch,
		stableAccepted: hs.AcceptedEpoch, stableCurrent: hs.CurrentEpoch,
		log: log, stableIdx: len(log), commit: hs.Committed, applied: hs.Committed,
	}
	if p.election <= 0 {
		p.election = 10
	}
	if p.heartbeat <= 0 {
		p.heartbeat = 1
	}
	if p.syncLimit <= 0 {
		p.syncLimit = 5 * p.heartbeat
	}
	if p.maxCounter == 0 {
		p.maxCounter = 1<<32 - 1
	}
	p.becomeLooking()
	return p, nil
}

// Status is a snapshot of a peer's role, for drivers, tests and
// `zabkit status`.
type Status struct {
	ID          uint64
	State       StateType
	Leader      uint64 // 0 while looking
	Epoch       uint64 // epoch being led or followed, 0 until known
	Established bool   // leading and a quorum acked NEWLEADER; Propose works
	// Serving: an established leader, or a follower or observer that has
	// received UPTODATE from its leader (it may serve clients).
	Serving       bool
	AcceptedEpoch uint64
	CurrentEpoch  uint64
	LastZxid      Zxid
	Committed     Zxid
	Applied       Zxid
}

// Status returns the peer's current role and positions.
func (p *Peer) Status() Status {
	st := Status{ID: p.id, State: p.state, Epoch: p.epoch, AcceptedEpoch: p.acceptedEpoch,
		CurrentEpoch: p.currentEpoch, LastZxid: p.lastZxid(), Committed: p.commit, Applied: p.applied}
	if p.state != StateLooking {
		st.Leader = p.leader
	}
	st.Established = p.state == StateLeading && p.lphase == lEstablished
	st.Serving = st.Established || ((p.state == StateFollowing || p.state == StateObserving) && p.fphase == fServing)
	return st
}

// Ready is what the driver must do next, in this order: install
// Snapshot; cut the log after *Truncate; append Entries; fsync; persist AcceptedEpoch and
// CurrentEpoch if non-zero (temp file, fsync, rename); only then send
// Messages; deliver Committed in order; call Advance. Messages may depend
// on every write above being durable (ACKEPOCH on acceptedEpoch,
// ACK(NEWLEADER) on the synced txns and currentEpoch, ACK on the
// proposal).
type Ready struct {
	// Snapshot, when set, replaces the whole history (a SNAP from the
	// leader): install it durably, with the log emptied, before the
	// Entries that follow it; the application state becomes its Data.
	Snapshot      *Snapshot
	AcceptedEpoch uint64
	CurrentEpoch  uint64
	Truncate      *Zxid
	Entries       []Entry
	Messages      []Message
	Committed     []Entry
}

// HasReady reports whether Ready has anything to do.
func (p *Peer) HasReady() bool {
	return len(p.msgs) > 0 || p.pendingSnap != nil || p.truncPending || p.stableIdx < len(p.log) ||
		p.acceptedEpoch != p.stableAccepted || p.currentEpoch != p.stableCurrent ||
		p.deliverable() > p.applied
}

// Ready returns the pending work. Call Advance with it before the next
// Tick, Step, Propose or Ready.
func (p *Peer) Ready() Ready {
	var rd Ready
	if p.pendingSnap != nil {
		s := *p.pendingSnap
		rd.Snapshot = &s
	}
	if p.acceptedEpoch != p.stableAccepted {
		rd.AcceptedEpoch = p.acceptedEpoch
	}
	if p.currentEpoch != p.stableCurrent {
		rd.CurrentEpoch = p.currentEpoch
	}
	if p.truncPending {
		t := p.truncTo
		rd.Truncate = &t
	}
	if p.stableIdx < len(p.log) {
		rd.Entries = slices.Clone(p.log[p.stableIdx:])
	}
	rd.Messages = slices.Clone(p.msgs)
	if d := p.deliverable(); d > p.applied {
		i := p.search(p.applied + 1)
		for ; i < len(p.log) && p.log[i].Zxid <= d; i++ {
			rd.Committed = append(rd.Committed, p.log[i])
		}
	}
	return rd
}

// Advance tells the peer that rd was carried out: persisted, sent and
// delivered.
func (p *Peer) Advance(rd Ready) {
	if rd.AcceptedEpoch != 0 {
		p.stableAccepted = rd.AcceptedEpoch
	}
	if rd.CurrentEpoch != 0 {
		p.stableCurrent = rd.CurrentEpoch
	}
	if rd.Truncate != nil {
		p.truncPending = false
	}
	if rd.Snapshot != nil {
		p.pendingSnap = nil
		p.applied = rd.Snapshot.Zxid
	}
	p.stableIdx = min(len(p.log), p.stableIdx+len(rd.Entries))
	p.msgs = p.msgs[len(rd.Messages):]
	if n := len(rd.Committed); n > 0 {
		p.applied = rd.Committed[n-1].Zxid
	}
	if p.state == StateLeading {
		p.leaderProgress()
	}
}

// deliverable is the highest zxid that may be delivered: committed and
// durable here.
func (p *Peer) deliverable() Zxid {
	d := p.commit
	if p.stableIdx == 0 {
		return p.applied
	}
	return min(d, p.log[p.stableIdx-1].Zxid)
}

func (p *Peer) lastZxid() Zxid {
	if len(p.log) == 0 {
		return p.snapZxid
	}
	return p.log[len(p.log)-1].Zxid
}

func lastOf(log []Entry) Zxid {
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Zxid
}

// Compact tells the peer that the driver holds a durable snapshot of
// everything up to z (at most the last delivered zxid): the peer drops
// those txns from memory and sends the snapshot (Storage.Snapshot) to a
// follower too far behind to sync from the log.
func (p *Peer) Compact(z Zxid) error {
	if z <= p.snapZxid {
		return nil
	}
	i := p.search(z + 1)
	if z > p.applied || i == 0 || p.log[i-1].Zxid != z || i > p.stableIdx {
		return fmt.Errorf("broadcast: compact to %v: not a delivered txn (delivered %v): %w", z, p.applied, ErrBadConfig)
	}
	p.log = slices.Clone(p.log[i:])
	p.stableIdx -= i
	p.snapZxid = z
	return nil
}

// search returns the index of the first entry with zxid >= z.
func (p *Peer) search(z Zxid) int {
	i, _ := slices.BinarySearchFunc(p.log, z, func(e Entry, z Zxid) int {
		switch {
		case e.Zxid < z:
			return -1
		case e.Zxid > z:
			return 1
		}
		return 0
	})
	return i
}

func (p *Peer) send(m Message) {
	m.From = p.id
	p.msgs = append(p.msgs, m)
}

func (p *Peer) isVoter(id uint64) bool { _, ok := slices.BinarySearch(p.voters, id); return ok }

func (p *Peer) isMember(id uint64) bool { _, ok := slices.BinarySearch(p.members, id); return ok }

// truncateAfter cuts the in-memory log after z and records the cut for
// the next Ready.
func (p *Peer) truncateAfter(z Zxid) {
	i := p.search(z + 1)
	p.log = p.log[:i:i]
	p.stableIdx = min(p.stableIdx, i)
	if !p.truncPending || z < p.truncTo {
		p.truncTo = z
	}
	p.truncPending = true
}

// Tick advances the logical clock by one tick.
func (p *Peer) Tick() {
	p.now++
	switch p.state {
	case StateLooking:
		p.tickLooking()
	case StateFollowing, StateObserving:
		p.tickFollower()
	case StateLeading:
		p.tickLeader()
	}
}

// Step feeds one message received from the network. Messages not meant
// for this peer's current role, epoch or session are ignored.
func (p *Peer) Step(m Message) error {
	if m.To != p.id || m.From == p.id || !p.isMember(m.From) {
		return nil
	}
	switch p.state {
	case StateLooking:
		p.stepLooking(m)
	case StateFollowing, StateObserving:
		return p.stepFollower(m)
	case StateLeading:
		p.stepLeader(m)
	}
	return nil
}

// Propose appends data as a new txn of the current epoch and sends it to
// the followers. Only an established leader accepts proposals.
func (p *Peer) Propose(data []byte) error {
	if p.state != StateLeading || p.lphase != lEstablished {
		return ErrNotLeader
	}
	last := p.lastZxid()
	var counter uint32
	if last.Epoch() == p.epoch {
		counter = last.Counter()
	}
	if counter >= p.maxCounter {
		// ZOOKEEPER-1277: a planned epoch change, not an outage.
		p.becomeLooking()
		return ErrCounterExhausted
	}
	e := Entry{Zxid: MakeZxid(p.epoch, counter+1), Data: slices.Clone(data)}
	p.log = append(p.log, e)
	for _, id := range p.members {
		if l := p.learners[id]; l != nil && l.syncSent {
			p.send(Message{Type: MsgProposal, To: id, Session: l.session, Epoch: p.epoch,
				Zxid: last, Entries: []Entry{e}})
		}
	}
	return nil
}

// Suspect is a failure hint from outside the protocol (a broken
// connection, gossip declaring a member dead): if id is the leader this
// peer follows or observes, it returns to election now instead of waiting
// out SyncLimitTicks. A hint about anyone else is ignored: a leader still
// steps down only when it loses its quorum. Hints only hasten what the
// timeouts would do, so a wrong hint costs an election, never safety.
func (p *Peer) Suspect(id uint64) {
	if (p.state == StateFollowing || p.state == StateObserving) && id == p.leader && id != p.id {
		p.becomeLooking()
	}
}
