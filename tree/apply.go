package tree

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// Apply applies txn and returns its Result and the watch events it caused,
// in the order ZooKeeper fires them (create /a/b: NodeCreated /a/b then
// NodeChildrenChanged /a; delete: NodeDeleted then NodeChildrenChanged of
// the parent; TxnCloseSession: those two for each ephemeral, by path).
//
// A txn that fails (Result.Err set) changes nothing but LastZxid, which
// every applied txn advances. The error is non-nil only for a broken
// invariant: a txn whose zxid is not above LastZxid gets ErrZxidOrder and
// is not applied (a nil txn gets ErrBadArguments).
func (t *Tree) Apply(txn *Txn) (Result, []Event, error) {
	if txn == nil {
		return Result{}, nil, fmt.Errorf("%w: nil txn", ErrBadArguments)
	}
	if txn.Zxid <= t.lastZxid {
		return Result{}, nil, fmt.Errorf("%w: txn %v after %v", ErrZxidOrder, txn.Zxid, t.lastZxid)
	}
	t.refreshCow()
	t.lastZxid = txn.Zxid
	var res Result
	var evs []Event
	switch txn.Kind {
	case TxnOps:
		if len(txn.Ops) != 1 {
			res.Err = fmt.Errorf("%w: a TxnOps txn carries %d ops, not 1", ErrBadArguments, len(txn.Ops))
			break
		}
		r := t.applyOp(txn, &txn.Ops[0], &evs)
		res = Result{Err: r.Err, Ops: []OpResult{r}}
	case TxnMulti:
		res, evs = t.applyMulti(txn)
	case TxnCreateSession:
		res.Err = t.createSession(txn)
	case TxnCloseSession:
		res.Err = t.closeSession(txn, &evs)
	case TxnNoop:
	default:
		res.Err = fmt.Errorf("%w: unknown txn kind %d", ErrBadArguments, txn.Kind)
	}
	return res, evs, nil
}

// refreshCow stops copying on write once every Frozen view is released.
func (t *Tree) refreshCow() {
	if (t.cowGen != 0 || t.sessShared) && t.live.Load() == 0 {
		t.cowGen = 0
		t.sessShared = false
	}
}

func (t *Tree) applyOp(txn *Txn, op *Op, evs *[]Event) OpResult {
	switch op.Type {
	case OpCreate:
		return t.create(txn, op, evs)
	case OpDelete:
		return t.delete(txn, op, false, evs)
	case OpDeleteExpired:
		return t.delete(txn, op, true, evs)
	case OpSetData:
		return t.setData(txn, op, evs)
	case OpCheck:
		return t.check(op)
	}
	return OpResult{Type: op.Type, Err: fmt.Errorf("%w: unknown op type %d", ErrBadArguments, op.Type)}
}

// CheckOp checks what can be checked of op without a tree: a known op
// type; for a create, a valid mode and a TTL in 1..MaxTTL for TTL modes
// (and none for the others); a valid path; and data of at most maxData
// bytes (<= 0: DefaultMaxDataBytes). Apply makes these same checks; a peer
// calls CheckOp to answer a bad request without proposing a txn. It
// returns nil or an error wrapping ErrBadArguments.
func CheckOp(op *Op, maxData int) error {
	if maxData <= 0 {
		maxData = DefaultMaxDataBytes
	}
	sequential := false
	switch op.Type {
	case OpCreate:
		mode := op.Mode
		switch {
		case !mode.Valid():
			return fmt.Errorf("%w: invalid create mode %d", ErrBadArguments, mode)
		case mode.IsTTL() && (op.TTL <= 0 || op.TTL > MaxTTL):
			return fmt.Errorf("%w: TTL %d ms out of range (1..%d)", ErrBadArguments, op.TTL, MaxTTL)
		case !mode.IsTTL() && op.TTL != 0:
			return fmt.Errorf("%w: TTL given for mode %v", ErrBadArguments, mode)
		}
		sequential = mode.IsSequential()
	case OpSetData, OpDelete, OpCheck, OpDeleteExpired:
	default:
		return fmt.Errorf("%w: unknown op %v", ErrBadArguments, op.Type)
	}
	if err := ValidatePath(op.Path, sequential); err != nil {
		return err
	}
	if len(op.Data) > maxData {
		return fmt.Errorf("%w: data of %d bytes over the %d byte limit", ErrBadArguments, len(op.Data), maxData)
	}
	return nil
}

