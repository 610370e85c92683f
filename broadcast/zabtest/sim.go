package zabtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/zabkit/zabkit/broadcast"
)

// Options configures one simulated run.
type Options struct {
	Seed  uint64
	Peers int // voters, ids 1..Peers; default 3
	// Observers: non-voting members, ids Peers+1..Peers+Observers.
	Observers int
	// Steps is the number of random schedule steps before the liveness
	// phase; default 1500.
	Steps int
	// MaxCounter is passed to every peer (0: the default 2^32-1).
	MaxCounter uint32
	// Compact makes peers take snapshots and compact their logs at
	// random, so that lagging followers are synced by SNAP.
	Compact bool
	// Trace collects a line per event; Run's error then ends with the
	// last lines of it.
	Trace bool
}

type node struct {
	id        uint64
	store     *broadcast.MemoryStorage
	peer      *broadcast.Peer
	delivered []broadcast.Entry
}

type sim struct {
	opt      Options
	rng      *rand.Rand
	nodes    []*node // index id-1
	voters   []uint64
	members  []uint64 // voters, then observers
	quorum   int
	net      []broadcast.Message
	blocked  [][]bool // blocked[from][to]
	dropPct  int
	dupPct   int
	hist     []broadcast.Entry
	leaders  map[uint64]uint64
	proposed map[string]bool
	nextData int
	step     int
	trace    []string
	err      error
	healing  bool
	crashes  int
	torn     int
	snaps    int
}

// Run runs one simulation and returns the first invariant violation, or
// a liveness failure, with the seed in the message.
func Run(opt Options) error {
	_, err := RunStats(opt)
	return err
}

// RunStats is Run, also returning what the run did.
func RunStats(opt Options) (Stats, error) {
	s := newSim(opt)
	opt = s.opt
	err := s.run()
	st := Stats{Delivered: len(s.hist), Epochs: len(s.leaders), Crashes: s.crashes, Torn: s.torn, Snaps: s.snaps}
	if opt.Trace && dumpTrace != nil {
		dumpTrace(s.trace)
	}
	if err != nil {
		msg := fmt.Sprintf("zabtest: seed %d peers %d observers %d: %v", opt.Seed, opt.Peers, opt.Observers, err)
		if opt.Trace {
			k := max(0, len(s.trace)-300)
			msg += "\n" + strings.Join(s.trace[k:], "\n")
		}
		return st, errors.New(msg)
	}
	return st, nil
}

// dumpTrace, when set (by tests), receives the whole trace of a traced run.
var dumpTrace func([]string)

func newSim(opt Options) *sim {
	if opt.Peers <= 0 {
		opt.Peers = 3
	}
	if opt.Steps <= 0 {
		opt.Steps = 1500
	}
	s := &sim{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)),
		leaders: map[uint64]uint64{}, proposed: map[string]bool{}}
	s.quorum = opt.Peers/2 + 1
	total := opt.Peers + opt.Observers
	s.blocked = make([][]bool, total+1)
	for i := range s.blocked {
		s.blocked[i] = make([]bool, total+1)
	}
	for i := 1; i <= total; i++ {
		if i <= opt.Peers {
			s.voters = append(s.voters, uint64(i))
		}
		s.members = append(s.members, uint64(i))
	}
	for _, id := range s.members {
		n := &node{id: id, store: &broadcast.MemoryStorage{}}
		s.nodes = append(s.nodes, n)
		s.start(n)
	}
	s.dropPct = s.rng.IntN(15)
	s.dupPct = s.rng.IntN(10)
	return s
}

func (s *sim) tracef(format string, args ...any) {
	if s.opt.Trace {
		s.trace = append(s.trace, fmt.Sprintf("%6d ", s.step)+fmt.Sprintf(format, args...))
	}
}

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("step %d: %s", s.step, fmt.Sprintf(format, args...))
	}
}

