package config

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// maxCommitAttempts bounds how often commit re-reads and retries after its
// multi failed on a race that is not a conflict (a directory created or
// removed meanwhile, an AnyVersion key created or deleted meanwhile).
const maxCommitAttempts = 32

// opKind is what an op does to its key.
type opKind uint8

const (
	opPut    opKind = iota // store data
	opDelete               // remove the key
	opCheck                // require the key at version, change nothing
)

// op is one key's part of a commit.
type op struct {
	kind    opKind
	key     string
	path    string
	data    []byte
	version int32 // AnyVersion, CreateOnly or a version >= 0
}

// nstate is what commit read of one znode.
type nstate struct {
	exists bool
	stat   tree.Stat
	data   []byte // only for op paths after a lost reply
}

// isKey reports whether the znode holds a value.
func (n nstate) isKey() bool { return n.exists && n.stat.DataLength > 0 }

// commit applies ops in one multi, all or none. It reads the znodes the ops
// touch and their ancestors, decides each op's conditions locally (a
// condition that does not hold is ErrConflict, and nothing is sent), then
// sends one multi in which every op is conditional on what was read, so a
// concurrent change fails it as a whole. A failure that is a race and not
// a conflict (a directory created or removed meanwhile) makes it read and
// try again. lost says an earlier attempt's reply was lost: commit then
// first checks whether the ops' effects are already there. It returns the
// Stat each op left (zero for deletes and checks).
func (s *Store) commit(ctx context.Context, ops []op, lost bool) ([]tree.Stat, error) {
	var lastErr error
	for attempt := 0; attempt < maxCommitAttempts; attempt++ {
		state, err := s.readState(ctx, ops, lost)
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config: read: %w", err)
		}
		if lost && applied(ops, state) {
			stats := make([]tree.Stat, len(ops))
			for i, o := range ops {
				if o.kind == opPut {
					stats[i] = state[o.path].stat
				}
			}
			return stats, nil
		}
		mops, index, conflict := s.multiOps(ops, state)
		if conflict != nil {
			if lost {
				return nil, fmt.Errorf("%w: after a lost reply: %v: %w", ErrIndeterminate, conflict, client.ErrConnectionLoss)
			}
			return nil, conflict
		}
		stats := make([]tree.Stat, len(ops))
		if len(mops) == 0 {
			return stats, nil
		}
		res, err := s.conn.Multi(ctx, mops...)
		if err == nil {
			for i, j := range index {
				if j >= 0 && j < len(res) && ops[i].kind == opPut {
					stats[i] = res[j].Stat
				}
			}
			return stats, nil
		}
		lastErr = err
		switch {
		case errors.Is(err, client.ErrConnectionLoss):
			lost = true
		case ctx.Err() != nil || recipeFinal(err):
			return nil, fmt.Errorf("config: multi: %w", err)
		case errors.Is(err, tree.ErrBadVersion), errors.Is(err, tree.ErrNoNode),
			errors.Is(err, tree.ErrNodeExists), errors.Is(err, tree.ErrNotEmpty):
			// something changed since the read: read again; a real
			// conflict shows up in multiOps
		default:
			return nil, fmt.Errorf("config: multi: %w", err)
		}
	}
	if lost {
		return nil, fmt.Errorf("%w: gave up after %d attempts: %w", ErrIndeterminate, maxCommitAttempts, lastErr)
	}
	return nil, fmt.Errorf("%w: gave up after %d attempts: %w", ErrConflict, maxCommitAttempts, lastErr)
}

// readState reads every op's znode (with data if withData) and every
// ancestor of those, in parallel.
func (s *Store) readState(ctx context.Context, ops []op, withData bool) (map[string]nstate, error) {
	isOp := map[string]bool{}
	var paths []string
	for _, o := range ops {
		isOp[o.path] = true
	}
	seen := map[string]bool{}
	for _, o := range ops {
		for p := o.path; p != "/"; p = parentOf(p) {
			if seen[p] {
				break
			}
			seen[p] = true
			paths = append(paths, p)
		}
	}
	got := make([]nstate, len(paths))
	err := parallel(ctx, len(paths), func(ctx context.Context, i int) error {
		n, ok, err := readNode(ctx, s.conn, paths[i], withData && isOp[paths[i]])
		got[i] = nstate{exists: ok, stat: n.stat, data: n.data}
		return err
	})
	if err != nil {
		return nil, err
	}
	state := make(map[string]nstate, len(paths))
	for i, p := range paths {
		state[p] = got[i]
	}
	state["/"] = nstate{exists: true, stat: tree.Stat{NumChildren: 1}}
	return state, nil
}

// applied reports whether every op's effect is in state (read with data):
// each put's bytes are there (at version+1 for a version >= 0), each
// deleted key is gone.
func applied(ops []op, state map[string]nstate) bool {
	for _, o := range ops {
		n := state[o.path]
		switch o.kind {
		case opPut:
			if !n.isKey() || !sameBytes(n.data, o.data) || (o.version >= 0 && n.stat.Version != o.version+1) {
				return false
			}
		case opDelete:
			if n.isKey() {
				return false
			}
		}
	}
	return true
}

// conflictf returns an ErrConflict for key.
func conflictf(key, format string, args ...any) error {
	return fmt.Errorf("%w: key %q: %s", ErrConflict, key, fmt.Sprintf(format, args...))
}

