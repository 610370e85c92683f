package ensemble

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/broadcast"
	"github.com/zabkit/zabkit/broadcast/transport"
	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/internal/mpsafe"
	"github.com/zabkit/zabkit/tree"
)

// The ZAB driver: one goroutine owns the broadcast.Peer. It feeds it ticks,
// peer messages and this peer's proposals, and carries out every Ready in
// the order the core asks for: install a snapshot, truncate, append and
// fsync, persist the epochs, then send, then hand committed txns to the
// applier goroutine, then Advance.
//
// Every txn travels as an envelope that names the peer that built it and a
// sequence number, so that when the commit comes back the origin answers
// its client. A follower or observer forwards its txns to the leader; the
// leader proposes them as they come. Sync and linearizable reads are no-op
// txns: once one is applied here, everything committed before it was
// proposed is applied too, and it is ordered with the session's writes.

// envelope is the data of one ZAB entry: a version byte, the origin's
// server id (4 bytes, big-endian) and sequence number (8 bytes), then the
// msgpack txn. The fixed prefix lets the origin match its own txns without
// decoding them.
type envelope struct {
	Origin uint32
	Seq    uint64
	Txn    tree.Txn
}

const (
	envelopeVersion = 1
	envelopePrefix  = 13
)

// App message kinds, peer to peer beside ZAB's own messages.
const (
	appForward     uint8 = iota + 1 // follower -> leader: Seqs[i] is Data[i], an encoded envelope
	appForwardFail                  // leader -> follower: Seqs were not proposed (not leading)
	appTouch                        // follower -> leader: Sessions were seen alive
	appHello                        // any -> any: Addr is where the sender serves clients
)

// appMsg is an app message.
type appMsg struct {
	Kind     uint8    `msgpack:"k"`
	Seqs     []uint64 `msgpack:"q,omitempty"`
	Data     [][]byte `msgpack:"d,omitempty"`
	Sessions []int64  `msgpack:"s,omitempty"`
	Addr     string   `msgpack:"a,omitempty"`
}

// errNotServing fails requests that cannot be ordered now: this peer has
// no established leader. The client sees a connection loss and tries
// another peer.
var errNotServing = fmt.Errorf("%w: this peer has lost its leader", wire.ErrShuttingDown)

// zabNode is the proposer of a peer in an ensemble.
type zabNode struct {
	s      *Server
	id     uint32
	log    *slog.Logger
	peer   *broadcast.Peer
	net    *transport.Transport
	wal    *wal.Log
	ticker time.Duration
	hints  <-chan uint64 // failure hints from gossip (may be nil)

	// applyCh carries work to the applier goroutine, in order.
	applyCh chan applyWork
	wg      sync.WaitGroup
	stopCh  chan struct{}
	kick    chan struct{}

	mu struct {
		sync.Mutex
		inbox    []*proposal
		purge    tree.Zxid
		compact  tree.Zxid
		failed   error
		stopping bool
	}

	// Owned by the driver goroutine.
	nextSeq  uint64
	inflight []*proposal          // this peer's txns not yet delivered, in seq order
	bySeq    map[uint64]*proposal // the same, by seq
	halted   bool                 // writes halted: the peer takes no further part
	role     broadcast.Status
	enc      *msgpack.Encoder
	encBuf   bytes.Buffer
	fwd      appMsg // forwards gathered this round
	status   statusBox
	// clientAddrs: where each member says it serves clients (appHello).
	clientAddrs struct {
		sync.Mutex
		m map[uint32]string
	}
}

// clientAddrOf returns where member id last said it serves clients, or "".
func (z *zabNode) clientAddrOf(id uint32) string {
	z.clientAddrs.Lock()
	defer z.clientAddrs.Unlock()
	return z.clientAddrs.m[id]
}

// hello tells every other member where this peer serves clients (for
// `zabkit status`, which may be given one address only).
func (z *zabNode) hello() {
	addr := z.s.ln.Addr().String()
	for _, m := range z.s.cfg.Members {
		if m.ID != z.id {
			z.sendApp(uint64(m.ID), &appMsg{Kind: appHello, Addr: addr})
		}
	}
}

// statusBox publishes the core's status for other goroutines.
type statusBox struct {
	mu sync.Mutex
	st broadcast.Status
}

func (b *statusBox) get() broadcast.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// applyWork is one item for the applier: a batch of proposals to apply and
// answer, or a snapshot to install.
type applyWork struct {
	batch []*proposal
	snap  *broadcast.Snapshot
}

