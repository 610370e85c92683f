package broadcast

import (
	"fmt"
	"slices"
)

func (p *Peer) becomeFollower(leader uint64) {
	p.state = StateFollowing
	if p.observer {
		p.state = StateObserving
	}
	p.leader = leader
	p.epoch = 0
	p.session = p.rand.Uint64() | 1
	p.fphase = fDiscover
	p.heard = p.now
	p.roleSince = p.now
	p.learners = nil
	p.sendFollowerInfo()
}

func (p *Peer) sendFollowerInfo() {
	p.send(Message{Type: MsgFollowerInfo, To: p.leader, Session: p.session, Epoch: p.acceptedEpoch})
}

func (p *Peer) tickFollower() {
	limit := int64(p.syncLimit)
	if p.fphase < fServing {
		limit = max(limit, int64(2*p.election))
	}
	if p.now-p.heard > limit {
		p.becomeLooking()
		return
	}
	if p.now%int64(p.heartbeat) != 0 {
		return
	}
	// Resend whatever the leader has not answered: the network may drop.
	switch p.fphase {
	case fDiscover:
		p.sendFollowerInfo()
	case fEpochAcked:
		p.send(p.ackEpochMsg)
	case fSynced:
		p.send(Message{Type: MsgAckNewLeader, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: p.lastZxid()})
	}
}

// epochSummary lists the last zxid of each epoch present in the log.
func (p *Peer) epochSummary() []Zxid {
	var s []Zxid
	if p.snapZxid != 0 && (len(p.log) == 0 || p.log[0].Zxid.Epoch() != p.snapZxid.Epoch()) {
		s = append(s, p.snapZxid)
	}
	for i, e := range p.log {
		if i+1 == len(p.log) || p.log[i+1].Zxid.Epoch() != e.Zxid.Epoch() {
			s = append(s, e.Zxid)
		}
	}
	return s
}

func (p *Peer) stepFollower(m Message) error {
	if m.Type == MsgVote {
		if m.State == StateLooking {
			p.send(p.myNotification(m.From))
		}
		return nil
	}
	if m.From != p.leader || m.Session != p.session {
		return nil
	}
	if p.epoch != 0 && m.Epoch != p.epoch {
		return nil
	}
	p.heard = p.now
	switch m.Type {
	case MsgNewEpoch:
		if p.fphase != fDiscover {
			return nil
		}
		counts := true
		switch {
		case m.Epoch > p.acceptedEpoch:
			// Persisted by the Ready that carries the ACKEPOCH, before it
			// is sent (ZOOKEEPER-335, 1081, 1282).
			p.acceptedEpoch = m.Epoch
		case m.Epoch == p.acceptedEpoch:
			counts = false // acked this epoch before: may not count twice
		default:
			p.becomeLooking()
			return nil
		}
		p.epoch = m.Epoch
		p.fphase = fEpochAcked
		p.ackEpochMsg = Message{Type: MsgAckEpoch, To: p.leader, Session: p.session, Epoch: p.currentEpoch,
			Counts: counts, Zxid: p.lastZxid(), Epochs: p.epochSummary()}
		p.send(p.ackEpochMsg)
	case MsgNewLeader:
		if p.fphase != fEpochAcked {
			if p.fphase >= fSynced {
				p.send(Message{Type: MsgAckNewLeader, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: p.lastZxid()})
			}
			return nil
		}
		if m.Zxid < p.commit {
			p.becomeLooking()
			return fmt.Errorf("broadcast: peer %d: sync from %v below committed %v: %w", p.id, m.Zxid, p.commit, ErrInvariant)
		}
		if m.Snapshot != nil {
			// SNAP: the leader's committed prefix replaces ours. It is
			// durable (Ready.Snapshot, before the ACK) before anything
			// depends on it (ZOOKEEPER-3642).
			s := *m.Snapshot
			p.pendingSnap = &s
			p.snapZxid = s.Zxid
			p.log = nil
			p.stableIdx = 0
			p.truncPending = false
			p.commit = max(p.commit, s.Zxid)
		} else if m.Truncate {
			// TRUNC: exactly to the divergence point, never below a
			// delivered txn (ZOOKEEPER-1154, 1156).
			p.truncateAfter(m.Zxid)
		}
		if p.lastZxid() != m.Zxid {
			p.becomeLooking()
			return fmt.Errorf("broadcast: peer %d: sync continues %v but log ends at %v: %w", p.id, m.Zxid, p.lastZxid(), ErrInvariant)
		}
		for _, e := range m.Entries {
			if e.Zxid <= p.lastZxid() {
				p.becomeLooking()
				return fmt.Errorf("broadcast: peer %d: sync entry %v not above %v: %w", p.id, e.Zxid, p.lastZxid(), ErrInvariant)
			}
			p.log = append(p.log, e)
		}
		// Persisted, with the synced txns, by the Ready that carries the
		// ACK(NEWLEADER) (ZOOKEEPER-3911, 4643, 4646, 4685).
		p.currentEpoch = p.epoch
		p.fphase = fSynced
		p.commit = max(p.commit, min(m.Commit, p.lastZxid()))
		p.send(Message{Type: MsgAckNewLeader, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: p.lastZxid()})
	case MsgUpToDate:
		if p.fphase < fSynced {
			return nil
		}
		p.fphase = fServing
		p.commit = max(p.commit, min(m.Commit, p.lastZxid()))
	case MsgProposal:
		if p.fphase < fSynced || len(m.Entries) == 0 {
			return nil
		}
		last := p.lastZxid()
		if m.Entries[len(m.Entries)-1].Zxid <= last {
			p.send(Message{Type: MsgAck, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: last})
			return nil
		}
		if m.Zxid < last && last.Epoch() == p.epoch {
			// It overlaps what we hold (a resend crossing the original):
			// within this leader's epoch a zxid names one txn, so keep
			// only the entries after our last.
			k := slices.IndexFunc(m.Entries, func(e Entry) bool { return e.Zxid == last })
			if k >= 0 {
				m.Entries, m.Zxid = m.Entries[k+1:], last
			}
		}
		if m.Zxid != last {
			// Not the next txn: never leave a hole (ZOOKEEPER-2099,
			// 4925). Ask for a resend from our last zxid now (once per
			// tick), rather than at the next ping.
			if p.nackAt != p.now {
				p.nackAt = p.now
				p.send(Message{Type: MsgPingResp, To: p.leader, Session: p.session, Epoch: p.epoch,
					Zxid: last, Counts: true})
			}
			return nil
		}
		prev := last
		for _, e := range m.Entries {
			ok := e.Zxid.Epoch() == p.epoch &&
				((prev.Epoch() == p.epoch && e.Zxid.Counter() == prev.Counter()+1) ||
					(prev.Epoch() < p.epoch && e.Zxid.Counter() == 1))
			if !ok {
				return nil
			}
			prev = e.Zxid
		}
		p.log = append(p.log, m.Entries...)
		p.send(Message{Type: MsgAck, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: p.lastZxid()})
	case MsgCommit:
		if p.fphase >= fSynced {
			p.commit = max(p.commit, min(m.Commit, p.lastZxid()))
		}
	case MsgPing:
		if p.fphase >= fSynced {
			p.commit = max(p.commit, min(m.Commit, p.lastZxid()))
		}
		p.send(Message{Type: MsgPingResp, To: p.leader, Session: p.session, Epoch: p.epoch, Zxid: p.lastZxid(),
			Counts: p.fphase >= fSynced})
	}
	return nil
}