func badArgs(typ OpType, format string, args ...any) OpResult {
	return OpResult{Type: typ, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadArguments}, args...)...)}
}

func versionOK(want, have int32) bool { return want == AnyVersion || want == have }

// incCversion adds one to a cversion, saturating: a counter at 2^31-1 stays
// there (and sequential creates under it fail) rather than wrap.
func incCversion(cv int32) int32 {
	if cv == math.MaxInt32 {
		return cv
	}
	return cv + 1
}

func (t *Tree) create(txn *Txn, op *Op, evs *[]Event) OpResult {
	const typ = OpCreate
	if err := CheckOp(op, t.maxData); err != nil {
		return OpResult{Type: typ, Err: err}
	}
	mode := op.Mode
	seq := mode.IsSequential()
	var owner SessionID
	if mode.IsEphemeral() {
		if _, ok := t.sessions[txn.Session]; !ok {
			return OpResult{Type: typ, Err: ErrNoSession}
		}
		owner = txn.Session
	}
	parentPath, name := splitPath(op.Path) // "/" (sequential only): "/", ""
	parent := t.lookup(parentPath)
	if parent == nil {
		return OpResult{Type: typ, Err: ErrNoNode}
	}
	path := op.Path
	if seq {
		cv := parent.cversion()
		if cv == math.MaxInt32 {
			return OpResult{Type: typ, Err: ErrSequenceOverflow}
		}
		b := make([]byte, 0, len(path)+10)
		b = append(b, path...)
		var digits [10]byte
		d := strconv.AppendInt(digits[:0], int64(cv), 10)
		for range 10 - len(d) {
			b = append(b, '0')
		}
		b = append(b, d...)
		path = string(b)
		name = path[len(path)-len(name)-10:]
	} else if path == "/" {
		return OpResult{Type: typ, Err: ErrNodeExists}
	}
	if parent.child(name) != nil {
		return OpResult{Type: typ, Err: ErrNodeExists}
	}
	if parent.mode().IsEphemeral() {
		return OpResult{Type: typ, Err: ErrNoChildrenForEphemerals}
	}

	// Checked: now change.
	if t.cowGen != 0 {
		parent = t.ownPath(parentPath)
	}
	t.saveNode(parent)
	pe := ensureExt(parent)
	before := t.h.kids(parentPath, parent)
	child := &node{
		kd:    makeKD(name, op.Data),
		czxid: txn.Zxid, mzxid: txn.Zxid,
		ctime: txn.Time, mtime: txn.Time,
		gen: t.gen,
	}
	if mode != ModePersistent && mode != ModePersistentSequential {
		child.ext = &nodeExt{pzxid: txn.Zxid, owner: owner, mode: mode, ttl: op.TTL}
	}
	t.insertKid(pe, child)
	t.logInsert(parent, name)
	pe.cversion = incCversion(pe.cversion)
	pe.pzxid = txn.Zxid
	t.digest += t.h.kids(parentPath, parent) - before + t.h.node(path, child)
	t.count++
	switch {
	case owner != 0:
		t.addEph(owner, path)
	case mode.IsContainer() || mode.IsTTL():
		t.addExpirable(path)
	}
	*evs = append(*evs,
		Event{Type: EventNodeCreated, Path: path, Zxid: txn.Zxid},
		Event{Type: EventNodeChildrenChanged, Path: parentPath, Zxid: txn.Zxid})
	return OpResult{Type: typ, Path: path, Stat: child.stat()}
}

func (t *Tree) delete(txn *Txn, op *Op, onlyExpired bool, evs *[]Event) OpResult {
	typ := op.Type
	if err := ValidatePath(op.Path, false); err != nil {
		return OpResult{Type: typ, Err: err}
	}
	if op.Path == "/" {
		return badArgs(typ, "the root cannot be deleted")
	}
	n := t.lookup(op.Path)
	if n == nil {
		return OpResult{Type: typ, Err: ErrNoNode}
	}
	if !onlyExpired && !versionOK(op.Version, n.version) {
		return OpResult{Type: typ, Err: ErrBadVersion}
	}
	if n.nkids() > 0 {
		return OpResult{Type: typ, Err: ErrNotEmpty}
	}
	if onlyExpired && !expired(n, txn.Time) {
		return badArgs(typ, "%s is not an expired container or TTL node", op.Path)
	}
	t.deleteNode(txn, op.Path, n, evs)
	return OpResult{Type: typ}
}

