package wire

import "github.com/zabkit/zabkit/tree"

// ProtocolVersion is sent in every handshake. A server refuses a client whose
// version it does not speak with CodeBadProtocol.
const ProtocolVersion = 1

// DefaultMaxFrame is the default cap on one frame's body (1 MiB of data plus
// room for the envelope), checked before anything is allocated.
const DefaultMaxFrame = 1<<20 + 64<<10

// OpCode names a client request.
type OpCode uint8

// The request op codes.
const (
	OpPing           OpCode = 1  // keeps the session alive; reply has no body
	OpCreate         OpCode = 2  // Path, Data, Mode, TTL -> Path, Stat
	OpDelete         OpCode = 3  // Path, Version
	OpSetData        OpCode = 4  // Path, Data, Version -> Stat
	OpGetData        OpCode = 5  // Path, Watch -> Data, Stat
	OpExists         OpCode = 6  // Path, Watch -> Stat (CodeNoNode if missing; the watch is set either way)
	OpGetChildren    OpCode = 7  // Path, Watch, After, Max -> Children (sorted), Stat, More
	OpMulti          OpCode = 8  // Ops -> Results
	OpSync           OpCode = 9  // Path -> Path; later reads see every write committed before it
	OpGetEphemerals  OpCode = 10 // Path (prefix, "/" for all) -> Children (full paths)
	OpCheck          OpCode = 11 // Path, Version (alone; inside a multi use tree.OpCheck)
	OpAddWatch       OpCode = 12 // Path, WatchMode: persistent or persistent-recursive
	OpRemoveWatches  OpCode = 13 // Path, WatchType -> CodeNoWatcher if none matched
	OpSetWatches     OpCode = 14 // RelZxid, Watches: re-registers watches after reconnect
	OpCountChildren  OpCode = 15 // Path -> Count (all descendants, ZooKeeper's getAllChildrenNumber)
	OpCloseSession   OpCode = 16 // ends the session; ephemerals go at once
	OpLinearizedRead OpCode = 17 // Path -> Data, Stat, as OpGetData but linearizable (read-index)
)

// WatchMode is the mode of an OpAddWatch request (ZooKeeper's AddWatchMode).
type WatchMode uint8

// The persistent watch modes.
const (
	WatchPersistent          WatchMode = 0
	WatchPersistentRecursive WatchMode = 1
)

// WatchType selects which watches OpRemoveWatches removes (ZooKeeper's WatcherType).
type WatchType uint8

// The watch types for OpRemoveWatches.
const (
	WatchTypeChildren WatchType = 1
	WatchTypeData     WatchType = 2 // data and exists watches
	WatchTypeAny      WatchType = 3 // every watch on the path, persistent ones included
	// WatchTypePersistent removes the persistent (non-recursive) watch only.
	WatchTypePersistent WatchType = 4
	// WatchTypePersistentRecursive removes the persistent recursive watch only.
	WatchTypePersistentRecursive WatchType = 5
)

// Xids the server uses for frames that answer no request.
const (
	XidWatchEvent int64 = -1 // Response.Event is set
)

// ConnectRequest is the first frame a client sends on a new connection.
// SessionID 0 asks for a new session; otherwise the client resumes that
// session and must present its Password.
type ConnectRequest struct {
	ProtocolVersion int32          `msgpack:"pv"`
	LastZxidSeen    tree.Zxid      `msgpack:"lz"`
	Timeout         int32          `msgpack:"to"` // requested session timeout, ms
	SessionID       tree.SessionID `msgpack:"s"`
	Password        []byte         `msgpack:"pw"`
	// Admin, when set, asks for an admin answer instead of a session:
	// AdminStatus gets a ConnectResponse whose Status holds the peer's
	// status, then the server closes the connection. It works while the
	// peer is looking for a leader too.
	Admin string `msgpack:"adm,omitempty"`
}

// AdminStatus is the ConnectRequest.Admin value that asks for a PeerStatus.
const AdminStatus = "status"

// ConnectResponse answers a ConnectRequest. Code is CodeOK, or the reason the
// server refused (CodeSessionExpired, CodeAuthFailed, CodeBadProtocol,
// CodeTooManyConnections, CodeStaleServer when the server has not yet seen
// LastZxidSeen); after a refusal the server closes the connection.
type ConnectResponse struct {
	Code            Code           `msgpack:"c"`
	Message         string         `msgpack:"msg,omitempty"`
	ProtocolVersion int32          `msgpack:"pv"`
	Timeout         int32          `msgpack:"to"` // negotiated timeout, ms
	SessionID       tree.SessionID `msgpack:"s"`
	Password        []byte         `msgpack:"pw"`
	ServerID        uint32         `msgpack:"sid"`
	LastZxid        tree.Zxid      `msgpack:"lz"`
	MaxFrame        int32          `msgpack:"mf"` // the largest body the server accepts
	// Status answers an AdminStatus request: a msgpack-encoded PeerStatus
	// (DecodePeerStatus reads it).
	Status []byte `msgpack:"st,omitempty"`
}