func (s *sim) start(n *node) {
	p, err := broadcast.NewPeer(broadcast.Config{
		ID: n.id, Voters: s.voters, Observers: s.members[len(s.voters):], ElectionTicks: 10, HeartbeatTicks: 1, SyncLimitTicks: 5,
		Rand: rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64())), Storage: n.store,
		MaxCounter: s.opt.MaxCounter,
	})
	if err != nil {
		s.fail("restart peer %d: %v", n.id, err)
		return
	}
	n.peer = p
	s.tracef("start %d (accepted %d current %d last %v committed %v)", n.id, n.store.HardState.AcceptedEpoch,
		n.store.HardState.CurrentEpoch, p.Status().LastZxid, n.store.HardState.Committed)
	s.process(n)
}

func (s *sim) crash(n *node) {
	n.peer = nil
	s.crashes++
	// The application restarts from its durable state: the snapshot, then
	// the txns it had durably delivered after it.
	var rebuilt []broadcast.Entry
	snap := n.store.Snap
	if snap.Zxid != 0 {
		ents, err := decodeSnap(snap.Data)
		if err != nil {
			s.fail("peer %d: bad snapshot on disk: %v", n.id, err)
			return
		}
		rebuilt = ents
	}
	for _, e := range n.delivered {
		if e.Zxid > snap.Zxid && e.Zxid <= n.store.HardState.Committed {
			rebuilt = append(rebuilt, e)
		}
	}
	n.delivered = rebuilt
	s.tracef("crash %d", n.id)
}

// process carries out every Ready of n: persist, send, deliver, Advance.
// Sometimes it crashes n half way through persisting.
func (s *sim) process(n *node) {
	for n.peer != nil && n.peer.HasReady() && s.err == nil {
		rd := n.peer.Ready()
		var ops []func()
		if rd.Snapshot != nil {
			snap := *rd.Snapshot
			ops = append(ops, func() { n.store.InstallSnapshot(snap) })
		}
		if rd.Truncate != nil {
			t := *rd.Truncate
			ops = append(ops, func() { n.store.TruncateAfter(t) })
		}
		for _, e := range rd.Entries {
			ops = append(ops, func() {
				if err := n.store.Append(e); err != nil {
					s.fail("peer %d: %v", n.id, err)
				}
			})
		}
		if rd.AcceptedEpoch != 0 {
			ops = append(ops, func() { n.store.HardState.AcceptedEpoch = rd.AcceptedEpoch })
		}
		if rd.CurrentEpoch != 0 {
			ops = append(ops, func() { n.store.HardState.CurrentEpoch = rd.CurrentEpoch })
		}
		if len(ops) > 0 && !s.healing && s.rng.IntN(400) == 0 {
			k := s.rng.IntN(len(ops))
			for _, op := range ops[:k] {
				op()
			}
			s.torn++
			s.tracef("torn crash %d after %d of %d writes", n.id, k, len(ops))
			s.crash(n)
			return
		}
		for _, op := range ops {
			op()
		}
		if rd.Snapshot != nil || rd.Truncate != nil || len(rd.Entries) > 0 || rd.AcceptedEpoch != 0 || rd.CurrentEpoch != 0 {
			s.tracef("persist %d snap %v trunc %v ents %d accepted %d current %d", n.id, rd.Snapshot != nil, fmtTrunc(rd.Truncate),
				len(rd.Entries), rd.AcceptedEpoch, rd.CurrentEpoch)
		}
		s.checkDurableBeforeSend(n, rd.Messages)
		for _, m := range rd.Messages {
			if !s.blocked[m.From][m.To] {
				s.net = append(s.net, m)
			}
		}
		if rd.Snapshot != nil {
			s.installSnapshot(n, *rd.Snapshot)
		}
		for _, e := range rd.Committed {
			s.deliver(n, e)
		}
		if len(rd.Committed) > 0 {
			n.store.HardState.Committed = rd.Committed[len(rd.Committed)-1].Zxid
		}
		n.peer.Advance(rd)
	}
	if len(s.net) > 400 {
		s.net = slices.Delete(s.net, 0, len(s.net)-400)
	}
}