// deleteNode removes n, a checked childless node at path.
func (t *Tree) deleteNode(txn *Txn, path string, n *node, evs *[]Event) {
	parentPath, name := splitPath(path)
	var parent *node
	if t.cowGen != 0 {
		parent = t.ownPath(parentPath)
	} else {
		parent = t.lookup(parentPath)
	}
	t.saveNode(parent)
	pe := parent.ext
	before := t.h.kids(parentPath, parent) + t.h.node(path, n)
	t.removeKid(pe, name)
	t.logRemove(parent, n)
	pe.cversion = incCversion(pe.cversion)
	pe.pzxid = txn.Zxid
	t.digest += t.h.kids(parentPath, parent) - before
	t.count--
	switch m := n.mode(); {
	case m.IsEphemeral():
		t.delEph(n.owner(), path)
	case m.IsContainer() || m.IsTTL():
		t.delExpirable(path)
	}
	*evs = append(*evs,
		Event{Type: EventNodeDeleted, Path: path, Zxid: txn.Zxid},
		Event{Type: EventNodeChildrenChanged, Path: parentPath, Zxid: txn.Zxid})
}

func (t *Tree) setData(txn *Txn, op *Op, evs *[]Event) OpResult {
	const typ = OpSetData
	if err := CheckOp(op, t.maxData); err != nil {
		return OpResult{Type: typ, Err: err}
	}
	n := t.lookup(op.Path)
	if n == nil {
		return OpResult{Type: typ, Err: ErrNoNode}
	}
	if !versionOK(op.Version, n.version) {
		return OpResult{Type: typ, Err: ErrBadVersion}
	}
	if t.cowGen != 0 {
		n = t.ownPath(op.Path)
	}
	t.saveNode(n)
	before := t.h.own(op.Path, n)
	n.kd = makeKD(n.name(), op.Data)
	n.version++
	n.mzxid = txn.Zxid
	n.mtime = txn.Time
	t.digest += t.h.own(op.Path, n) - before
	*evs = append(*evs, Event{Type: EventNodeDataChanged, Path: op.Path, Zxid: txn.Zxid})
	return OpResult{Type: typ, Stat: n.stat()}
}

func (t *Tree) check(op *Op) OpResult {
	const typ = OpCheck
	if err := ValidatePath(op.Path, false); err != nil {
		return OpResult{Type: typ, Err: err}
	}
	n := t.lookup(op.Path)
	if n == nil {
		return OpResult{Type: typ, Err: ErrNoNode}
	}
	if !versionOK(op.Version, n.version) {
		return OpResult{Type: typ, Err: ErrBadVersion}
	}
	return OpResult{Type: typ}
}

// applyMulti applies every op or none. On failure the failing op carries
// its error, the ones before it ErrRolledBack and the ones after it
// ErrRuntimeInconsistency, as ZooKeeper reports them; the undo log puts
// back everything the earlier ops did.
func (t *Tree) applyMulti(txn *Txn) (Result, []Event) {
	results := make([]OpResult, len(txn.Ops))
	var evs []Event
	digest, count := t.digest, t.count
	t.recording = true
	failed := -1
	for i := range txn.Ops {
		results[i] = t.applyOp(txn, &txn.Ops[i], &evs)
		if results[i].Err != nil {
			failed = i
			break
		}
	}
	t.recording = false
	if failed < 0 {
		t.resetUndo()
		return Result{Ops: results}, evs
	}
	t.rollback()
	t.digest, t.count = digest, count
	for i := range results {
		switch {
		case i < failed:
			results[i] = OpResult{Type: txn.Ops[i].Type, Err: ErrRolledBack}
		case i > failed:
			results[i] = OpResult{Type: txn.Ops[i].Type, Err: ErrRuntimeInconsistency}
		}
	}
	return Result{Err: results[failed].Err, Ops: results}, nil
}

func (t *Tree) createSession(txn *Txn) error {
	if txn.Session == 0 {
		return fmt.Errorf("%w: session id 0", ErrBadArguments)
	}
	t.ownSessions()
	t.sessions[txn.Session] = Session{ID: txn.Session, Timeout: txn.Timeout, Password: slices.Clone(txn.Password)}
	return nil
}

func (t *Tree) closeSession(txn *Txn, evs *[]Event) error {
	if _, ok := t.sessions[txn.Session]; !ok {
		return ErrNoSession
	}
	paths := slices.Sorted(maps.Keys(t.eph[txn.Session]))
	for _, p := range paths {
		if n := t.lookup(p); n != nil {
			t.deleteNode(txn, p, n, evs)
		}
	}
	delete(t.eph, txn.Session)
	t.ownSessions()
	delete(t.sessions, txn.Session)
	return nil
}

