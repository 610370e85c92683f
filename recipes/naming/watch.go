package naming

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// watchRetry is the pause before a Watch tries again after an
// unexpected error.
const watchRetry = 100 * time.Millisecond

// readers bounds the member reads one listing runs at once.
const readers = 16

// Members is one value of a Watch stream.
type Members struct {
	// Service is the watched service.
	Service string
	// Instances are the live instances, sorted by ID.
	Instances []Instance
	// Err is set only on the last value of a stream that ended for
	// another reason than its ctx: ErrClosed (the Registry was closed),
	// or with a plain Conn client.ErrSessionExpired or client.ErrClosed.
	// Instances is then nil.
	Err error
}

// Services returns the services that have (or recently had) members,
// sorted. It fails with ErrBadName, ErrClosed, ctx.Err() or a client error.
func (r *Registry) Services(ctx context.Context) ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	var out []string
	err := r.onSession(ctx, func(s *session) error {
		names, _, err := s.conn.Children(ctx, r.path)
		if errors.Is(err, tree.ErrNoNode) {
			names, err = []string{}, nil
		}
		out = names
		return err
	})
	return out, err
}

// Lookup returns the live instances of service, sorted by ID: the member
// nodes as the Registry's session's server has them (possibly behind
// other servers, never behind an earlier read through this Registry,
// even across its sessions). Member nodes whose data is not an instance's
// JSON are skipped; an instance's ID is always its node's name. It fails
// with ErrBadName, ErrClosed, ctx.Err() or, with a plain Conn, a client
// error such as client.ErrSessionExpired.
func (r *Registry) Lookup(ctx context.Context, service string) ([]Instance, error) {
	if err := r.checkService(service); err != nil {
		return nil, err
	}
	var out []Instance
	err := r.onSession(ctx, func(s *session) error {
		list, err := readMembers(ctx, s.conn, r.servicePath(service))
		out = list
		return err
	})
	return out, err
}