// checkDurableBeforeSend checks that what each outgoing message vouches
// for is on the peer's durable storage already (ZOOKEEPER-335, 1081,
// 1282, 3911, 4643, 4646, 4685).
func (s *sim) checkDurableBeforeSend(n *node, msgs []broadcast.Message) {
	hs := n.store.HardState
	last := n.store.Snap.Zxid
	if k := len(n.store.Log); k > 0 {
		last = n.store.Log[k-1].Zxid
	}
	st := n.peer.Status()
	for _, m := range msgs {
		switch m.Type {
		case broadcast.MsgNewEpoch:
			if hs.AcceptedEpoch < m.Epoch {
				s.fail("leader %d sent NEWEPOCH %d with acceptedEpoch %d durable", n.id, m.Epoch, hs.AcceptedEpoch)
			}
		case broadcast.MsgAckEpoch:
			if st.State == broadcast.StateFollowing && hs.AcceptedEpoch < st.Epoch {
				s.fail("peer %d sent ACKEPOCH for %d with acceptedEpoch %d durable", n.id, st.Epoch, hs.AcceptedEpoch)
			}
		case broadcast.MsgAckNewLeader:
			if hs.CurrentEpoch != m.Epoch || last < m.Zxid {
				s.fail("peer %d acked NEWLEADER %d at %v with currentEpoch %d, log to %v durable", n.id, m.Epoch, m.Zxid, hs.CurrentEpoch, last)
			}
		case broadcast.MsgAck, broadcast.MsgPingResp:
			if last < m.Zxid {
				s.fail("peer %d acked %v with log to %v durable", n.id, m.Zxid, last)
			}
		}
	}
}

// A snapshot's Data is the delivered history it covers, encoded, so that
// installing one can be checked against the global history.
func encodeSnap(ents []broadcast.Entry) []byte {
	var b []byte
	for _, e := range ents {
		b = binary.BigEndian.AppendUint64(b, uint64(e.Zxid))
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

func decodeSnap(b []byte) ([]broadcast.Entry, error) {
	var ents []broadcast.Entry
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, errors.New("short snapshot")
		}
		z, n := binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		if uint64(len(b)) < uint64(n) {
			return nil, errors.New("short snapshot")
		}
		ents = append(ents, broadcast.Entry{Zxid: broadcast.Zxid(z), Data: slices.Clone(b[:n])})
		b = b[n:]
	}
	return ents, nil
}

// compact takes a snapshot of n's delivered history and compacts its log.
func (s *sim) compact(n *node) {
	if n.peer == nil || len(n.delivered) == 0 {
		return
	}
	k := 1 + s.rng.IntN(len(n.delivered))
	z := n.delivered[k-1].Zxid
	if z <= n.store.Snap.Zxid || z > n.store.HardState.Committed {
		return
	}
	if err := n.peer.Compact(z); err != nil {
		s.fail("compact %d to %v: %v", n.id, z, err)
		return
	}
	n.store.Compact(broadcast.Snapshot{Zxid: z, Data: encodeSnap(n.delivered[:k])})
	s.tracef("compact %d to %v", n.id, z)
}

// installSnapshot replaces n's application state with a received SNAP,
// which must be a prefix of the global history.
func (s *sim) installSnapshot(n *node, snap broadcast.Snapshot) {
	ents, err := decodeSnap(snap.Data)
	if err != nil {
		s.fail("peer %d got a bad snapshot: %v", n.id, err)
		return
	}
	if len(ents) == 0 || ents[len(ents)-1].Zxid != snap.Zxid {
		s.fail("peer %d got snapshot %v that does not end at its zxid", n.id, snap.Zxid)
		return
	}
	for i, e := range ents {
		if i >= len(s.hist) || s.hist[i].Zxid != e.Zxid || string(s.hist[i].Data) != string(e.Data) {
			s.fail("peer %d got snapshot %v holding %v %q at %d, not the committed history", n.id, snap.Zxid, e.Zxid, e.Data, i)
			return
		}
	}
	if len(ents) < len(n.delivered) {
		s.fail("peer %d: snapshot %v behind what it delivered (%v)", n.id, snap.Zxid, n.delivered[len(n.delivered)-1].Zxid)
		return
	}
	s.snaps++
	s.tracef("install snapshot %d %v", n.id, snap.Zxid)
	n.delivered = ents
}

func fmtTrunc(t *broadcast.Zxid) string {
	if t == nil {
		return "-"
	}
	return t.String()
}

