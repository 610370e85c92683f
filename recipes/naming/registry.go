package naming

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// Instance is one member of a service, stored as JSON in its member node:
//
//	{"id":"a1","address":"10.0.0.7:8080","metadata":{"zone":"b"},"registration":"<guid>"}
//
// ("registration" is the Registration's GUID, which Lookup and Watch do
// not return).
type Instance struct {
	// ID names the instance within its service; it is the member node's
	// name, so it must be a valid znode name (no "/").
	ID string `json:"id"`
	// Address is where the instance is reached, e.g. "host:port".
	Address string `json:"address"`
	// Metadata is free-form; Registration.Update changes it.
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (i Instance) clone() Instance {
	i.Metadata = maps.Clone(i.Metadata)
	return i
}

// equal reports whether two instances are the same.
func (i Instance) equal(o Instance) bool {
	return i.ID == o.ID && i.Address == o.Address && maps.Equal(i.Metadata, o.Metadata)
}

// nodeData is what a member node holds.
type nodeData struct {
	Instance
	Registration string `json:"registration,omitempty"`
}

func encodeMember(inst Instance, guid string) []byte {
	b, _ := json.Marshal(nodeData{Instance: inst, Registration: guid}) // strings and a map of strings cannot fail
	return b
}

// decodeMember decodes a member node's data; ok is false if it is not
// JSON of an instance.
func decodeMember(b []byte) (nodeData, bool) {
	var d nodeData
	if err := json.Unmarshal(b, &d); err != nil {
		return nodeData{}, false
	}
	return d, true
}

// RegistryOption configures NewRegistry and NewDialRegistry.
type RegistryOption func(*Registry)

// WithLogger sets the logger for session changes and re-registrations
// (nil, the default: discard).
func WithLogger(l *slog.Logger) RegistryOption {
	return func(r *Registry) {
		if l != nil {
			r.log = l
		}
	}
}

// Registry is a service registry under a base path: each registered
// instance is an ephemeral member node <path>/<service>/<instance id>.
// See the package doc, "Service registry". Its methods are safe for
// concurrent use.
type Registry struct {
	path   string
	err    error
	log    *slog.Logger
	dialed bool
	sess   *sessions       // nil if err != nil
	ctx    context.Context // cancelled by Close: ends keepers and watches
	cancel context.CancelFunc
	wg     sync.WaitGroup // watches

	mu struct {
		sync.Mutex
		closed bool
		regs   map[string]*Registration // by service + "/" + id
	}
}

// NewRegistry returns a Registry whose members live on conn's session, a
// session the caller manages: when it expires (or conn is closed), every
// Registration's Lost is closed and nothing is re-created (a zabkit
// client never opens a new session by itself; use NewDialRegistry for
// that). It does no I/O; a bad path is reported by every method. Close
// it to stop its goroutines; it does not close conn.
func NewRegistry(conn recipes.Conn, path string, opts ...RegistryOption) *Registry {
	r := newRegistry(path, opts)
	if r.err == nil && conn == nil {
		r.err = errNilConn
	}
	if r.err == nil {
		r.sess = newSessions(conn, nil, r.log)
	}
	return r
}

// NewDialRegistry returns a Registry that manages its own sessions: it
// dials one at once (in the background; calls wait for it), and whenever
// that session expires or is closed it closes it, dials a new one
// (retrying with backoff until Close) and re-creates every Registration's
// member node on it. Registrations made this way are never lost, only
// absent between an expiry and the re-registration; Registered tells
// which. Lookup and Watch move to the new session too. It does no I/O
// itself; a bad path is reported by every method. Close it to stop its
// goroutines and close its session.
func NewDialRegistry(dial Dialer, path string, opts ...RegistryOption) *Registry {
	r := newRegistry(path, opts)
	r.dialed = true
	if r.err == nil && dial == nil {
		r.err = fmt.Errorf("naming: nil Dialer: %w", tree.ErrBadArguments)
	}
	if r.err == nil {
		r.sess = newSessions(nil, dial, r.log)
	}
	return r
}

func newRegistry(path string, opts []RegistryOption) *Registry {
	r := &Registry{path: path, err: checkBase(path), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(r)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.mu.regs = map[string]*Registration{}
	return r
}

// Path returns the base path.
func (r *Registry) Path() string { return r.path }

func (r *Registry) servicePath(service string) string { return recipe.Join(r.path, service) }

// checkService validates service.
func (r *Registry) checkService(service string) error {
	if r.err != nil {
		return r.err
	}
	return checkName("service", r.path, service)
}

// Register makes inst a member of service: it creates the ephemeral node
// <path>/<service>/<inst.ID> holding inst as JSON (missing parents as
// containers) and returns the Registration that keeps it: the node is
// re-created if someone deletes it while the session lives, and, with
// NewDialRegistry, on each new session after an expiry.
//
// After ErrConnectionLoss on the create it reads the node and adopts it
// if it carries this Registration's GUID and this session as owner, so a
// lost reply leaves neither a second node nor a false conflict. If ctx
// ends, a node it created is deleted (within recipe.CleanupTimeout) and
// ctx.Err() returned. With NewDialRegistry it waits for a session and
// moves to the next one if the session expires meanwhile.
//
// It fails with ErrBadName, ErrAlreadyRegistered (the id is registered by
// this Registry, or its node belongs to another session or Registration),
// ErrClosed, ctx.Err(), and with a plain Conn client.ErrSessionExpired or
// client.ErrClosed, or another client error (e.g. tree.ErrBadArguments if
// the JSON is larger than the server accepts).
func (r *Registry) Register(ctx context.Context, service string, inst Instance) (*Registration, error) {
	if err := r.checkService(service); err != nil {
		return nil, err
	}
	if err := checkName("instance id", r.servicePath(service), inst.ID); err != nil {
		return nil, err
	}
	g := newRegistration(r, service, inst)
	r.mu.Lock()
	switch {
	case r.mu.closed:
		r.mu.Unlock()
		return nil, ErrClosed
	case r.mu.regs[g.key()] != nil:
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrAlreadyRegistered, g.path)
	}
	r.mu.regs[g.key()] = g // reserved: Close leaves it to this call
	r.mu.Unlock()

	if err := g.register(ctx); err != nil {
		r.remove(g)
		g.cancel()
		return nil, err
	}
	r.mu.Lock()
	if r.mu.closed {
		r.mu.Unlock()
		close(g.done) // no keeper
		err := g.Deregister(ctx)
		return nil, errors.Join(ErrClosed, err)
	}
	g.started = true
	go g.keep()
	r.mu.Unlock()
	return g, nil
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// started returns the started Registrations, by service then id.
func (r *Registry) startedLocked() []*Registration {
	out := make([]*Registration, 0, len(r.mu.regs))
	for _, k := range sortedKeys(r.mu.regs) {
		if g := r.mu.regs[k]; g.started {
			out = append(out, g)
		}
	}
	return out
}

// remove forgets g.
func (r *Registry) remove(g *Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.regs[g.key()] == g {
		delete(r.mu.regs, g.key())
	}
}

// Registrations returns the live Registrations of this Registry, by
// service then id.
func (r *Registry) Registrations() []*Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.startedLocked()
}

// Close deregisters every Registration (as Deregister does), ends every
// Watch (its last Members carries ErrClosed) and stops the Registry's
// goroutines; with NewDialRegistry it also closes the session (which
// removes whatever member node a failed deregistration left). With a
// plain Conn, if a deregistration fails (ctx ended, connection lost) Close
// returns that error and keeps running so it can be called again; it
// never closes conn. Calling it again after it returned nil does nothing.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	r.mu.closed = true
	regs := r.startedLocked() // a Register under way sees closed and undoes itself
	r.mu.Unlock()
	var first error
	for _, g := range regs {
		if err := g.Deregister(ctx); err != nil && first == nil {
			first = err
		}
	}
	if first != nil && !r.dialed {
		return first
	}
	r.cancel()
	r.wg.Wait()
	if r.sess != nil {
		r.sess.stop()
	}
	return nil
}

