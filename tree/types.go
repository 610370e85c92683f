package tree

import "fmt"

// Zxid is a ZooKeeper transaction id: epoch<<32 | counter. Every change to
// the tree carries the zxid of the transaction that made it.
type Zxid int64

// MakeZxid returns the zxid for counter within epoch.
func MakeZxid(epoch, counter uint32) Zxid { return Zxid(int64(epoch)<<32 | int64(counter)) }

// Epoch returns the epoch half of z.
func (z Zxid) Epoch() uint32 { return uint32(uint64(z) >> 32) }

// Counter returns the counter half of z.
func (z Zxid) Counter() uint32 { return uint32(uint64(z)) }

// String formats z in hex as ZooKeeper does, e.g. "0x100000003".
func (z Zxid) String() string { return fmt.Sprintf("0x%x", int64(z)) }

// SessionID identifies a client session. Zero means "no session" (the
// EphemeralOwner of a non-ephemeral node, or a transaction the system made).
type SessionID int64

// String formats s in hex as ZooKeeper does.
func (s SessionID) String() string { return fmt.Sprintf("0x%x", int64(s)) }

// Stat is a znode's metadata, field for field ZooKeeper's Stat. Times are
// milliseconds since the Unix epoch and come from the transaction, never from
// the local clock.
type Stat struct {
	Czxid          Zxid      `msgpack:"cz"`
	Mzxid          Zxid      `msgpack:"mz"`
	Pzxid          Zxid      `msgpack:"pz"`
	Ctime          int64     `msgpack:"ct"`
	Mtime          int64     `msgpack:"mt"`
	Version        int32     `msgpack:"v"`
	Cversion       int32     `msgpack:"cv"`
	Aversion       int32     `msgpack:"av"`
	EphemeralOwner SessionID `msgpack:"eo"`
	DataLength     int32     `msgpack:"dl"`
	NumChildren    int32     `msgpack:"nc"`
}

// CreateMode says what kind of znode a create makes. The values are
// ZooKeeper's CreateMode flags.
type CreateMode uint8

// The create modes, named as ZooKeeper's.
const (
	ModePersistent                  CreateMode = 0
	ModeEphemeral                   CreateMode = 1
	ModePersistentSequential        CreateMode = 2
	ModeEphemeralSequential         CreateMode = 3
	ModeContainer                   CreateMode = 4
	ModePersistentWithTTL           CreateMode = 5
	ModePersistentSequentialWithTTL CreateMode = 6

	maxCreateMode = ModePersistentSequentialWithTTL
)

// AnyVersion matches every version in a conditional delete, setData or check.
const AnyVersion int32 = -1

// IsSequential reports whether m appends a sequence suffix to the name.
func (m CreateMode) IsSequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential || m == ModePersistentSequentialWithTTL
}

// IsEphemeral reports whether m makes a node that dies with its session.
func (m CreateMode) IsEphemeral() bool { return m == ModeEphemeral || m == ModeEphemeralSequential }

// IsTTL reports whether m makes a persistent node with a time to live.
func (m CreateMode) IsTTL() bool {
	return m == ModePersistentWithTTL || m == ModePersistentSequentialWithTTL
}

// IsContainer reports whether m makes a container node.
func (m CreateMode) IsContainer() bool { return m == ModeContainer }

// Valid reports whether m is one of the defined modes.
func (m CreateMode) Valid() bool { return m <= maxCreateMode }

// String returns ZooKeeper's name for m.
func (m CreateMode) String() string {
	switch m {
	case ModePersistent:
		return "PERSISTENT"
	case ModeEphemeral:
		return "EPHEMERAL"
	case ModePersistentSequential:
		return "PERSISTENT_SEQUENTIAL"
	case ModeEphemeralSequential:
		return "EPHEMERAL_SEQUENTIAL"
	case ModeContainer:
		return "CONTAINER"
	case ModePersistentWithTTL:
		return "PERSISTENT_WITH_TTL"
	case ModePersistentSequentialWithTTL:
		return "PERSISTENT_SEQUENTIAL_WITH_TTL"
	}
	return fmt.Sprintf("CreateMode(%d)", uint8(m))
}

// OpType names one operation inside a transaction.
type OpType uint8