func (s *sim) deliver(n *node, e broadcast.Entry) {
	s.tracef("deliver %d %v %q", n.id, e.Zxid, e.Data)
	if !s.proposed[string(e.Data)] {
		s.fail("peer %d delivered %v %q that nobody proposed", n.id, e.Zxid, e.Data)
		return
	}
	if k := len(n.delivered); k > 0 && n.delivered[k-1].Zxid >= e.Zxid {
		s.fail("peer %d delivered %v after %v", n.id, e.Zxid, n.delivered[k-1].Zxid)
		return
	}
	k := len(n.delivered)
	if k < len(s.hist) {
		if h := s.hist[k]; h.Zxid != e.Zxid || string(h.Data) != string(e.Data) {
			s.fail("peer %d delivered %v %q at position %d where others delivered %v %q", n.id, e.Zxid, e.Data, k, h.Zxid, h.Data)
			return
		}
	} else {
		held := 0
		for _, o := range s.nodes[:len(s.voters)] {
			if o.store.Contains(e) {
				held++
			}
		}
		if held < s.quorum {
			s.fail("peer %d delivered %v held durably by only %d peers", n.id, e.Zxid, held)
			return
		}
		s.hist = append(s.hist, broadcast.Entry{Zxid: e.Zxid, Data: slices.Clone(e.Data)})
	}
	n.delivered = append(n.delivered, e)
}

func (s *sim) checkLeaders() {
	for _, n := range s.nodes {
		if n.peer == nil {
			continue
		}
		st := n.peer.Status()
		if !st.Established {
			continue
		}
		if l, ok := s.leaders[st.Epoch]; ok && l != n.id {
			s.fail("two established leaders in epoch %d: %d and %d", st.Epoch, l, n.id)
		} else if !ok {
			s.leaders[st.Epoch] = n.id
			s.tracef("established %d epoch %d last %v", n.id, st.Epoch, st.LastZxid)
		}
	}
}

func (s *sim) stepPeer(n *node, m broadcast.Message) {
	if n.peer == nil {
		return
	}
	if err := n.peer.Step(m); err != nil {
		s.fail("peer %d step %v from %d: %v", n.id, m.Type, m.From, err)
		return
	}
	s.process(n)
}

func (s *sim) deliverMsg(m broadcast.Message) {
	if s.blocked[m.From][m.To] {
		return
	}
	if m.Type == broadcast.MsgVote {
		s.tracef("msg %v %d->%d %v round %d vote %+v", m.Type, m.From, m.To, m.State, m.Round, m.Vote)
	} else {
		s.tracef("msg %v %d->%d sess %x ep %d z %v c %v n %d", m.Type, m.From, m.To, m.Session&0xfff, m.Epoch, m.Zxid, m.Commit, len(m.Entries))
	}
	s.stepPeer(s.nodes[m.To-1], m)
}

func (s *sim) tick(n *node) {
	if n.peer != nil {
		n.peer.Tick()
		s.process(n)
	}
}

func (s *sim) propose(n *node) {
	if n.peer == nil || !n.peer.Status().Established {
		return
	}
	data := fmt.Sprintf("p%d", s.nextData)
	s.nextData++
	s.proposed[data] = true
	err := n.peer.Propose([]byte(data))
	switch {
	case err == nil:
		s.tracef("propose %d %s", n.id, data)
	case errors.Is(err, broadcast.ErrCounterExhausted):
		s.tracef("propose %d: counter exhausted", n.id)
	default:
		s.fail("propose on %d: %v", n.id, err)
	}
	s.process(n)
}