// PeerStatus is one peer's answer to an AdminStatus request: what `zabkit
// status` shows.
type PeerStatus struct {
	ServerID uint32 `msgpack:"id"`
	// Role is "standalone", "leading", "following", "observing",
	// "looking", or "halted" (a member whose writes halted after a
	// storage failure or a broken invariant: restart it).
	Role string `msgpack:"role"`
	// Serving reports whether the peer serves clients now: standalone, an
	// established leader, or a follower/observer its leader has brought up
	// to date.
	Serving bool `msgpack:"serving,omitempty"`
	// Leader is the server id of the leader this peer leads or follows
	// (0 while looking or standalone).
	Leader uint32 `msgpack:"leader,omitempty"`
	// Epoch is the epoch led or followed (0 while looking); AcceptedEpoch
	// and CurrentEpoch are the durable ZAB epochs.
	Epoch         uint64 `msgpack:"epoch,omitempty"`
	AcceptedEpoch uint64 `msgpack:"ae,omitempty"`
	CurrentEpoch  uint64 `msgpack:"ce,omitempty"`
	// LastZxid is the last txn applied to the tree; LogZxid the last txn in
	// the log (maybe not yet committed); Committed the last known committed.
	LastZxid  tree.Zxid `msgpack:"lz"`
	LogZxid   tree.Zxid `msgpack:"logz,omitempty"`
	Committed tree.Zxid `msgpack:"cz,omitempty"`
	// Sessions, Nodes, Watches, Connections count the live sessions,
	// znodes ("/" included), registered watches and open client
	// connections.
	Sessions    int `msgpack:"sess"`
	Nodes       int `msgpack:"nodes"`
	Watches     int `msgpack:"watches"`
	Connections int `msgpack:"conns"`
	// Digest is the tree's digest at LastZxid: peers at the same LastZxid
	// have equal digests unless their trees differ.
	Digest uint64 `msgpack:"digest"`
	// Members lists every configured member as this peer knows it (empty
	// for a standalone peer).
	Members []MemberStatus `msgpack:"members,omitempty"`
}

// MemberStatus is one configured member as a peer sees it.
type MemberStatus struct {
	ID       uint32 `msgpack:"id"`
	Observer bool   `msgpack:"obs,omitempty"`
	PeerAddr string `msgpack:"peer"`
	// ClientAddr is where the member serves clients, when gossip has told
	// (empty if unknown).
	ClientAddr string `msgpack:"client,omitempty"`
	// Connected reports whether this peer has a live ZAB connection to it
	// (always true for the peer itself).
	Connected bool `msgpack:"up,omitempty"`
}

// Request is one client request after the handshake. Fields a given op does
// not use are left zero and cost nothing on the wire.
type Request struct {
	Xid       int64           `msgpack:"x"`
	Op        OpCode          `msgpack:"o"`
	Path      string          `msgpack:"p,omitempty"`
	Data      []byte          `msgpack:"d,omitempty"`
	Version   int32           `msgpack:"v,omitempty"`
	Mode      tree.CreateMode `msgpack:"m,omitempty"`
	TTL       int64           `msgpack:"ttl,omitempty"` // ms
	Watch     bool            `msgpack:"w,omitempty"`
	WatchMode WatchMode       `msgpack:"wm,omitempty"`
	WatchType WatchType       `msgpack:"wt,omitempty"`
	After     string          `msgpack:"af,omitempty"` // OpGetChildren: list names after this one
	Max       int32           `msgpack:"mx,omitempty"` // OpGetChildren: at most this many names (0: all that fit)
	Ops       []tree.Op       `msgpack:"ops,omitempty"`
	RelZxid   tree.Zxid       `msgpack:"rz,omitempty"`
	Watches   *WatchSet       `msgpack:"ws,omitempty"`
}

// WatchSet lists the watches a client re-registers with OpSetWatches after a
// reconnect. The server fires at once any watch whose node changed after
// RelZxid, as ZooKeeper's setWatches does.
type WatchSet struct {
	Data                []string `msgpack:"d,omitempty"`
	Exist               []string `msgpack:"e,omitempty"`
	Child               []string `msgpack:"c,omitempty"`
	Persistent          []string `msgpack:"p,omitempty"`
	PersistentRecursive []string `msgpack:"r,omitempty"`
}

// OpResult is one op's outcome inside a multi's reply.
type OpResult struct {
	Type tree.OpType `msgpack:"t"`
	Code Code        `msgpack:"c"`
	Path string      `msgpack:"p,omitempty"`
	Stat *tree.Stat  `msgpack:"s,omitempty"`
}

// Response answers the Request with the same Xid, or carries a watch event
// (Xid == XidWatchEvent). Zxid is the last zxid the server had applied when
// it answered; the client keeps the largest it has seen.
type Response struct {
	Xid      int64       `msgpack:"x"`
	Zxid     tree.Zxid   `msgpack:"z"`
	Code     Code        `msgpack:"c,omitempty"`
	Message  string      `msgpack:"msg,omitempty"` // detail for a non-OK code
	Path     string      `msgpack:"p,omitempty"`
	Data     []byte      `msgpack:"d,omitempty"`
	Stat     *tree.Stat  `msgpack:"s,omitempty"`
	Children []string    `msgpack:"ch,omitempty"`
	More     bool        `msgpack:"mo,omitempty"` // OpGetChildren: more names follow the last one
	Count    int64       `msgpack:"n,omitempty"`
	Results  []OpResult  `msgpack:"r,omitempty"`
	Event    *tree.Event `msgpack:"e,omitempty"`
}
