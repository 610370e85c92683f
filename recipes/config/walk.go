package config

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/tree"
)

// walkWorkers bounds the reads a walk has in flight at once. The client
// pipelines them on its one connection.
const walkWorkers = 16

// node is one znode a walk read.
type node struct {
	data []byte
	stat tree.Stat
}

// treeView is what a walk saw of a subtree. It is not one snapshot of the
// server: every node was read at its own moment, all after the walk began.
type treeView struct {
	root  string
	nodes map[string]node // every node read (data only if the walk asked)
	// listed holds, for every node whose children were listed, the names
	// and its Stat as the listing returned them (so its Pzxid covers every
	// child deleted before the listing).
	listed map[string]listing
	// rootMissing: the root did not exist when the walk began.
	rootMissing bool
	// floor, when the root is missing, is the Pzxid of its nearest
	// existing ancestor: no smaller than the zxid that deleted the root.
	floor tree.Zxid
}

// listing is one Children reply.
type listing struct {
	stat  tree.Stat
	names map[string]bool
}

// walk reads the subtree at root breadth first, level by level, with up to
// walkWorkers reads in flight. withData reads data (Get); otherwise only
// Stats (Exists). Nodes that vanish during the walk are skipped. It fails
// with the first client error (ErrConnectionLoss included: the caller
// walks again).
func walk(ctx context.Context, c recipes.Conn, root string, withData bool) (*treeView, error) {
	v := &treeView{root: root, nodes: map[string]node{}, listed: map[string]listing{}}
	rn, ok, err := readNode(ctx, c, root, withData)
	if err != nil {
		return nil, err
	}
	if !ok {
		v.rootMissing = true
		v.floor, err = ancestorFloor(ctx, c, root)
		return v, err
	}
	v.nodes[root] = rn
	var frontier []string
	if rn.stat.NumChildren > 0 {
		frontier = []string{root}
	}
	for len(frontier) > 0 {
		names := make([][]string, len(frontier))
		stats := make([]tree.Stat, len(frontier))
		found := make([]bool, len(frontier))
		err := parallel(ctx, len(frontier), func(ctx context.Context, i int) error {
			ns, st, err := c.Children(ctx, frontier[i])
			if errors.Is(err, tree.ErrNoNode) {
				return nil
			}
			if err != nil {
				return err
			}
			names[i], stats[i], found[i] = ns, st, true
			return nil
		})
		if err != nil {
			return nil, err
		}
		var paths []string
		for i, p := range frontier {
			if !found[i] {
				delete(v.nodes, p) // gone since it was read
				continue
			}
			l := listing{stat: stats[i], names: make(map[string]bool, len(names[i]))}
			for _, n := range names[i] {
				paths = append(paths, joinPath(p, n))
				l.names[n] = true
			}
			v.listed[p] = l
		}
		read := make([]node, len(paths))
		exists := make([]bool, len(paths))
		err = parallel(ctx, len(paths), func(ctx context.Context, i int) error {
			n, ok, err := readNode(ctx, c, paths[i], withData)
			read[i], exists[i] = n, ok
			return err
		})
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for i, p := range paths {
			if !exists[i] {
				continue
			}
			v.nodes[p] = read[i]
			if read[i].stat.NumChildren > 0 {
				frontier = append(frontier, p)
			}
		}
	}
	return v, nil
}

// readNode reads p's Stat (and data if withData); ok is false if p does
// not exist.
func readNode(ctx context.Context, c recipes.Conn, p string, withData bool) (node, bool, error) {
	if withData {
		data, st, err := c.Get(ctx, p)
		if errors.Is(err, tree.ErrNoNode) {
			return node{}, false, nil
		}
		return node{data: data, stat: st}, err == nil, err
	}
	ok, st, err := c.Exists(ctx, p)
	return node{stat: st}, ok && err == nil, err
}

// ancestorFloor returns the Pzxid of p's nearest existing ancestor ("/"
// always exists). A node deleted before the call was deleted at or before
// that zxid, and one created after it has a larger czxid.
func ancestorFloor(ctx context.Context, c recipes.Conn, p string) (tree.Zxid, error) {
	for p != "/" {
		p = parentOf(p)
		ok, st, err := c.Exists(ctx, p)
		if err != nil {
			return 0, err
		}
		if ok {
			return st.Pzxid, nil
		}
	}
	return 0, nil
}

// deletedAt returns a zxid for the deletion of p, a node under the walk's
// root that the walk did not find, and true; or false if p vanished while
// the walk ran (then, the walk having begun after the watch was set, the
// server's delete event is on its way and gives the exact zxid).
//
// It looks for the nearest ancestor the walk saw at a moment when p was
// already gone: one whose listing lacked the next name toward p, or one
// read with no children. That ancestor's Pzxid then is at or after the
// deletion (the delete of p, or of the ancestor of p it removed with it,
// changed it), and any later re-creation of p gets a larger czxid.
func (v *treeView) deletedAt(p string) (tree.Zxid, bool) {
	child := p
	for child != v.root && child != "/" {
		a := parentOf(child)
		if l, ok := v.listed[a]; ok {
			if l.names[child[strings.LastIndexByte(child, '/')+1:]] {
				return 0, false // listed, then gone: during the walk
			}
			return l.stat.Pzxid, true
		}
		if n, ok := v.nodes[a]; ok {
			return n.stat.Pzxid, true // read with no children
		}
		child = a
	}
	if !v.rootMissing {
		return 0, false // the root vanished during the walk
	}
	return v.floor, true
}

// parallel runs f(ctx, i) for i in [0, n) with at most walkWorkers at once
// and returns the first error; after one, the ctx passed to the others
// ends. It returns once every f has returned.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range min(n, walkWorkers) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