// multiOps turns ops into the multi that applies them to state, or returns
// the first condition that does not hold (ErrConflict). Missing parents are
// created as directories (empty persistent znodes), top down; a deleted key
// with children left is cleared instead; directories (other than the
// prefix and above) that the multi leaves empty are deleted, bottom up.
// Every op in the multi is conditional on state. index[i] is the position
// in the multi of ops[i]'s own op, or -1.
func (s *Store) multiOps(ops []op, state map[string]nstate) (mops []tree.Op, index []int, conflict error) {
	type create struct {
		path string
		data []byte
		op   int // index in ops, or -1 for a directory
	}
	var (
		creates []create
		sets    []tree.Op
		setOf   []int
		checks  []tree.Op
		created = map[string]bool{}
		putAt   = map[string]bool{}
		delta   = map[string]int{} // children created minus children removed
		deletes []int              // indexes of opDelete ops to apply
	)
	index = make([]int, len(ops))
	for i := range index {
		index[i] = -1
	}
	for i, o := range ops {
		n := state[o.path]
		switch o.kind {
		case opPut:
			putAt[o.path] = true
			switch {
			case o.version == CreateOnly && n.isKey():
				return nil, nil, conflictf(o.key, "exists (version %d), CreateOnly", n.stat.Version)
			case o.version >= 0 && !n.isKey():
				return nil, nil, conflictf(o.key, "absent, version %d required", o.version)
			case o.version >= 0 && n.stat.Version != o.version:
				return nil, nil, conflictf(o.key, "at version %d, version %d required", n.stat.Version, o.version)
			}
			if n.exists {
				v := n.stat.Version // a directory: conditional on it staying one
				if n.isKey() {
					v = o.version // AnyVersion or the checked version
				}
				sets = append(sets, client.SetOp(o.path, o.data, v))
				setOf = append(setOf, i)
				continue
			}
			creates = append(creates, create{o.path, o.data, i})
			created[o.path] = true
			delta[parentOf(o.path)]++
			for a := parentOf(o.path); !state[a].exists && !created[a]; a = parentOf(a) {
				creates = append(creates, create{a, nil, -1})
				created[a] = true
				delta[parentOf(a)]++
			}
		case opDelete:
			if !n.isKey() {
				if o.version >= 0 {
					return nil, nil, conflictf(o.key, "absent, version %d required", o.version)
				}
				continue
			}
			if o.version >= 0 && n.stat.Version != o.version {
				return nil, nil, conflictf(o.key, "at version %d, version %d required", n.stat.Version, o.version)
			}
			deletes = append(deletes, i)
		case opCheck:
			if !n.isKey() || n.stat.Version != o.version {
				return nil, nil, conflictf(o.key, "changed (version %d, exists %v), version %d expected", n.stat.Version, n.isKey(), o.version)
			}
			checks = append(checks, client.CheckOp(o.path, o.version))
		}
	}

	// Removals, bottom up: deleted keys, then the directories they leave
	// empty. A node's children after the multi: NumChildren + delta.
	type removal struct {
		path string
		op   int // index in ops, or -1 for a directory
	}
	var cands []removal
	seen := map[string]bool{}
	for _, i := range deletes {
		cands = append(cands, removal{ops[i].path, i})
		seen[ops[i].path] = true
	}
	for _, i := range deletes {
		for a := parentOf(ops[i].path); len(a) > len(s.root) && !seen[a]; a = parentOf(a) {
			seen[a] = true
			cands = append(cands, removal{a, -1})
		}
	}
	slices.SortStableFunc(cands, func(a, b removal) int {
		return cmp.Or(cmp.Compare(depth(b.path), depth(a.path)), cmp.Compare(a.path, b.path))
	})
	var removes []tree.Op
	var removeOf []int
	for _, c := range cands {
		n := state[c.path]
		left := int(n.stat.NumChildren) + delta[c.path]
		if c.op >= 0 {
			v := ops[c.op].version
			if left > 0 {
				removes = append(removes, client.SetOp(c.path, nil, v))
			} else {
				removes = append(removes, client.DeleteOp(c.path, v))
				delta[parentOf(c.path)]--
			}
			removeOf = append(removeOf, c.op)
			continue
		}
		if !n.exists || n.stat.DataLength > 0 || putAt[c.path] || left > 0 {
			continue
		}
		removes = append(removes, client.DeleteOp(c.path, n.stat.Version))
		removeOf = append(removeOf, -1)
		delta[parentOf(c.path)]--
	}

	slices.SortStableFunc(creates, func(a, b create) int {
		return cmp.Or(cmp.Compare(depth(a.path), depth(b.path)), cmp.Compare(a.path, b.path))
	})
	for _, c := range creates {
		if c.op >= 0 {
			index[c.op] = len(mops)
		}
		mops = append(mops, client.CreateOp(c.path, c.data, tree.ModePersistent))
	}
	for k, o := range sets {
		index[setOf[k]] = len(mops)
		mops = append(mops, o)
	}
	for k, o := range removes {
		if removeOf[k] >= 0 {
			index[removeOf[k]] = len(mops)
		}
		mops = append(mops, o)
	}
	mops = append(mops, checks...)
	return mops, index, nil
}