// newZabNode builds the core from the recovered storage and starts the
// driver and applier goroutines.
func newZabNode(s *Server, st *zabStorage, net *transport.Transport, hints <-chan uint64) (*zabNode, error) {
	var voters, observers []uint64
	for _, m := range s.cfg.Members {
		if m.Observer {
			observers = append(observers, uint64(m.ID))
		} else {
			voters = append(voters, uint64(m.ID))
		}
	}
	seed := uint64(time.Now().UnixNano())
	peer, err := broadcast.NewPeer(broadcast.Config{
		ID: uint64(s.cfg.ServerID), Voters: voters, Observers: observers,
		ElectionTicks: s.cfg.ElectionTicks, HeartbeatTicks: 1, SyncLimitTicks: s.cfg.SyncLimitTicks,
		Rand: rand.New(rand.NewPCG(seed, uint64(s.cfg.ServerID))), Storage: st,
	})
	if err != nil {
		return nil, fmt.Errorf("ensemble: starting ZAB: %w", err)
	}
	z := &zabNode{
		s: s, id: s.cfg.ServerID, log: s.log, peer: peer, net: net, wal: s.wal,
		ticker: s.cfg.ZabTick, hints: hints,
		applyCh: make(chan applyWork, 256), stopCh: make(chan struct{}), kick: make(chan struct{}, 1),
		bySeq: make(map[uint64]*proposal),
		// Sequence numbers start from the clock, so a restarted peer never
		// mistakes an old txn of its own for a new one.
		nextSeq: uint64(time.Now().UnixNano()),
	}
	z.enc = msgpack.NewEncoder(&z.encBuf)
	z.enc.UseCompactInts(true)
	z.role = peer.Status()
	z.status.st = z.role
	z.wg.Add(2)
	go z.run()
	go z.applyLoop()
	return z, nil
}

// propose queues p for the driver. It never blocks.
func (z *zabNode) propose(p *proposal) bool {
	z.mu.Lock()
	if z.mu.stopping {
		z.mu.Unlock()
		return false
	}
	z.mu.inbox = append(z.mu.inbox, p)
	z.mu.Unlock()
	z.poke()
	return true
}

func (z *zabNode) poke() {
	select {
	case z.kick <- struct{}{}:
	default:
	}
}

func (z *zabNode) purgeThrough(zx tree.Zxid) {
	z.mu.Lock()
	z.mu.purge = max(z.mu.purge, zx)
	z.mu.Unlock()
	z.poke()
}

// compactTo tells the core that a durable snapshot holds everything up to
// zx, so it may drop those txns from memory (and send that snapshot to a
// follower too far behind).
func (z *zabNode) compactTo(zx tree.Zxid) {
	z.mu.Lock()
	z.mu.compact = max(z.mu.compact, zx)
	z.mu.Unlock()
	z.poke()
}

func (z *zabNode) halt(err error) {
	z.mu.Lock()
	if z.mu.failed == nil {
		z.mu.failed = fmt.Errorf("%w: writes halted: %w", wire.ErrSystemError, err)
	}
	z.mu.Unlock()
	z.poke()
}

func (z *zabNode) stop() {
	z.mu.Lock()
	z.mu.stopping = true
	z.mu.Unlock()
	close(z.stopCh)
	z.wg.Wait()
}

// coreStatus returns the core's status as of the driver's last step.
func (z *zabNode) coreStatus() broadcast.Status { return z.status.get() }

// roleName is the role `zabkit status` shows: the core's state, or
// "halted" once writes have halted.
func (z *zabNode) roleName() string {
	z.mu.Lock()
	failed := z.mu.failed
	z.mu.Unlock()
	if failed != nil {
		return "halted"
	}
	return z.coreStatus().State.String()
}

// run is the driver loop.
func (z *zabNode) run() {
	defer z.wg.Done()
	defer close(z.applyCh)
	t := time.NewTicker(z.ticker)
	defer t.Stop()
	recv := z.net.Recv()
	down := z.net.Down()
	for {
		select {
		case <-z.stopCh:
			z.failInflight(wire.ErrShuttingDown)
			z.failInbox(wire.ErrShuttingDown)
			return
		case <-t.C:
			if !z.halted {
				z.peer.Tick()
			}
		case pk := <-recv:
			z.handlePacket(pk)
		case id := <-down:
			z.peer.Suspect(id)
		case id := <-z.hints:
			z.peer.Suspect(id)
		case <-z.kick:
		}
		// Take whatever else is waiting without blocking: one Ready (one
		// fsync) for all of it.
	drain:
		for i := 0; i < 4096; i++ {
			select {
			case pk := <-recv:
				z.handlePacket(pk)
			default:
				break drain
			}
		}
		if err := z.step(); err != nil {
			z.log.Error("ZAB peer failed, writes halted", "err", err)
			z.halt(err)
			z.failInflight(err)
		}
	}
}

