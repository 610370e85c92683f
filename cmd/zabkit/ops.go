package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// zk is the part of *client.Client the commands use; tests may pass
// anything that behaves like it.
type zk interface {
	Create(ctx context.Context, path string, data []byte, mode tree.CreateMode) (string, error)
	CreateTTL(ctx context.Context, path string, data []byte, mode tree.CreateMode, ttl time.Duration) (string, error)
	Get(ctx context.Context, path string) ([]byte, tree.Stat, error)
	GetW(ctx context.Context, path string) ([]byte, tree.Stat, <-chan client.Event, error)
	Set(ctx context.Context, path string, data []byte, version int32) (tree.Stat, error)
	Delete(ctx context.Context, path string, version int32) error
	Exists(ctx context.Context, path string) (bool, tree.Stat, error)
	Children(ctx context.Context, path string) ([]string, tree.Stat, error)
	ChildrenW(ctx context.Context, path string) ([]string, tree.Stat, <-chan client.Event, error)
	ChildrenPage(ctx context.Context, path, after string, max int) ([]string, bool, error)
	Sync(ctx context.Context, path string) error
	GetEphemerals(ctx context.Context, prefix string) ([]string, error)
	AddWatch(ctx context.Context, path string, recursive bool) (*client.Watch, error)
	Close() error
}

// dialClient connects the real client, giving up after connectTimeout.
func dialClient(ctx context.Context, servers []string, sessionTimeout, connectTimeout time.Duration) (zk, error) {
	var opts []client.Option
	if sessionTimeout > 0 {
		opts = append(opts, client.WithSessionTimeout(sessionTimeout))
	}
	// Connect keeps trying the servers until its ctx ends: connectTimeout
	// bounds the whole attempt.
	if connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectTimeout)
		defer cancel()
	}
	c, err := client.Connect(ctx, servers, opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// pageSize is how many children deleteall, ls -R and path completion ask
// for at once (a var so that tests can make paging happen).
var pageSize = 500

// ops runs the zkCli commands: one method per command, writing results to
// p. The same methods serve one-shot commands and the shell.
type ops struct {
	c zk
	p printer
	// hint receives human notes (such as "watching /a") that are not results.
	hint io.Writer
	// onWatch takes the event channel of get -w and ls -w; nil means the
	// method itself waits for the event and prints it.
	onWatch func(p printer, path string, ch <-chan client.Event)
}

// createMode maps zkCli's create flags to a mode; it fails on combinations
// ZooKeeper has no mode for.
func createMode(sequential, ephemeral, container, ttl bool) (tree.CreateMode, error) {
	switch {
	case container && (sequential || ephemeral || ttl):
		return 0, errors.New("-c cannot be combined with -s, -e or -t")
	case ttl && ephemeral:
		return 0, errors.New("-t cannot be combined with -e")
	case container:
		return tree.ModeContainer, nil
	case ttl && sequential:
		return tree.ModePersistentSequentialWithTTL, nil
	case ttl:
		return tree.ModePersistentWithTTL, nil
	case ephemeral && sequential:
		return tree.ModeEphemeralSequential, nil
	case ephemeral:
		return tree.ModeEphemeral, nil
	case sequential:
		return tree.ModePersistentSequential, nil
	}
	return tree.ModePersistent, nil
}

// create makes path and prints the created path (with its sequence suffix).
func (o *ops) create(ctx context.Context, path string, data []byte, mode tree.CreateMode, ttl time.Duration) error {
	var created string
	var err error
	if mode.IsTTL() {
		created, err = o.c.CreateTTL(ctx, path, data, mode, ttl)
	} else {
		created, err = o.c.Create(ctx, path, data, mode)
	}
	if err != nil {
		return onPath(path, err)
	}
	return o.p.emit(nodeJSON{Path: created}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, created)
		return err
	})
}

