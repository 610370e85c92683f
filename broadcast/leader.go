package broadcast

import "slices"

// resendBatch bounds how many txns one ping response makes the leader
// resend to a lagging follower.
const resendBatch = 1024

func (p *Peer) becomeLeader() {
	p.state = StateLeading
	p.leader = p.id
	p.epoch = 0
	p.lphase = lDiscover
	p.roleSince = p.now
	p.learners = map[uint64]*learner{}
	p.leaderProgress()
}

func (p *Peer) tickLeader() {
	if p.lphase != lEstablished {
		if p.now-p.roleSince > int64(2*p.election) {
			p.becomeLooking()
			return
		}
	} else {
		heard := 1
		for _, id := range p.voters {
			if l := p.learners[id]; l != nil && p.now-l.heard <= int64(p.syncLimit) {
				heard++
			}
		}
		if heard < p.quorum {
			p.becomeLooking() // lost the quorum: step down within SyncLimitTicks
			return
		}
	}
	if p.now%int64(p.heartbeat) == 0 {
		for _, id := range p.members {
			if l := p.learners[id]; l != nil {
				p.send(Message{Type: MsgPing, To: id, Session: l.session, Epoch: p.epoch, Commit: p.commit})
			}
		}
	}
}

// leaderProgress moves the leader through discovery and synchronization
// as soon as each quorum is there.
func (p *Peer) leaderProgress() {
	switch p.lphase {
	case lDiscover:
		n := 1
		maxAccepted := p.acceptedEpoch
		for _, id := range p.members {
			if l := p.learners[id]; l != nil {
				if p.isVoter(id) {
					n++
				}
				maxAccepted = max(maxAccepted, l.accepted)
			}
		}
		if n < p.quorum {
			return
		}
		p.epoch = maxAccepted + 1
		p.acceptedEpoch = p.epoch // durable before NEWEPOCH leaves (same Ready)
		p.lphase = lEpochWait
		for _, id := range p.members {
			if l := p.learners[id]; l != nil {
				p.send(Message{Type: MsgNewEpoch, To: id, Session: l.session, Epoch: p.epoch})
			}
		}
	case lEpochWait:
		if p.stableAccepted != p.epoch {
			return
		}
		n := 1
		for _, id := range p.voters {
			if l := p.learners[id]; l != nil && l.ackEpoch != nil && l.ackEpoch.Counts {
				n++
			}
		}
		if n < p.quorum {
			return
		}
		// A follower ahead of us would lose txns that may be committed:
		// give up and elect again (ZooKeeper's "Follower is ahead").
		for _, id := range p.voters {
			if l := p.learners[id]; l != nil && l.ackEpoch != nil {
				a := l.ackEpoch
				if a.Epoch > p.currentEpoch || (a.Epoch == p.currentEpoch && a.Zxid > p.lastZxid()) {
					p.becomeLooking()
					return
				}
			}
		}
		p.currentEpoch = p.epoch
		p.lphase = lSync
		for _, id := range p.members {
			if l := p.learners[id]; l != nil && l.ackEpoch != nil {
				p.sendSync(id, l)
			}
		}
		p.leaderProgress()
	case lSync:
		if p.stableCurrent != p.epoch {
			return
		}
		n := 1
		for _, id := range p.voters {
			if l := p.learners[id]; l != nil && l.synced {
				n++
			}
		}
		if n < p.quorum {
			return
		}
		// A quorum holds our whole history durably: it is committed.
		p.lphase = lEstablished
		p.commit = p.lastZxid()
		for _, id := range p.members {
			if l := p.learners[id]; l != nil {
				l.heard = p.now
				if l.synced {
					p.send(Message{Type: MsgUpToDate, To: id, Session: l.session, Epoch: p.epoch, Commit: p.commit})
				}
			}
		}
	case lEstablished:
		p.maybeCommit()
	}
}

// divergence is the last zxid both our log and a follower's hold, from
// the follower's per-epoch summary. Within an epoch both logs hold
// counters 1..k of the same txns, so the shared prefix per epoch is the
// smaller k; comparing whole (epoch, counter) histories avoids
// ZOOKEEPER-2832.
//
// Below our snapshot we no longer know where each epoch ended; a result
// below p.snapZxid means the follower needs SNAP.
func (p *Peer) divergence(summary []Zxid) Zxid {
	var d Zxid
	for _, f := range summary {
		e := f.Epoch()
		var last Zxid
		if i := p.search(MakeZxid(e+1, 0)) - 1; i >= 0 && p.log[i].Zxid.Epoch() == e {
			last = p.log[i].Zxid
		} else if p.snapZxid.Epoch() == e {
			last = p.snapZxid
		} else {
			continue
		}
		d = max(d, min(f, last))
	}
	return d
}