// step moves the peer's own work into the core, carries out its Ready and
// notices role changes.
func (z *zabNode) step() error {
	z.mu.Lock()
	inbox := z.mu.inbox
	z.mu.inbox = nil
	purge, compact, failed := z.mu.purge, z.mu.compact, z.mu.failed
	z.mu.purge, z.mu.compact = 0, 0
	z.mu.Unlock()

	if failed != nil {
		// Writes halted (a failed fsync, an entry that cannot be read): this
		// peer no longer takes part, so it never acks what it cannot keep
		// (ZOOKEEPER-2247). An operator restarts it; it reloads from disk.
		z.failList(inbox, failed)
		z.failInflight(failed)
		if !z.halted {
			z.halted = true
			z.status.mu.Lock()
			z.status.st = broadcast.Status{ID: z.role.ID, State: broadcast.StateLooking}
			z.status.mu.Unlock()
			z.s.dropClients()
		}
		return nil
	}
	if compact != 0 {
		if err := z.peer.Compact(broadcast.Zxid(compact)); err != nil {
			z.log.Warn("cannot compact the in-memory log", "zxid", compact, "err", err)
		}
	}
	z.submit(inbox)
	for z.peer.HasReady() {
		if err := z.handleReady(); err != nil {
			return err
		}
	}
	z.flushForwards()
	z.noticeRole()
	if purge != 0 {
		if err := z.wal.PurgeThrough(uint64(purge)); err != nil {
			z.log.Warn("cannot purge txn log", "zxid", purge, "err", err)
		}
	}
	return nil
}

// submit proposes (leader) or forwards (follower) this peer's new txns.
func (z *zabNode) submit(inbox []*proposal) {
	if len(inbox) == 0 {
		return
	}
	st := z.peer.Status()
	if !st.Serving {
		z.failList(inbox, errNotServing)
		return
	}
	for _, p := range inbox {
		if p.txn == nil {
			// A barrier (sync, linearizable read) is a no-op txn: applied
			// here only after everything committed before it.
			p.txn = &tree.Txn{Kind: tree.TxnNoop, Time: z.s.wallMillis()}
		}
		z.nextSeq++
		seq := z.nextSeq
		data, err := z.encode(seq, p.txn)
		if err != nil {
			z.failList([]*proposal{p}, err)
			continue
		}
		p.seq = seq
		z.inflight = append(z.inflight, p)
		z.bySeq[seq] = p
		if st.State == broadcast.StateLeading {
			if err := z.peer.Propose(data); err != nil {
				// Counter exhausted (the core steps down) or not
				// established: this and every later txn fail.
				z.log.Info("cannot propose", "err", err)
				z.failInflight(errNotServing)
				return
			}
			continue
		}
		z.fwd.Seqs = append(z.fwd.Seqs, seq)
		z.fwd.Data = append(z.fwd.Data, data)
	}
}

// encode returns the envelope of a txn of this peer.
func (z *zabNode) encode(seq uint64, txn *tree.Txn) ([]byte, error) {
	z.encBuf.Reset()
	var pre [envelopePrefix]byte
	pre[0] = envelopeVersion
	binary.BigEndian.PutUint32(pre[1:], z.id)
	binary.BigEndian.PutUint64(pre[5:], seq)
	z.encBuf.Write(pre[:])
	if err := z.enc.Encode(txn); err != nil {
		return nil, fmt.Errorf("%w: encoding txn: %w", wire.ErrSystemError, err)
	}
	return slices.Clone(z.encBuf.Bytes()), nil
}

// flushForwards sends the forwards gathered this round to the leader in one
// app message.
func (z *zabNode) flushForwards() {
	if len(z.fwd.Seqs) == 0 {
		return
	}
	m := appMsg{Kind: appForward, Seqs: z.fwd.Seqs, Data: z.fwd.Data}
	z.fwd = appMsg{}
	st := z.peer.Status()
	if !st.Serving || st.State == broadcast.StateLeading {
		z.failInflight(errNotServing)
		return
	}
	z.sendApp(st.Leader, &m)
}