// get prints path's data, then its stat if withStat; with watch it leaves a
// data watch whose event is printed when it fires.
func (o *ops) get(ctx context.Context, path string, withStat, watch bool) error {
	var data []byte
	var st tree.Stat
	var ch <-chan client.Event
	var err error
	if watch {
		data, st, ch, err = o.c.GetW(ctx, path)
	} else {
		data, st, err = o.c.Get(ctx, path)
	}
	if err != nil {
		return onPath(path, err)
	}
	n := nodeJSON{Path: path, Stat: toStatJSON(st)}
	n.setData(data)
	err = o.p.emit(n, func(w io.Writer) error {
		if _, err := w.Write(append(data[:len(data):len(data)], '\n')); err != nil {
			return err
		}
		if withStat {
			return writeStat(w, st)
		}
		return nil
	})
	if err != nil || !watch {
		return err
	}
	return o.awaitWatch(ctx, path, ch)
}

// awaitWatch hands ch to onWatch, or waits for its one event and prints it.
// A cancelled ctx ends the wait without error.
func (o *ops) awaitWatch(ctx context.Context, path string, ch <-chan client.Event) error {
	if o.onWatch != nil {
		o.onWatch(o.p, path, ch)
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case ev, ok := <-ch:
		if !ok {
			return nil
		}
		if ev.Err != nil {
			return onPath(path, ev.Err)
		}
		return o.p.writeEvent(ev, "")
	}
}

// set replaces path's data if its version matches (-1: any); it prints the
// new stat with withStat (always with JSON).
func (o *ops) set(ctx context.Context, path string, data []byte, version int32, withStat bool) error {
	st, err := o.c.Set(ctx, path, data, version)
	if err != nil {
		return onPath(path, err)
	}
	return o.p.emit(nodeJSON{Path: path, Stat: toStatJSON(st)}, func(w io.Writer) error {
		if withStat {
			return writeStat(w, st)
		}
		return nil
	})
}

// deletedJSON reports a delete or deleteall.
type deletedJSON struct {
	Path    string `json:"path"`
	Deleted int    `json:"deleted"`
}

// delete removes path if its version matches (-1: any). It prints nothing
// as text, {"path", "deleted": 1} as JSON.
func (o *ops) delete(ctx context.Context, path string, version int32) error {
	if err := o.c.Delete(ctx, path, version); err != nil {
		return onPath(path, err)
	}
	return o.p.emit(deletedJSON{Path: path, Deleted: 1}, func(io.Writer) error { return nil })
}

// deleteAll removes path and everything under it, deepest first, listing
// children a page at a time. Deleting "/" removes everything but "/".
func (o *ops) deleteAll(ctx context.Context, path string) error {
	if ok, _, err := o.c.Exists(ctx, path); err != nil {
		return onPath(path, err)
	} else if !ok {
		return onPath(path, tree.ErrNoNode)
	}
	n, err := o.deleteTree(ctx, path)
	if err != nil {
		return err
	}
	return o.p.emit(deletedJSON{Path: path, Deleted: n}, func(io.Writer) error { return nil })
}

// deleteTree deletes path's subtree and then path; nodes that vanish on
// their own meanwhile are skipped. It returns how many nodes it deleted.
func (o *ops) deleteTree(ctx context.Context, path string) (int, error) {
	deleted := 0
	for attempt := 0; ; attempt++ {
		// Always list from the start: the names of the last page are gone.
		for {
			names, _, err := o.c.ChildrenPage(ctx, path, "", pageSize)
			if errors.Is(err, tree.ErrNoNode) {
				return deleted, nil
			}
			if err != nil {
				return deleted, onPath(path, err)
			}
			if len(names) == 0 {
				break
			}
			for _, name := range names {
				n, err := o.deleteTree(ctx, join(path, name))
				deleted += n
				if err != nil {
					return deleted, err
				}
			}
		}
		if path == "/" {
			return deleted, nil
		}
		err := o.c.Delete(ctx, path, tree.AnyVersion)
		switch {
		case err == nil:
			return deleted + 1, nil
		case errors.Is(err, tree.ErrNoNode):
			return deleted, nil
		case errors.Is(err, tree.ErrNotEmpty) && attempt < 3:
			continue // a child appeared meanwhile: go again
		}
		return deleted, onPath(path, err)
	}
}