// ownSessions copies the session table if a Frozen view holds it.
func (t *Tree) ownSessions() {
	if t.sessShared {
		t.sessions = maps.Clone(t.sessions)
		t.sessShared = false
	}
}

func (t *Tree) addEph(s SessionID, path string) {
	set := t.eph[s]
	if set == nil {
		set = map[string]struct{}{}
		t.eph[s] = set
	}
	set[path] = struct{}{}
	t.log(undoRec{kind: undoEphAdd, s: s, path: path})
}

func (t *Tree) delEph(s SessionID, path string) {
	if set := t.eph[s]; set != nil {
		delete(set, path)
		if len(set) == 0 {
			delete(t.eph, s)
		}
	}
	t.log(undoRec{kind: undoEphDel, s: s, path: path})
}

func (t *Tree) addExpirable(path string) {
	t.expirable[path] = struct{}{}
	t.log(undoRec{kind: undoExpAdd, path: path})
}

func (t *Tree) delExpirable(path string) {
	delete(t.expirable, path)
	t.log(undoRec{kind: undoExpDel, path: path})
}

// ---- undo log (multi only) ----

type undoKind uint8

const (
	undoNode   undoKind = iota + 1 // put back n's own fields and its ext's scalars
	undoInsert                     // take child path out of n
	undoRemove                     // put child c back into n
	undoEphAdd
	undoEphDel
	undoExpAdd
	undoExpDel
)

type undoRec struct {
	kind   undoKind
	n, c   *node
	saved  node    // undoNode: n's fields (ext is not restored from here)
	ext    nodeExt // undoNode: n's ext scalars, if it had an ext
	hadExt bool
	s      SessionID
	path   string // a child name (undoInsert) or a full path
}

func (t *Tree) log(r undoRec) {
	if t.recording {
		t.undo = append(t.undo, r)
	}
}

// saveNode logs n's current fields before an owned n is changed.
func (t *Tree) saveNode(n *node) {
	if !t.recording {
		return
	}
	r := undoRec{kind: undoNode, n: n, saved: *n, hadExt: n.ext != nil}
	if n.ext != nil {
		r.ext = *n.ext
	}
	t.undo = append(t.undo, r)
}

func (t *Tree) logInsert(parent *node, name string) {
	t.log(undoRec{kind: undoInsert, n: parent, path: name})
}

func (t *Tree) logRemove(parent, child *node) {
	t.log(undoRec{kind: undoRemove, n: parent, c: child})
}

// rollback undoes the log in reverse. Every node in it is owned by the
// current generation (the multi changed it), so it is changed in place.
func (t *Tree) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		r := &t.undo[i]
		switch r.kind {
		case undoNode:
			n := r.n
			n.kd, n.czxid, n.mzxid = r.saved.kd, r.saved.czxid, r.saved.mzxid
			n.ctime, n.mtime, n.version = r.saved.ctime, r.saved.mtime, r.saved.version
			switch {
			case r.hadExt:
				e := n.ext
				e.pzxid, e.ttl, e.owner = r.ext.pzxid, r.ext.ttl, r.ext.owner
				e.cversion, e.mode = r.ext.cversion, r.ext.mode
			case n.ext != nil && n.ext.nkids == 0:
				n.ext = nil
			}
		case undoInsert:
			t.removeKid(r.n.ext, r.path)
		case undoRemove:
			t.insertKid(ensureExt(r.n), r.c)
		case undoEphAdd:
			if set := t.eph[r.s]; set != nil {
				delete(set, r.path)
				if len(set) == 0 {
					delete(t.eph, r.s)
				}
			}
		case undoEphDel:
			set := t.eph[r.s]
			if set == nil {
				set = map[string]struct{}{}
				t.eph[r.s] = set
			}
			set[r.path] = struct{}{}
		case undoExpAdd:
			delete(t.expirable, r.path)
		case undoExpDel:
			t.expirable[r.path] = struct{}{}
		}
	}
	t.resetUndo()
}

// resetUndo empties the undo log, dropping a big one's memory.
func (t *Tree) resetUndo() {
	if cap(t.undo) > 256 {
		t.undo = nil
		return
	}
	clear(t.undo)
	t.undo = t.undo[:0]
}
