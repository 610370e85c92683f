package broadcast

// MessageType names a ZAB message.
type MessageType uint8

// Message types. Election: MsgVote. Discovery: MsgFollowerInfo,
// MsgNewEpoch, MsgAckEpoch. Synchronization: MsgNewLeader (carrying the
// DIFF or TRUNC+DIFF), MsgAckNewLeader, MsgUpToDate. Broadcast:
// MsgProposal, MsgAck, MsgCommit. Heartbeats: MsgPing, MsgPingResp.
const (
	MsgVote MessageType = iota + 1
	MsgFollowerInfo
	MsgNewEpoch
	MsgAckEpoch
	MsgNewLeader
	MsgAckNewLeader
	MsgUpToDate
	MsgProposal
	MsgAck
	MsgCommit
	MsgPing
	MsgPingResp
)

var msgNames = [...]string{"", "Vote", "FollowerInfo", "NewEpoch", "AckEpoch", "NewLeader",
	"AckNewLeader", "UpToDate", "Proposal", "Ack", "Commit", "Ping", "PingResp"}

func (t MessageType) String() string {
	if int(t) < len(msgNames) && t != 0 {
		return msgNames[t]
	}
	return "Unknown"
}

// Vote is a fast-leader-election vote: the candidate and the history it
// would lead with. Votes order by (Epoch, Zxid, Leader).
type Vote struct {
	Leader uint64
	Zxid   Zxid   // the candidate's last zxid
	Epoch  uint64 // the candidate's currentEpoch (or, out of election, the epoch led)
}

func (a Vote) better(b Vote) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	if a.Zxid != b.Zxid {
		return a.Zxid > b.Zxid
	}
	return a.Leader > b.Leader
}

// Message is one ZAB message between two peers. Which fields are set
// depends on Type; the rest are zero.
type Message struct {
	Type MessageType
	From uint64
	To   uint64

	// Election (MsgVote).
	Vote  Vote
	Round uint64    // the sender's election round (logical clock)
	State StateType // the sender's state

	// Session identifies one follower's attempt to join one leader: chosen
	// by the follower in MsgFollowerInfo, echoed on every message of that
	// connection both ways. Messages from another session are stale and
	// ignored (a FIFO connection gives ZooKeeper this for free).
	Session uint64
	// Epoch: MsgFollowerInfo: the follower's acceptedEpoch; MsgNewEpoch,
	// MsgNewLeader and later: the new epoch; MsgAckEpoch: the follower's
	// currentEpoch.
	Epoch uint64
	// Counts: MsgAckEpoch: false when the follower had already accepted
	// this epoch before (ZooKeeper's -1): the ack does not count toward
	// the leader's quorum. MsgPingResp: the follower is synced with this
	// leader, so Zxid is a (cumulative) ack.
	Counts bool
	// Zxid: MsgAckEpoch, MsgAck, MsgAckNewLeader, MsgPingResp: the
	// sender's last zxid (durable when sent); MsgNewLeader: the point the
	// follower's log is cut to (TRUNC) or continues from (DIFF);
	// MsgProposal: the zxid of the entry before Entries[0].
	Zxid Zxid
	// Truncate: MsgNewLeader: cut the follower's log after Zxid first.
	Truncate bool
	// Epochs: MsgAckEpoch: the last zxid of every epoch in the follower's
	// log, ascending; the leader finds the exact divergence point from it.
	Epochs []Zxid
	// Entries: MsgNewLeader: the txns after Zxid; MsgProposal: the
	// proposed txn(s), contiguous.
	Entries []Entry
	// Snapshot: MsgNewLeader: SNAP: replace the follower's whole history
	// with this snapshot, then append Entries (Zxid is the snapshot's).
	Snapshot *Snapshot
	// Commit: MsgUpToDate, MsgCommit, MsgPing, MsgNewLeader: the leader's
	// last committed zxid.
	Commit Zxid
}