// Registration keeps one instance registered (see Register). Its methods
// are safe for concurrent use.
//
// Lost is closed, and Context cancelled, when the registration is lost
// for good: only with NewRegistry (a plain Conn), when that session
// expires or the client is closed (its node is then gone). A Registry
// from NewDialRegistry never loses a Registration: after an expiry it
// re-registers it on the next session. A network blip is not a loss
// either: the node lives as long as the session. Deregister and Close
// cancel Context without closing Lost.
type Registration struct {
	reg     *Registry
	service string
	id      string
	path    string
	guid    string
	lost    chan struct{}
	lostOne sync.Once
	ctx     context.Context // ends the keeper; cancelled when lost or deregistered
	cancel  context.CancelFunc
	kick    chan struct{} // Update wakes the keeper
	done    chan struct{} // the keeper returned
	started bool          // the keeper runs (guarded by the Registry's mu)

	mu struct {
		sync.Mutex
		inst        Instance      // what the node should hold
		gen         uint64        // bumped by every Update
		written     uint64        // the gen the node is known to hold
		writtenInst Instance      // the instance of gen written
		failGen     uint64        // an Update the server refused (e.g. too large)
		failErr     error         // and why
		progress    chan struct{} // closed and replaced when written, fail, lost or stopped change
		node        *session      // the session holding our node, if any
		registered  bool          // the node is known to exist on the current session
		lost        bool
		stopped     bool // Deregister began
		released    bool // Deregister finished
	}
}