func (z *zabNode) sendApp(to uint64, m *appMsg) {
	b, err := msgpack.Marshal(m)
	if err != nil {
		z.log.Error("cannot encode peer message", "err", err)
		return
	}
	z.net.SendApp(to, b)
}

// handleReady carries out one Ready in the order the core requires.
func (z *zabNode) handleReady() error {
	rd := z.peer.Ready()
	// A leader's proposals, commits and pings depend on nothing this Ready
	// makes durable (its own ack counts only after Advance): send them
	// before the fsync, so followers write in parallel with the leader.
	early := z.role.State == broadcast.StateLeading && rd.Snapshot == nil && rd.Truncate == nil &&
		rd.AcceptedEpoch == 0 && rd.CurrentEpoch == 0 && onlyBroadcast(rd.Messages)
	if early {
		z.send(rd.Messages)
	}
	if rd.Snapshot != nil {
		// SNAP: the snapshot is durable before the log that contradicted it
		// goes, and both before the ACK (ZOOKEEPER-3642).
		data := rd.Snapshot.Data
		if err := z.s.snaps.Write(uint64(rd.Snapshot.Zxid), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return fmt.Errorf("installing snapshot %v: %w", rd.Snapshot.Zxid, err)
		}
		if err := z.wal.TruncateAfter(0); err != nil {
			return fmt.Errorf("emptying the log for snapshot %v: %w", rd.Snapshot.Zxid, err)
		}
		snapCopy := *rd.Snapshot
		z.applyCh <- applyWork{snap: &snapCopy}
	}
	if rd.Truncate != nil {
		// TRUNC: cut exactly to the divergence point, durably, before the
		// synced txns follow.
		if err := z.wal.TruncateAfter(uint64(*rd.Truncate)); err != nil {
			return fmt.Errorf("truncating the log after %v: %w", *rd.Truncate, err)
		}
	}
	if len(rd.Entries) > 0 {
		recs := make([]wal.Record, len(rd.Entries))
		for i, e := range rd.Entries {
			recs[i] = wal.Record{Zxid: uint64(e.Zxid), Data: e.Data}
		}
		if err := z.wal.Append(recs...); err != nil {
			return fmt.Errorf("appending to the log: %w", err)
		}
		// Persist before ACK: one fsync for the whole batch.
		if err := z.wal.Sync(); err != nil {
			return fmt.Errorf("syncing the log: %w", err)
		}
	}
	if rd.AcceptedEpoch != 0 {
		// Before ACKEPOCH leaves (ZOOKEEPER-335, 1081, 1282).
		if err := writeEpoch(z.s.cfg.FS, z.s.cfg.DataDir, acceptedEpochFile, rd.AcceptedEpoch); err != nil {
			return err
		}
	}
	if rd.CurrentEpoch != 0 {
		// After the synced txns are durable, before ACK(NEWLEADER)
		// leaves (ZOOKEEPER-3911).
		if err := writeEpoch(z.s.cfg.FS, z.s.cfg.DataDir, currentEpochFile, rd.CurrentEpoch); err != nil {
			return err
		}
	}
	if !early {
		z.send(rd.Messages)
	}
	if len(rd.Committed) > 0 {
		z.deliver(rd.Committed)
	}
	z.peer.Advance(rd)
	return nil
}

// onlyBroadcast reports whether every message is one a leader may send
// before its own fsync.
func onlyBroadcast(msgs []broadcast.Message) bool {
	for _, m := range msgs {
		switch m.Type {
		case broadcast.MsgProposal, broadcast.MsgCommit, broadcast.MsgPing:
		default:
			return false
		}
	}
	return true
}

func (z *zabNode) send(msgs []broadcast.Message) {
	for _, m := range coalesce(msgs) {
		z.net.Send(m)
	}
}