// join returns the path of child name under parent.
func join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// ls prints path's children as zkCli does ("[a, b]"), then its stat with
// withStat; with watch it leaves a child watch whose event is printed when
// it fires.
func (o *ops) ls(ctx context.Context, path string, withStat, watch bool) error {
	var names []string
	var st tree.Stat
	var ch <-chan client.Event
	var err error
	if watch {
		names, st, ch, err = o.c.ChildrenW(ctx, path)
	} else {
		names, st, err = o.c.Children(ctx, path)
	}
	if err != nil {
		return onPath(path, err)
	}
	if names == nil {
		names = []string{}
	}
	n := nodeJSON{Path: path, Children: &names}
	if withStat {
		n.Stat = toStatJSON(st)
	}
	err = o.p.emit(n, func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, zkList(names)); err != nil {
			return err
		}
		if withStat {
			return writeStat(w, st)
		}
		return nil
	})
	if err != nil || !watch {
		return err
	}
	return o.awaitWatch(ctx, path, ch)
}

// lsRecursive prints path and every node under it, one full path per line
// (one {"path"} object each with JSON), parents before children, siblings
// sorted. It lists a page of children at a time.
func (o *ops) lsRecursive(ctx context.Context, path string) error {
	if ok, _, err := o.c.Exists(ctx, path); err != nil {
		return onPath(path, err)
	} else if !ok {
		return onPath(path, tree.ErrNoNode)
	}
	return o.walk(ctx, path)
}

func (o *ops) walk(ctx context.Context, path string) error {
	err := o.p.emit(nodeJSON{Path: path}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, path)
		return err
	})
	if err != nil {
		return err
	}
	after := ""
	for {
		names, more, err := o.c.ChildrenPage(ctx, path, after, pageSize)
		if errors.Is(err, tree.ErrNoNode) {
			return nil // deleted while we walked
		}
		if err != nil {
			return onPath(path, err)
		}
		for _, name := range names {
			if err := o.walk(ctx, join(path, name)); err != nil {
				return err
			}
		}
		if !more || len(names) == 0 {
			return nil
		}
		after = names[len(names)-1]
	}
}

// stat prints path's stat.
func (o *ops) stat(ctx context.Context, path string) error {
	ok, st, err := o.c.Exists(ctx, path)
	if err == nil && !ok {
		err = tree.ErrNoNode
	}
	if err != nil {
		return onPath(path, err)
	}
	return o.p.emit(nodeJSON{Path: path, Stat: toStatJSON(st)}, func(w io.Writer) error {
		return writeStat(w, st)
	})
}

// sync waits until the server has every write committed before it.
func (o *ops) sync(ctx context.Context, path string) error {
	if err := o.c.Sync(ctx, path); err != nil {
		return onPath(path, err)
	}
	return o.p.emit(struct {
		Path   string `json:"path"`
		Synced bool   `json:"synced"`
	}{path, true}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "Sync is OK")
		return err
	})
}

// watch sets a persistent (recursive with recursive) watch on path and
// prints every event until ctx is cancelled, which is a clean end. It fails
// if the session ends.
func (o *ops) watch(ctx context.Context, path string, recursive bool) error {
	w, err := o.c.AddWatch(ctx, path, recursive)
	if err != nil {
		return onPath(path, err)
	}
	defer func() {
		// The shell keeps its session: take the watch off the server.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = w.Remove(rctx)
	}()
	what := "watching"
	if recursive {
		what = "watching recursively"
	}
	if o.hint != nil {
		fmt.Fprintf(o.hint, "%s %s; Ctrl-C to stop\n", capitalize(what), path)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.C:
			if !ok {
				return nil
			}
			if errors.Is(ev.Err, client.ErrWatchRemoved) {
				return nil
			}
			if ev.Err != nil {
				return onPath(path, ev.Err)
			}
			if err := o.p.writeEvent(ev, ""); err != nil {
				return err
			}
		}
	}
}

// getEphemerals prints the full paths of this session's ephemeral nodes
// under prefix.
func (o *ops) getEphemerals(ctx context.Context, prefix string) error {
	paths, err := o.c.GetEphemerals(ctx, prefix)
	if err != nil {
		return onPath(prefix, err)
	}
	if paths == nil {
		paths = []string{}
	}
	return o.p.emit(struct {
		Prefix string   `json:"prefix"`
		Paths  []string `json:"paths"`
	}{prefix, paths}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, zkList(paths))
		return err
	})
}