// onSession runs f on the current session (synced), retrying after a
// connection loss and, with a Dialer, on the next session after an
// expiry.
func (r *Registry) onSession(ctx context.Context, f func(*session) error) error {
	r.mu.Lock()
	isClosed := r.mu.closed
	r.mu.Unlock()
	if isClosed {
		return ErrClosed
	}
	for {
		s, err := r.sess.get(ctx)
		if err != nil {
			return err
		}
		err = s.sync(ctx)
		if err == nil {
			err = f(s)
		}
		switch {
		case err == nil:
			return nil
		case connLoss(err) && ctx.Err() == nil:
			continue
		case r.dialed && sessionOver(err):
			select {
			case <-s.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return err
		}
	}
}

// readMembers lists the instances under svc: the children, then each
// child's data (concurrently, at most readers at a time). A child deleted
// between the two is left out. It returns an empty list if svc does not
// exist.
func readMembers(ctx context.Context, conn recipes.Conn, svc string) ([]Instance, error) {
	names, _, err := conn.Children(ctx, svc)
	if errors.Is(err, tree.ErrNoNode) {
		return []Instance{}, nil
	}
	if err != nil {
		return nil, err
	}
	got := make([]*Instance, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, _, err := get(ctx, conn, recipe.Join(svc, name))
			if errors.Is(err, tree.ErrNoNode) {
				return
			}
			if err != nil {
				errs[i] = err
				return
			}
			nd, ok := decodeMember(d)
			if !ok {
				return
			}
			nd.Instance.ID = name
			got[i] = &nd.Instance
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(names))
	for _, in := range got {
		if in != nil {
			out = append(out, *in)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// sameMembers reports whether two sorted lists are equal.
func sameMembers(a, b []Instance) bool {
	return slices.EqualFunc(a, b, Instance.equal)
}

// Watch streams service's member list: the current list first, then the
// full list again after every change (a member added, removed, or its
// data updated), until ctx ends or the Registry is closed. The stream
// survives reconnects and, with NewDialRegistry, session expiries (it
// moves to the next session and syncs it first). A list is never older
// than one sent before it; a receiver slower than the changes gets the
// newest list (the channel holds one value, replaced by a newer one), and
// a list equal to the previous one is not sent again.
//
// The channel is closed when the stream ends: without a last value if
// ctx ended, else after a last Members whose Err says why (ErrClosed, or
// with a plain Conn client.ErrSessionExpired / client.ErrClosed). Watch
// itself fails only with ErrBadName or ErrClosed.
//
// It sets one persistent recursive watch on <path>/<service> per stream
// (removed when the stream ends) and rereads the whole list on every
// event, so each change costs a listing and one read per member: watch a
// few services, not thousands of members that change every second.
func (r *Registry) Watch(ctx context.Context, service string) (<-chan Members, error) {
	if err := r.checkService(service); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return nil, ErrClosed
	}
	out := make(chan Members, 1)
	r.wg.Add(1)
	go r.watch(ctx, service, out)
	return out, nil
}

// watch runs one Watch stream.
func (r *Registry) watch(ctx context.Context, service string, out chan Members) {
	defer r.wg.Done()
	defer close(out)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()

	// offer replaces an unread value by m: the only sender never blocks,
	// and a receiver always gets the newest list.
	offer := func(m Members) {
		select {
		case <-out:
		default:
		}
		out <- m
	}
	var last []Instance
	sent := false
	emit := func(list []Instance) {
		if sent && sameMembers(list, last) {
			return
		}
		last, sent = list, true
		offer(Members{Service: service, Instances: slices.Clone(list)})
	}
	end := func(err error) {
		switch {
		case ctx.Err() != nil: // the receiver's own doing: no last value
		case r.ctx.Err() != nil:
			offer(Members{Service: service, Err: ErrClosed})
		default:
			offer(Members{Service: service, Err: err})
		}
	}
	for {
		if wctx.Err() != nil {
			end(nil)
			return
		}
		s, err := r.sess.get(wctx)
		if err != nil {
			end(err)
			return
		}
		err = r.watchOn(wctx, s, service, emit)
		switch {
		case wctx.Err() != nil, err == nil:
		case sessionOver(err):
			select { // wait for the holder to notice
			case <-s.done:
			case <-wctx.Done():
			}
		default:
			// An error that is neither the session's nor ours (a server
			// error): try again shortly rather than spin.
			r.log.Warn("naming: watch failed, retrying", "service", service, "err", err)
			t := time.NewTimer(watchRetry)
			select {
			case <-t.C:
			case <-wctx.Done():
				t.Stop()
			}
		}
	}
}

// watchOn streams the list on session s until s ends (or a call says it
// did: the error then says so), the watch is removed (nil: set it again),
// or ctx ends.
func (r *Registry) watchOn(ctx context.Context, s *session, service string, emit func([]Instance)) error {
	svc := r.servicePath(service)
	if err := retryLoss(ctx, func() error { return s.sync(ctx) }); err != nil {
		return err
	}
	var w *client.Watch
	err := retryLoss(ctx, func() error {
		var err error
		w, err = s.conn.AddWatch(ctx, svc, true)
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		_ = w.Remove(cctx)
	}()
	states, unsubscribe := s.conn.Subscribe()
	defer unsubscribe()
	for {
		var list []Instance
		err := retryLoss(ctx, func() error {
			var err error
			list, err = readMembers(ctx, s.conn, svc)
			return err
		})
		if err != nil {
			return err
		}
		emit(list)
		// Wait for a change. Several queued events need one read.
		select {
		case ev, ok := <-w.C:
			if !ok || ev.Err != nil {
				return watchEnd(ev, ok)
			}
		drain:
			for {
				select {
				case ev, ok := <-w.C:
					if !ok || ev.Err != nil {
						return watchEnd(ev, ok)
					}
				default:
					break drain
				}
			}
		case <-states: // a reconnect: read again, events may have been missed
		case <-s.done:
			return client.ErrSessionExpired
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchEnd turns the end of a persistent watch into watchOn's result.
func watchEnd(ev client.Event, ok bool) error {
	if ok && errors.Is(ev.Err, client.ErrWatchRemoved) {
		return nil // removed by someone else: set it again
	}
	if ok {
		return ev.Err
	}
	return client.ErrClosed
}

// retryLoss runs f until it returns something else than a connection
// loss, or ctx ends.
func retryLoss(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || !connLoss(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