func newRegistration(r *Registry, service string, inst Instance) *Registration {
	g := &Registration{
		reg: r, service: service, id: inst.ID,
		path: recipe.Join(r.servicePath(service), inst.ID),
		guid: recipe.NewGUID(),
		lost: make(chan struct{}),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	g.ctx, g.cancel = context.WithCancel(r.ctx)
	g.mu.inst = inst.clone()
	g.mu.writtenInst = inst.clone()
	g.mu.progress = make(chan struct{})
	return g
}

func (g *Registration) key() string { return g.service + "/" + g.id }

// Service returns the service name.
func (g *Registration) Service() string { return g.service }

// Path returns the member node's path.
func (g *Registration) Path() string { return g.path }

// Instance returns the instance as last given to Register or Update.
func (g *Registration) Instance() Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.inst.clone()
}

// Registered reports whether the member node is known to exist on the
// Registry's current session (false between an expiry and the
// re-registration, while a foreign node holds the id, and after
// Deregister or loss).
func (g *Registration) Registered() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.registered && g.mu.node != nil && !closed(g.mu.node.done)
}

// Lost is closed when the registration is lost for good (see
// Registration).
func (g *Registration) Lost() <-chan struct{} { return g.lost }

// Context is cancelled when the registration is lost, deregistered or
// its Registry closed.
func (g *Registration) Context() context.Context { return g.ctx }

// desired returns the node data the instance should have, its gen and
// the instance.
func (g *Registration) desired() ([]byte, uint64, Instance) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return encodeMember(g.mu.inst, g.guid), g.mu.gen, g.mu.inst.clone()
}

// wakeLocked wakes Update calls waiting for progress.
func (g *Registration) wakeLocked() {
	close(g.mu.progress)
	g.mu.progress = make(chan struct{})
}

func (g *Registration) setNode(s *session, registered bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s != nil {
		g.mu.node = s
	}
	g.mu.registered = registered
}

// markWritten records that the node holds inst, the instance of gen.
func (g *Registration) markWritten(gen uint64, inst Instance) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen > g.mu.written {
		g.mu.written = gen
		g.mu.writtenInst = inst
		g.wakeLocked()
	}
}

// markFailed records that the server refused the data of gen, and goes
// back to the last instance written if no newer Update came meanwhile
// (as a new gen, so the keeper settles on it).
func (g *Registration) markFailed(gen uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.failGen, g.mu.failErr = gen, err
	if gen == g.mu.gen {
		g.mu.inst = g.mu.writtenInst.clone()
		g.mu.gen++
	}
	g.wakeLocked()
}

func (g *Registration) markLost(why error) {
	g.mu.Lock()
	g.mu.lost = true
	g.mu.registered = false
	g.wakeLocked()
	g.mu.Unlock()
	g.lostOne.Do(func() { close(g.lost) })
	g.cancel()
	g.reg.remove(g)
	g.reg.log.Warn("naming: registration lost", "path", g.path, "err", why)
}

// get reads path on conn, retrying after connection losses.
func get(ctx context.Context, conn recipes.Conn, path string) ([]byte, tree.Stat, error) {
	for {
		d, st, err := conn.Get(ctx, path)
		if err == nil || !connLoss(err) {
			return d, st, err
		}
		if ctx.Err() != nil {
			return nil, tree.Stat{}, ctx.Err()
		}
	}
}

