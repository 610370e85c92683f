package config

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// Entry is one key's part of a PutAll.
type Entry struct {
	// Key is the key to write or delete.
	Key string
	// Value is encoded with the store's codec (ignored for a delete); a
	// []byte with the Raw codec is stored as it is.
	Value any
	// Version is the condition: AnyVersion, CreateOnly (puts only) or the
	// version the key must be at.
	Version int32
	// Delete removes the key instead of writing Value.
	Delete bool
}

// Entries returns one AnyVersion put per key of m, sorted by key: a
// PutAll of it overwrites those keys, whatever they hold.
func Entries(m map[string]any) []Entry {
	out := make([]Entry, 0, len(m))
	for k, v := range m {
		out = append(out, Entry{Key: k, Value: v, Version: AnyVersion})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// PutAll applies every entry in one multi: all or none. Each entry's
// version is a condition as for Put and Delete; if one does not hold,
// nothing is written and PutAll fails with ErrConflict naming the key.
// Missing parents are created and emptied directories removed in the same
// multi. It returns the Stat each entry left (zero for deletes).
//
// It fails with ErrBadKey (also for a key given twice), ErrBadVersion,
// ErrCodec, ErrEmptyValue, ErrConflict, the client's errors (for a multi
// too large for a frame, client.ErrFrameTooLarge: all of it must fit in
// one request, about 1 MiB), or, after a lost reply whose outcome it cannot
// establish, an error wrapping ErrIndeterminate. A lost reply whose
// multi's effects are all found in place counts as done.
func (s *Store) PutAll(ctx context.Context, entries []Entry) ([]tree.Stat, error) {
	ops := make([]op, 0, len(entries))
	seen := map[string]bool{}
	for _, e := range entries {
		p, err := s.path(e.Key)
		if err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, fmt.Errorf("%w: %q given twice", ErrBadKey, e.Key)
		}
		seen[p] = true
		if err := checkVersion(e.Version); err != nil {
			return nil, err
		}
		o := op{kind: opPut, key: e.Key, path: p, version: e.Version}
		if e.Delete {
			if e.Version == CreateOnly {
				return nil, fmt.Errorf("%w: CreateOnly on a delete of %q", ErrBadVersion, e.Key)
			}
			o.kind = opDelete
		} else if o.data, err = encode(s.codec, e.Key, e.Value); err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return s.commit(ctx, ops, false)
}

// StepKind is what a Plan does to a key.
type StepKind uint8

// The kinds of Step.
const (
	StepCreate StepKind = iota + 1 // the key is new
	StepUpdate                     // the key's value changes
	StepDelete                     // the key goes
)

// String returns "create", "update" or "delete".
func (k StepKind) String() string {
	switch k {
	case StepCreate:
		return "create"
	case StepUpdate:
		return "update"
	case StepDelete:
		return "delete"
	}
	return fmt.Sprintf("StepKind(%d)", uint8(k))
}

// Step is one key's change in a Plan.
type Step struct {
	Kind StepKind
	Key  string
	// Old is the key's current raw value (nil for a create).
	Old []byte
	// New is the desired raw value (nil for a delete).
	New []byte
	// Version is the version the key was at when planned (CreateOnly for
	// a create); Apply requires it still.
	Version int32
}

// Plan is what Diff computed: the steps that make the store hold exactly
// the desired keys and values, each conditional on the version Diff saw.
// Apply it with Plan.Apply.
type Plan struct {
	// Steps are the creates, updates and deletes, sorted by key.
	Steps []Step
	// Unchanged are the desired keys that already hold their value,
	// sorted. Apply checks they still do.
	Unchanged []string

	s   *Store
	ops []op
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// String lists the steps, one a line: "+ key" (create), "~ key"
// (update), "- key" (delete); "" for an empty plan.
func (p *Plan) String() string {
	var b strings.Builder
	for _, st := range p.Steps {
		switch st.Kind {
		case StepCreate:
			b.WriteString("+ ")
		case StepUpdate:
			b.WriteString("~ ")
		case StepDelete:
			b.WriteString("- ")
		}
		b.WriteString(st.Key)
		b.WriteByte('\n')
	}
	return b.String()
}

// Summary returns counts, e.g. "2 created, 1 updated, 0 deleted, 5 unchanged".
func (p *Plan) Summary() string {
	var n [4]int
	for _, st := range p.Steps {
		n[st.Kind]++
	}
	return fmt.Sprintf("%d created, %d updated, %d deleted, %d unchanged",
		n[StepCreate], n[StepUpdate], n[StepDelete], len(p.Unchanged))
}

// Diff compares desired (key -> value, encoded with the store's codec)
// with every key in the store and returns the Plan that makes the store
// hold exactly desired: creates, updates (when the encoded bytes differ)
// and deletes of keys not in desired. It writes nothing. The store is read
// key by key, not as one snapshot; Apply's version checks make up for it.
// It fails with ErrBadKey, ErrCodec, ErrEmptyValue or the client's errors
// (it retries after ErrConnectionLoss).
func (s *Store) Diff(ctx context.Context, desired map[string]any) (*Plan, error) {
	raw := make(map[string][]byte, len(desired))
	for k, v := range desired {
		data, err := encode(s.codec, k, v)
		if err != nil {
			return nil, err
		}
		raw[k] = data
	}
	return s.DiffBytes(ctx, raw)
}

// DiffBytes is Diff with raw values.
func (s *Store) DiffBytes(ctx context.Context, desired map[string][]byte) (*Plan, error) {
	want := make(map[string]string, len(desired)) // path -> key
	for k, v := range desired {
		p, err := s.path(k)
		if err != nil {
			return nil, err
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("%w: key %q", ErrEmptyValue, k)
		}
		want[p] = k
	}
	var v *treeView
	var err error
	for {
		v, err = walk(ctx, s.conn, s.root, true)
		if !errors.Is(err, client.ErrConnectionLoss) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("config: diff: %w", err)
	}
	plan := &Plan{s: s}
	for p, k := range want {
		n, ok := v.nodes[p]
		switch {
		case !ok || len(n.data) == 0:
			plan.Steps = append(plan.Steps, Step{Kind: StepCreate, Key: k, New: desired[k], Version: CreateOnly})
		case !sameBytes(n.data, desired[k]):
			plan.Steps = append(plan.Steps, Step{Kind: StepUpdate, Key: k, Old: n.data, New: desired[k], Version: n.stat.Version})
		default:
			plan.Unchanged = append(plan.Unchanged, k)
			plan.ops = append(plan.ops, op{kind: opCheck, key: k, path: p, version: n.stat.Version})
		}
	}
	for p, n := range v.nodes {
		k, ok := s.key(p)
		if !ok || len(n.data) == 0 {
			continue
		}
		if _, keep := want[p]; !keep {
			plan.Steps = append(plan.Steps, Step{Kind: StepDelete, Key: k, Old: n.data, Version: n.stat.Version})
		}
	}
	sort.Slice(plan.Steps, func(i, j int) bool { return plan.Steps[i].Key < plan.Steps[j].Key })
	sort.Strings(plan.Unchanged)
	for _, st := range plan.Steps {
		p, _ := s.path(st.Key)
		o := op{key: st.Key, path: p, data: st.New, version: st.Version}
		if st.Kind == StepDelete {
			o.kind = opDelete
		}
		plan.ops = append(plan.ops, o)
	}
	return plan, nil
}

// Apply applies the plan in one multi, all or none, with every step
// conditional on the version Diff saw and every unchanged key checked at
// its version. If any of those keys changed since Diff, nothing is written
// and Apply fails with ErrConflict (Diff again to see the new state). A key
// created meanwhile under the prefix that the plan does not name is not
// detected. An empty plan does nothing. Errors are as for PutAll.
func (p *Plan) Apply(ctx context.Context) error {
	if p.Empty() {
		return nil
	}
	if p.s == nil {
		return fmt.Errorf("%w: plan not made by Diff", ErrBadKey)
	}
	_, err := p.s.commit(ctx, p.ops, false)
	return err
}

// Push makes the store hold exactly desired, atomically: Diff then Apply.
// It returns the plan it applied (what changed), or the error of either:
// ErrConflict if a key the plan covers changed in between (nothing was
// written).
func (s *Store) Push(ctx context.Context, desired map[string]any) (*Plan, error) {
	plan, err := s.Diff(ctx, desired)
	if err != nil {
		return nil, err
	}
	return plan, plan.Apply(ctx)
}