// coalesce merges messages to one peer that say nothing the last one to it
// does not: new proposals (one entry each) in a row become one proposal
// with many entries; of several commits or acks in a row, the highest (both
// are cumulative) stands for all. Order per destination is kept. A resend
// (a proposal that already has several entries) is never merged into: the
// follower may hold part of it already, and would then drop the new
// entries along with it.
func coalesce(msgs []broadcast.Message) []broadcast.Message {
	if len(msgs) < 2 {
		return msgs
	}
	out := make([]broadcast.Message, 0, len(msgs))
	type tail struct {
		i     int
		fresh bool // a proposal built only from single-entry proposals
	}
	last := make(map[uint64]tail, 4) // destination -> its last message in out
	for _, m := range msgs {
		if t, ok := last[m.To]; ok {
			prev := &out[t.i]
			if prev.Type == m.Type && prev.Session == m.Session && prev.Epoch == m.Epoch {
				switch m.Type {
				case broadcast.MsgProposal:
					if n := len(prev.Entries); t.fresh && len(m.Entries) == 1 && n > 0 && prev.Entries[n-1].Zxid == m.Zxid {
						prev.Entries = append(slices.Clip(prev.Entries), m.Entries...)
						continue
					}
				case broadcast.MsgCommit:
					prev.Commit = max(prev.Commit, m.Commit)
					continue
				case broadcast.MsgAck:
					prev.Zxid = max(prev.Zxid, m.Zxid)
					continue
				}
			}
		}
		last[m.To] = tail{i: len(out), fresh: m.Type == broadcast.MsgProposal && len(m.Entries) == 1}
		out = append(out, m)
	}
	return out
}

// deliver hands committed txns, in zxid order, to the applier: this peer's
// own with their proposal (to answer the client), others decoded.
func (z *zabNode) deliver(ents []broadcast.Entry) {
	batch := make([]*proposal, 0, len(ents))
	for _, e := range ents {
		if origin, seq, ok := envelopeOrigin(e.Data); ok && origin == z.id {
			if p := z.bySeq[seq]; p != nil {
				// Our own txn: answered without decoding it again. Txns of
				// one origin commit in the order it sent them; an older one
				// still waiting was lost on the way (a dropped connection)
				// and never will.
				for len(z.inflight) > 0 && z.inflight[0] != p {
					lost := z.inflight[0]
					z.inflight = z.inflight[1:]
					delete(z.bySeq, lost.seq)
					lost.err = errNotServing
					batch = append(batch, lost)
				}
				z.inflight = z.inflight[1:]
				delete(z.bySeq, seq)
				p.txn.Zxid = tree.Zxid(e.Zxid)
				batch = append(batch, p)
				continue
			}
		}
		var env envelope
		if err := decodeEnvelope(e.Data, &env); err != nil {
			// A committed txn we cannot read: nothing after it may apply.
			err = fmt.Errorf("%w: committed txn %v: %w", ErrCorruptTxn, e.Zxid, err)
			z.log.Error("cannot decode a committed txn, writes halted", "zxid", e.Zxid, "err", err)
			z.s.broken.Store(true)
			z.halt(err)
			continue
		}
		env.Txn.Zxid = tree.Zxid(e.Zxid)
		txn := env.Txn
		batch = append(batch, &proposal{txn: &txn})
	}
	z.applyCh <- applyWork{batch: batch}
}

// decodeEnvelope decodes an entry's data, checked for hostile lengths
// first.
func decodeEnvelope(b []byte, env *envelope) error {
	origin, seq, ok := envelopeOrigin(b)
	if !ok {
		return fmt.Errorf("%w: entry of %d bytes has no envelope", wire.ErrMarshalling, len(b))
	}
	body := b[envelopePrefix:]
	if err := mpsafe.Check(body); err != nil {
		return err
	}
	env.Origin, env.Seq, env.Txn = origin, seq, tree.Txn{}
	return msgpack.Unmarshal(body, &env.Txn)
}