// register makes the first member node, on the current session (the next
// one, with a Dialer, if it ends meanwhile).
func (g *Registration) register(ctx context.Context) error {
	for {
		s, err := g.reg.sess.get(ctx)
		if err != nil {
			if errors.Is(err, ErrClosed) || g.reg.ctx.Err() != nil {
				return ErrClosed
			}
			return err
		}
		err = g.ensure(ctx, s, true)
		switch {
		case err == nil:
			return nil
		case g.reg.dialed && sessionOver(err):
			select { // the holder will notice and dial
			case <-s.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		case !sessionOver(err) && !errors.Is(err, ErrAlreadyRegistered):
			cctx, cancel := cleanupCtx(ctx)
			_ = g.deleteOn(cctx, s)
			cancel()
		}
		return err
	}
}

// ensure makes sure the member node exists on s and is ours: it creates
// it, adopts it after a lost reply, deletes our own node left by an
// earlier session, and, for a node another session or Registration
// holds, fails with ErrAlreadyRegistered (initial) or waits for it to go.
// The node's data may still be older than the instance: keep fixes that.
func (g *Registration) ensure(ctx context.Context, s *session, initial bool) error {
	for {
		data, _, _ := g.desired()
		_, err := s.conn.Create(ctx, g.path, data, tree.ModeEphemeral)
		switch {
		case err == nil, errors.Is(err, tree.ErrNodeExists), connLoss(err):
			d, st, gerr := get(ctx, s.conn, g.path)
			if errors.Is(gerr, tree.ErrNoNode) {
				continue
			}
			if gerr != nil {
				return gerr
			}
			nd, _ := decodeMember(d)
			mine := nd.Registration == g.guid
			switch {
			case mine && st.EphemeralOwner == s.conn.SessionID():
				g.setNode(s, true)
				return nil
			case mine && st.EphemeralOwner != 0:
				// Ours, from an earlier session the server has not
				// expired yet: remove it and create again.
				g.reg.log.Info("naming: removing member node of an old session", "path", g.path, "session", st.EphemeralOwner)
				if err := s.conn.Delete(ctx, g.path, st.Version); err != nil &&
					!errors.Is(err, tree.ErrNoNode) && !errors.Is(err, tree.ErrBadVersion) && !connLoss(err) {
					return err
				}
			case initial:
				return fmt.Errorf("%w: %s (owner session %v)", ErrAlreadyRegistered, g.path, st.EphemeralOwner)
			default:
				g.reg.log.Warn("naming: member id held by another registration, waiting", "path", g.path, "session", st.EphemeralOwner)
				if err := recipe.WaitGone(ctx, s.conn, g.path, nil, nil); err != nil {
					return err
				}
			}
		case errors.Is(err, tree.ErrNoNode):
			if err := recipe.EnsurePath(ctx, s.conn, g.reg.servicePath(g.service)); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// keep is the Registration's goroutine: it keeps the member node on the
// current session until the registration ends.
func (g *Registration) keep() {
	defer close(g.done)
	for {
		s, err := g.reg.sess.get(g.ctx)
		if err != nil {
			if g.ctx.Err() == nil {
				g.markLost(err) // a plain Conn's session is over
			}
			return
		}
		g.keepOn(s)
		if g.ctx.Err() != nil {
			return
		}
	}
}

// keepOn keeps the node on s until s ends or the registration does.
func (g *Registration) keepOn(s *session) {
	for g.ctx.Err() == nil {
		data, gen, inst := g.desired()
		d, st, ch, err := s.conn.GetW(g.ctx, g.path)
		if err == nil {
			nd, _ := decodeMember(d)
			if nd.Registration != g.guid || st.EphemeralOwner != s.conn.SessionID() {
				err = tree.ErrNoNode // not ours: ensure sorts it out
			}
		}
		switch {
		case err == nil:
		case connLoss(err):
			continue
		case errors.Is(err, tree.ErrNoNode):
			g.setNode(nil, false)
			if err := g.ensure(g.ctx, s, false); err != nil && !g.retry(s, err) {
				return
			}
			if err == nil {
				g.reg.log.Info("naming: member node re-created", "path", g.path, "session", s.conn.SessionID())
			}
			continue
		default:
			if !g.retry(s, err) {
				return
			}
			continue
		}
		if !bytes.Equal(d, data) {
			_, err := s.conn.Set(g.ctx, g.path, data, st.Version)
			switch {
			case err == nil:
				g.markWritten(gen, inst)
			case errors.Is(err, tree.ErrBadArguments):
				g.markFailed(gen, err)
			case !g.retry(s, err):
				return
			}
			continue
		}
		g.setNode(s, true)
		g.markWritten(gen, inst)
		select {
		case <-ch: // look again
		case <-g.kick:
		case <-s.done:
			g.setNode(nil, false)
			return
		case <-g.ctx.Done():
			return
		}
	}
}

// retry handles a keeper error on s: false when the keeper should leave
// s (session over, or the registration ended), true to try again (after
// a short pause for an error that is neither a connection loss nor a
// conflict: a misconfigured tree must not make it spin).
func (g *Registration) retry(s *session, err error) bool {
	switch {
	case g.ctx.Err() != nil:
		return false
	case sessionOver(err):
		g.setNode(nil, false)
		select { // the holder will notice and move on
		case <-s.done:
		case <-g.ctx.Done():
		}
		return false
	case connLoss(err), errors.Is(err, tree.ErrBadVersion), errors.Is(err, tree.ErrNodeExists):
		return true
	}
	g.reg.log.Warn("naming: keeping member node failed", "path", g.path, "err", err)
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	case <-g.ctx.Done():
		return false
	}
}

// Update replaces the instance's address and metadata (inst.ID must stay
// the same) and returns once the member node holds them. If the node is
// absent (between an expiry and the re-registration) it waits for the
// re-registration, which uses the new data. If ctx ends first, it
// returns ctx.Err() and the new data is still written as soon as it can
// be.
//
// It fails with ErrBadName (another id), ErrNotRegistered (after
// Deregister or Close), ErrLost, ctx.Err(), or the server's refusal (e.g.
// tree.ErrBadArguments for data too large; the instance then stays as it
// was).
func (g *Registration) Update(ctx context.Context, inst Instance) error {
	if inst.ID != g.id {
		return fmt.Errorf("%w: instance id %q, registered as %q: %w", ErrBadName, inst.ID, g.id, tree.ErrBadArguments)
	}
	g.mu.Lock()
	switch {
	case g.mu.stopped:
		g.mu.Unlock()
		return ErrNotRegistered
	case g.mu.lost:
		g.mu.Unlock()
		return ErrLost
	}
	g.mu.inst = inst.clone()
	g.mu.gen++
	gen := g.mu.gen
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	for {
		g.mu.Lock()
		written, progress := g.mu.written, g.mu.progress
		failGen, failErr := g.mu.failGen, g.mu.failErr
		lost, stopped := g.mu.lost, g.mu.stopped
		g.mu.Unlock()
		switch {
		case failGen == gen:
			return failErr
		case written >= gen:
			return nil
		case lost:
			return ErrLost
		case stopped:
			return ErrNotRegistered
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Deregister removes the instance: it stops keeping the node and deletes
// it if it is still this Registration's (at the version read). It
// returns nil once the server confirmed the node is gone, or its session
// is. It is idempotent; after an error (ctx.Err(), a client error) the
// node may still exist but is no longer re-created, and Deregister can be
// called again.
func (g *Registration) Deregister(ctx context.Context) error {
	g.mu.Lock()
	if g.mu.released {
		g.mu.Unlock()
		return nil
	}
	g.mu.stopped = true
	g.wakeLocked()
	g.mu.Unlock()
	g.cancel()
	<-g.done

	g.mu.Lock()
	s := g.mu.node
	g.mu.registered = false
	g.mu.Unlock()
	if s != nil && !closed(s.done) {
		if err := g.deleteOn(ctx, s); err != nil {
			return err
		}
	}
	g.mu.Lock()
	g.mu.released = true
	g.mu.node = nil
	g.mu.Unlock()
	g.reg.remove(g)
	return nil
}

// deleteOn deletes the member node on s if it is ours. It returns nil
// once the node is gone or not ours, or s's session is over.
func (g *Registration) deleteOn(ctx context.Context, s *session) error {
	for {
		d, st, err := get(ctx, s.conn, g.path)
		switch {
		case errors.Is(err, tree.ErrNoNode), sessionOver(err):
			return nil
		case err != nil:
			return err
		}
		if nd, _ := decodeMember(d); nd.Registration != g.guid || st.EphemeralOwner != s.conn.SessionID() {
			return nil
		}
		err = s.conn.Delete(ctx, g.path, st.Version)
		switch {
		case err == nil, errors.Is(err, tree.ErrNoNode), sessionOver(err):
			return nil
		case errors.Is(err, tree.ErrBadVersion), connLoss(err):
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		default:
			return err
		}
	}
}