// sendSync sends NEWLEADER with the DIFF (or TRUNC then DIFF) that makes
// the follower's log a copy of ours.
func (p *Peer) sendSync(id uint64, l *learner) {
	a := l.ackEpoch
	d := p.divergence(a.Epochs)
	m := Message{Type: MsgNewLeader, To: id, Session: l.session, Epoch: p.epoch, Commit: p.commit}
	if d < p.snapZxid {
		// SNAP: the follower diverges (or ends) inside our snapshot. The
		// snapshot holds only committed txns (ZOOKEEPER-1549).
		snap, err := p.storage.Snapshot()
		if err != nil || snap.Zxid != p.snapZxid {
			return // the driver's snapshot is not the one we compacted to; retried on the next ACKEPOCH
		}
		m.Snapshot = &snap
		m.Zxid = snap.Zxid
		m.Entries = slices.Clone(p.log)
	} else {
		m.Zxid, m.Truncate, m.Entries = d, d < a.Zxid, slices.Clone(p.log[p.search(d+1):])
	}
	p.send(m)
	l.syncSent = true
}

func (p *Peer) stepLeader(m Message) {
	if m.Type == MsgVote {
		if m.State == StateLooking {
			p.send(p.myNotification(m.From))
		}
		return
	}
	l := p.learners[m.From]
	if m.Type == MsgFollowerInfo {
		if l == nil || l.session != m.Session {
			l = &learner{session: m.Session, accepted: m.Epoch}
			p.learners[m.From] = l
		}
		l.heard = p.now
		if p.lphase != lDiscover && m.Epoch > p.epoch {
			// The follower promised a later epoch (to a leader that never
			// established) and will refuse ours: elect again, so that the
			// next epoch is above its promise.
			p.becomeLooking()
			return
		}
		if p.lphase == lDiscover {
			p.leaderProgress()
		} else {
			p.send(Message{Type: MsgNewEpoch, To: m.From, Session: l.session, Epoch: p.epoch})
		}
		return
	}
	if l == nil || l.session != m.Session || p.epoch == 0 {
		return
	}
	l.heard = p.now
	switch m.Type {
	case MsgAckEpoch:
		if l.ackEpoch == nil {
			a := m
			l.ackEpoch = &a
		}
		if p.lphase == lEpochWait {
			p.leaderProgress()
		} else if p.lphase >= lSync && !l.synced {
			p.sendSync(m.From, l)
		}
	case MsgAckNewLeader:
		if !l.syncSent || m.Epoch != p.epoch {
			return
		}
		l.match = max(l.match, m.Zxid)
		if !l.synced {
			l.synced = true
			if p.lphase == lSync {
				p.leaderProgress()
			} else if p.lphase == lEstablished {
				p.send(Message{Type: MsgUpToDate, To: m.From, Session: l.session, Epoch: p.epoch, Commit: p.commit})
				p.maybeCommit()
			}
		} else if p.lphase == lEstablished {
			p.send(Message{Type: MsgUpToDate, To: m.From, Session: l.session, Epoch: p.epoch, Commit: p.commit})
		}
	case MsgAck:
		if l.synced && m.Epoch == p.epoch {
			l.match = max(l.match, m.Zxid)
			p.maybeCommit()
		}
	case MsgPingResp:
		if !m.Counts || !l.synced || m.Epoch != p.epoch {
			return
		}
		l.match = max(l.match, m.Zxid)
		p.maybeCommit()
		if p.lphase == lEstablished && m.Zxid < p.snapZxid {
			// Behind our snapshot: the log cannot catch it up. Drop the
			// session; it times out, rejoins, and gets a SNAP.
			delete(p.learners, m.From)
			return
		}
		if p.lphase == lEstablished && m.Zxid < p.lastZxid() {
			i := p.search(m.Zxid + 1)
			if (i == 0 && m.Zxid != p.snapZxid) || (i > 0 && p.log[i-1].Zxid != m.Zxid) {
				return
			}
			j := min(len(p.log), i+resendBatch)
			p.send(Message{Type: MsgProposal, To: m.From, Session: l.session, Epoch: p.epoch,
				Zxid: m.Zxid, Entries: slices.Clone(p.log[i:j])})
		}
	}
}

// maybeCommit commits the highest zxid of this epoch that a quorum
// (ourselves included, once durable) has acked, and everything before it.
func (p *Peer) maybeCommit() {
	if p.lphase != lEstablished {
		return
	}
	matches := make([]Zxid, 0, len(p.voters))
	for _, id := range p.voters {
		switch l := p.learners[id]; {
		case id == p.id:
			if p.stableIdx > 0 {
				matches = append(matches, p.log[p.stableIdx-1].Zxid)
			} else {
				matches = append(matches, 0)
			}
		case l != nil && l.synced:
			matches = append(matches, l.match)
		default:
			matches = append(matches, 0)
		}
	}
	slices.Sort(matches)
	q := matches[len(matches)-p.quorum]
	if q <= p.commit || q.Epoch() != p.epoch {
		return
	}
	p.commit = q
	for _, id := range p.members {
		if l := p.learners[id]; l != nil && l.syncSent {
			p.send(Message{Type: MsgCommit, To: id, Session: l.session, Epoch: p.epoch, Commit: p.commit})
		}
	}
}