// envelopeOrigin reads an entry's fixed prefix.
func envelopeOrigin(b []byte) (origin uint32, seq uint64, ok bool) {
	if len(b) < envelopePrefix || b[0] != envelopeVersion {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint64(b[5:]), true
}

// handlePacket steps a ZAB message into the core or handles an app
// message.
func (z *zabNode) handlePacket(pk transport.Packet) {
	if z.halted {
		return
	}
	if pk.Msg != nil {
		if err := z.peer.Step(*pk.Msg); err != nil {
			// The core has returned to election; a broken invariant
			// in a peer's message is logged loudly.
			z.log.Error("peer message broke a protocol invariant", "peer", pk.From, "err", err)
		}
		return
	}
	var m appMsg
	if err := mpsafe.Check(pk.App); err != nil {
		z.log.Warn("malformed peer message", "peer", pk.From, "err", err)
		return
	}
	if err := msgpack.Unmarshal(pk.App, &m); err != nil {
		z.log.Warn("malformed peer message", "peer", pk.From, "err", err)
		return
	}
	switch m.Kind {
	case appForward:
		st := z.peer.Status()
		if !st.Established || len(m.Seqs) != len(m.Data) {
			z.sendApp(pk.From, &appMsg{Kind: appForwardFail, Seqs: m.Seqs})
			return
		}
		for i, d := range m.Data {
			if err := z.peer.Propose(d); err != nil {
				z.sendApp(pk.From, &appMsg{Kind: appForwardFail, Seqs: m.Seqs[i:]})
				return
			}
		}
	case appForwardFail:
		// Fail them, and everything of ours after them: they were sent
		// behind the failed ones and will not commit in order either.
		if len(m.Seqs) > 0 && z.bySeq[m.Seqs[0]] != nil {
			z.failFrom(m.Seqs[0], errNotServing)
		}
	case appHello:
		if len(m.Addr) <= 256 {
			z.clientAddrs.Lock()
			if z.clientAddrs.m == nil {
				z.clientAddrs.m = map[uint32]string{}
			}
			z.clientAddrs.m[uint32(pk.From)] = m.Addr
			z.clientAddrs.Unlock()
		}
	case appTouch:
		if z.peer.Status().State == broadcast.StateLeading {
			ids := make([]tree.SessionID, len(m.Sessions))
			for i, id := range m.Sessions {
				ids[i] = tree.SessionID(id)
			}
			z.s.sessions.touchIDs(ids, z.s.now())
		}
	default:
		z.log.Warn("unknown peer message", "peer", pk.From, "kind", m.Kind)
	}
}

// noticeRole publishes the core's status and reacts to role changes: a
// peer that stops serving fails what it has in flight and drops its
// clients (they move to a serving peer); a new leader starts every
// session's clock afresh.
func (z *zabNode) noticeRole() {
	st := z.peer.Status()
	prev := z.role
	z.role = st
	z.status.mu.Lock()
	z.status.st = st
	z.status.mu.Unlock()
	changed := st.State != prev.State || st.Epoch != prev.Epoch || st.Leader != prev.Leader
	if !changed && st.Serving == prev.Serving {
		return
	}
	z.log.Info("role", "state", st.State.String(), "leader", st.Leader, "epoch", st.Epoch,
		"serving", st.Serving, "zxid", tree.Zxid(st.LastZxid))
	if prev.Serving && (changed || !st.Serving) {
		z.failInflight(errNotServing)
		z.s.dropClients()
	}
	if st.Serving && !prev.Serving && st.State == broadcast.StateLeading {
		z.s.sessions.refreshAll(z.s.now())
	}
}

// failFrom fails this peer's in-flight txns from seq on, in order.
func (z *zabNode) failFrom(seq uint64, err error) {
	i := slices.IndexFunc(z.inflight, func(p *proposal) bool { return p.seq == seq })
	if i < 0 {
		return
	}
	rest := z.inflight[i:]
	z.inflight = z.inflight[:i:i]
	for _, p := range rest {
		delete(z.bySeq, p.seq)
	}
	z.failList(rest, err)
}

// failInflight fails every txn of this peer not yet delivered, in order.
// One that later commits is applied without an answer (the client saw a
// connection loss: outcome unknown).
func (z *zabNode) failInflight(err error) {
	if len(z.inflight) == 0 {
		return
	}
	rest := z.inflight
	z.inflight = nil
	clear(z.bySeq)
	z.failList(rest, err)
}

func (z *zabNode) failInbox(err error) {
	z.mu.Lock()
	inbox := z.mu.inbox
	z.mu.inbox = nil
	z.mu.Unlock()
	z.failList(inbox, err)
}

// failList delivers ps unapplied with err, through the applier so that
// answers keep their order.
func (z *zabNode) failList(ps []*proposal, err error) {
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		p.err = err
	}
	z.applyCh <- applyWork{batch: ps}
}

// applyLoop applies committed txns and installs snapshots, in order.
func (z *zabNode) applyLoop() {
	defer z.wg.Done()
	for w := range z.applyCh {
		if w.snap != nil {
			z.s.installSnapshot(w.snap)
			continue
		}
		z.s.applyBatch(w.batch)
	}
}

// reportSessions tells the leader which of the sessions attached here
// were active since the last report (a follower's duty each tick).
func (z *zabNode) reportSessions() {
	st := z.coreStatus()
	if !st.Serving || st.State == broadcast.StateLeading {
		return
	}
	ids := z.s.sessions.takeFresh()
	if len(ids) == 0 {
		return
	}
	m := appMsg{Kind: appTouch, Sessions: make([]int64, len(ids))}
	for i, id := range ids {
		m.Sessions[i] = int64(id)
	}
	// SendApp is safe from any goroutine.
	z.sendApp(st.Leader, &m)
}
