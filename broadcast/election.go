package broadcast

// Fast leader election. A looking peer votes for itself, adopts any
// better vote it hears in its round, and settles once a quorum of the
// voting set agrees on its vote and no better vote arrived during a short
// wait. It joins an ensemble that already runs when a quorum of peers out
// of election name the same leader and that leader says it leads.
// Election only chooses; safety rests on discovery (epochs) and
// synchronization.

func (p *Peer) selfVote() Vote {
	return Vote{Leader: p.id, Zxid: p.lastZxid(), Epoch: p.currentEpoch}
}

// becomeLooking leaves any role and starts a new election round. The
// in-memory state is the durable prefix plus what the pending Ready will
// make durable before any later message leaves, and nothing uncommitted
// has been delivered, so there is nothing to rebuild (ZOOKEEPER-2845).
func (p *Peer) becomeLooking() {
	p.state = StateLooking
	p.leader, p.epoch, p.session = 0, 0, 0
	p.learners = nil
	p.round++
	p.vote = p.selfVote()
	p.recv = map[uint64]Vote{p.id: p.vote}
	p.outOfElection = map[uint64]Message{}
	p.decideAt = 0
	p.lookingSince = p.now
	p.lookTimeout = int64(p.election + p.rand.IntN(p.election+1))
	p.broadcastVote()
	p.checkVotes()
}

func (p *Peer) myNotification(to uint64) Message {
	m := Message{Type: MsgVote, To: to, Round: p.round, State: p.state, Vote: p.vote}
	if p.state != StateLooking {
		m.Vote = Vote{Leader: p.leader, Epoch: p.epoch}
	}
	return m
}

func (p *Peer) broadcastVote() {
	p.lastSent = p.now
	for _, id := range p.voters {
		if id != p.id {
			p.send(p.myNotification(id))
		}
	}
}

func (p *Peer) tickLooking() {
	if p.decideAt != 0 && p.now >= p.decideAt {
		p.decide()
		return
	}
	if p.now-p.lookingSince >= p.lookTimeout {
		p.becomeLooking()
		return
	}
	if p.now-p.lastSent >= int64(p.heartbeat) {
		p.broadcastVote()
	}
}

func (p *Peer) agreeing(v Vote) int {
	n := 0
	for _, id := range p.voters {
		if w, ok := p.recv[id]; ok && w == v {
			n++
		}
	}
	return n
}

// checkVotes starts the final wait when a quorum agrees with our vote.
func (p *Peer) checkVotes() {
	if p.observer {
		return // observers never settle an election, they find its result
	}
	if p.agreeing(p.vote) >= p.quorum {
		if p.decideAt == 0 {
			p.decideAt = p.now + int64(p.heartbeat)
			if len(p.voters) == 1 {
				p.decide()
			}
		}
	} else {
		p.decideAt = 0
	}
}

func (p *Peer) decide() {
	if p.agreeing(p.vote) < p.quorum {
		p.decideAt = 0
		return
	}
	if p.vote.Leader == p.id {
		p.becomeLeader()
	} else {
		p.becomeFollower(p.vote.Leader)
	}
}

func (p *Peer) stepLooking(m Message) {
	if m.Type != MsgVote {
		return
	}
	if !p.isVoter(m.From) {
		// An observer looking for the leader: tell it what we know, but
		// its vote counts for nothing.
		if m.State == StateLooking {
			p.send(p.myNotification(m.From))
		}
		return
	}
	if m.State != StateLooking {
		p.outOfElection[m.From] = m
		l := m.Vote.Leader
		lm, ok := p.outOfElection[l]
		if l == p.id || !ok || lm.State != StateLeading || lm.Vote.Leader != l {
			return
		}
		n := 0
		for _, id := range p.voters {
			if o, ok := p.outOfElection[id]; ok && o.Vote.Leader == l && o.Vote.Epoch == lm.Vote.Epoch {
				n++
			}
		}
		if n >= p.quorum {
			p.becomeFollower(l)
		}
		return
	}
	if p.observer {
		return
	}
	switch {
	case m.Round > p.round:
		p.round = m.Round
		p.recv = map[uint64]Vote{}
		p.vote = p.selfVote()
		if m.Vote.better(p.vote) {
			p.vote = m.Vote
		}
		p.recv[p.id] = p.vote
		p.decideAt = 0
		p.broadcastVote()
	case m.Round < p.round:
		p.send(p.myNotification(m.From))
		return
	case m.Vote.better(p.vote):
		p.vote = m.Vote
		p.recv[p.id] = p.vote
		p.decideAt = 0
		p.broadcastVote()
	}
	p.recv[m.From] = m.Vote
	p.checkVotes()
}