// The operations a transaction can carry.
const (
	// OpCreate creates Path with Data in Mode (TTL in milliseconds for TTL modes).
	OpCreate OpType = 1
	// OpDelete deletes Path if its version matches Version (-1: any).
	OpDelete OpType = 2
	// OpSetData replaces Path's data if its version matches Version (-1: any).
	OpSetData OpType = 3
	// OpCheck fails unless Path exists with version Version (-1: any); it changes nothing.
	OpCheck OpType = 4
	// OpDeleteExpired deletes Path only if, when applied, it is a container
	// that has had children and has none, or a TTL node with no children whose
	// TTL has passed since its mtime (by the transaction's Time). The leader
	// proposes these; a node that changed in between is left alone.
	OpDeleteExpired OpType = 5
)

// String returns the op's name.
func (o OpType) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpSetData:
		return "setData"
	case OpCheck:
		return "check"
	case OpDeleteExpired:
		return "deleteExpired"
	}
	return fmt.Sprintf("OpType(%d)", uint8(o))
}

// Op is one operation of a transaction or of a multi.
type Op struct {
	Type    OpType     `msgpack:"t"`
	Path    string     `msgpack:"p"`
	Data    []byte     `msgpack:"d,omitempty"`
	Version int32      `msgpack:"v,omitempty"`
	Mode    CreateMode `msgpack:"m,omitempty"`
	TTL     int64      `msgpack:"ttl,omitempty"`
}

// TxnKind says what a transaction does.
type TxnKind uint8

// The transaction kinds.
const (
	// TxnOps applies Ops[0] alone.
	TxnOps TxnKind = 1
	// TxnMulti applies every op in Ops atomically: all or nothing.
	TxnMulti TxnKind = 2
	// TxnCreateSession adds Session with Timeout (ms) and Password to the
	// session table.
	TxnCreateSession TxnKind = 3
	// TxnCloseSession removes Session from the session table and deletes
	// every ephemeral it owns, in this one transaction.
	TxnCloseSession TxnKind = 4
	// TxnNoop changes nothing but the last zxid (a new epoch's first txn).
	TxnNoop TxnKind = 5
)

// Txn is a replicated transaction. Everything Apply needs is in it, so every
// peer that applies the same txns in the same order gets the same tree.
type Txn struct {
	Zxid     Zxid      `msgpack:"z"`
	Time     int64     `msgpack:"tm"` // ms since the Unix epoch, from the proposer's clock
	Session  SessionID `msgpack:"s"`  // the session that asked for it; 0 for the system
	Kind     TxnKind   `msgpack:"k"`
	Ops      []Op      `msgpack:"o,omitempty"`
	Timeout  int32     `msgpack:"to,omitempty"` // TxnCreateSession: negotiated timeout, ms
	Password []byte    `msgpack:"pw,omitempty"` // TxnCreateSession: the session's password
}

// OpResult is the outcome of one op.
type OpResult struct {
	Type OpType `msgpack:"t"`
	Path string `msgpack:"p,omitempty"` // OpCreate: the created path (with sequence suffix)
	Stat Stat   `msgpack:"s"`           // the node's Stat after the op (zero for delete and check)
	Err  error  `msgpack:"-"`           // nil, or one of this package's sentinel errors
}

// Result is the outcome of applying a Txn. For TxnOps, Ops has one entry and
// Err is that entry's Err. For TxnMulti, Err is the first failing op's error
// (nil if all succeeded); when it is set nothing was changed, the failing op
// carries its error and the others carry ErrRolledBack or ErrRuntimeInconsistency
// as ZooKeeper reports them.
type Result struct {
	Err error
	Ops []OpResult
}

// EventType is the kind of a watch event, as ZooKeeper names them.
type EventType uint8

// The watch event kinds.
const (
	EventNodeCreated         EventType = 1
	EventNodeDeleted         EventType = 2
	EventNodeDataChanged     EventType = 3
	EventNodeChildrenChanged EventType = 4
)

// String returns ZooKeeper's name for e.
func (e EventType) String() string {
	switch e {
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return fmt.Sprintf("EventType(%d)", uint8(e))
}

// Event is one change to the tree that watches may be waiting for.
type Event struct {
	Type EventType `msgpack:"t"`
	Path string    `msgpack:"p"`
	Zxid Zxid      `msgpack:"z"`
}

// Session is a row of the replicated session table.
type Session struct {
	ID       SessionID
	Timeout  int32 // ms
	Password []byte
}