func (s *sim) randomStep() {
	r := s.rng.IntN(100)
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	switch {
	case r < 50:
		for k := 1 + s.rng.IntN(len(s.net)+1); k > 0 && len(s.net) > 0; k-- {
			i := 0
			if s.rng.IntN(4) == 0 {
				i = s.rng.IntN(len(s.net))
			}
			m := s.net[i]
			if s.rng.IntN(100) >= s.dupPct {
				s.net = slices.Delete(s.net, i, i+1)
			}
			if s.rng.IntN(100) < s.dropPct {
				continue
			}
			s.deliverMsg(m)
		}
	case r < 72:
		for _, n := range s.nodes {
			s.tick(n)
		}
	case r < 75:
		s.tick(n)
	case r < 76:
		// A failure hint, right or wrong (a broken connection, gossip):
		// it may cost an election, never safety.
		if n.peer != nil {
			id := s.members[s.rng.IntN(len(s.members))]
			s.tracef("suspect %d->%d", n.id, id)
			n.peer.Suspect(id)
		}
	case r < 88:
		for _, n := range s.nodes {
			for k := s.rng.IntN(3); k > 0; k-- {
				s.propose(n)
			}
		}
	case r < 91:
		switch s.rng.IntN(4) {
		case 0: // heal
			for _, b := range s.blocked {
				clear(b)
			}
			s.tracef("heal")
		case 1: // one-way cut
			a, b := 1+s.rng.IntN(len(s.nodes)), 1+s.rng.IntN(len(s.nodes))
			s.blocked[a][b] = true
			s.tracef("cut %d->%d", a, b)
		case 2: // isolate
			for _, o := range s.members {
				s.blocked[n.id][o], s.blocked[o][n.id] = true, true
			}
			s.tracef("isolate %d", n.id)
		case 3: // split in two
			side := make([]bool, len(s.nodes)+1)
			for _, o := range s.members {
				side[o] = s.rng.IntN(2) == 0
			}
			for _, a := range s.members {
				for _, b := range s.members {
					s.blocked[a][b] = side[a] != side[b]
				}
			}
			s.tracef("partition %v", side[1:])
		}
	case r < 92:
		if n.peer != nil {
			s.crash(n)
		}
	case r < 96:
		if n.peer == nil {
			s.start(n)
		}
	case r < 98 && s.opt.Compact:
		s.compact(n)
	default:
		for _, n := range s.nodes {
			s.tick(n)
		}
	}
}

func (s *sim) run() error {
	for s.step = 0; s.step < s.opt.Steps && s.err == nil; s.step++ {
		s.randomStep()
		s.checkLeaders()
	}
	if s.err != nil {
		return s.err
	}
	return s.liveness()
}

// liveness heals everything and requires a leader and a final proposal
// delivered everywhere.
func (s *sim) liveness() error {
	for _, b := range s.blocked {
		clear(b)
	}
	s.dropPct, s.dupPct = 0, 0
	s.healing = true
	s.tracef("liveness phase")
	for _, n := range s.nodes {
		if n.peer == nil {
			s.start(n)
		}
	}
	finalEpoch := uint64(0)
	for round := 0; round < 3000 && s.err == nil; round++ {
		s.step++
		msgs := s.net
		s.net = nil
		for _, m := range msgs {
			s.deliverMsg(m)
		}
		for _, n := range s.nodes {
			s.tick(n)
		}
		s.checkLeaders()
		for _, n := range s.nodes {
			if st := n.peer.Status(); st.Established && st.Epoch != finalEpoch {
				data := fmt.Sprintf("final%d", s.nextData)
				s.nextData++
				s.proposed[data] = true
				if err := n.peer.Propose([]byte(data)); err == nil {
					finalEpoch = st.Epoch
					s.tracef("propose final %d %s", n.id, data)
				}
				s.process(n)
			}
		}
		if s.done() {
			return s.err
		}
	}
	if s.err != nil {
		return s.err
	}
	var st []string
	for _, n := range s.nodes {
		x := n.peer.Status()
		st = append(st, fmt.Sprintf("%d:%v leader %d epoch %d est %v last %v commit %v delivered %d",
			n.id, x.State, x.Leader, x.Epoch, x.Established, x.LastZxid, x.Committed, len(n.delivered)))
	}
	return fmt.Errorf("no progress after healing: hist %d; %s", len(s.hist), strings.Join(st, "; "))
}

func (s *sim) done() bool {
	if len(s.hist) == 0 || !strings.HasPrefix(string(s.hist[len(s.hist)-1].Data), "final") {
		return false
	}
	for _, n := range s.nodes {
		if len(n.delivered) != len(s.hist) {
			return false
		}
	}
	return true
}

// Stats of a run, for tests that want to see the schedule did something.
type Stats struct {
	Delivered int // length of the global delivered history
	Epochs    int // epochs with an established leader
	Crashes   int
	Torn      int // crashes in the middle of persisting a Ready
	Snaps     int // snapshots installed from the leader (SNAP)
}
