package tree_test

import (
	"bytes"
	"fmt"

	"github.com/zabkit/zabkit/tree"
)

func ExampleTree_Apply() {
	t := tree.New(tree.Config{})
	w := tree.NewWatches()
	w.Add("/app", tree.WatchExist, 1)
	zxid := tree.MakeZxid(1, 0)
	apply := func(op tree.Op) tree.OpResult {
		zxid++
		res, events, err := t.Apply(&tree.Txn{Zxid: zxid, Time: 1700000000000, Kind: tree.TxnOps, Ops: []tree.Op{op}})
		if err != nil {
			panic(err) // a broken invariant
		}
		for _, ev := range events {
			w.Trigger(ev, func(id tree.WatcherID, ev tree.Event) {
				fmt.Printf("watcher %d: %v %s\n", id, ev.Type, ev.Path)
			})
		}
		return res.Ops[0]
	}
	apply(tree.Op{Type: tree.OpCreate, Path: "/app", Data: []byte("v1")})
	r := apply(tree.Op{Type: tree.OpCreate, Path: "/app/job-", Mode: tree.ModePersistentSequential})
	fmt.Println("created", r.Path)
	r = apply(tree.Op{Type: tree.OpSetData, Path: "/app", Data: []byte("v2"), Version: 5})
	fmt.Println("setData:", r.Err)
	data, st, _ := t.Get("/app")
	fmt.Printf("%s version=%d children=%d\n", data, st.Version, st.NumChildren)
	// Output:
	// watcher 1: NodeCreated /app
	// created /app/job-0000000000
	// setData: tree: version does not match
	// v1 version=0 children=1
}

func ExampleFrozen_WriteTo() {
	t := tree.New(tree.Config{})
	_, _, _ = t.Apply(&tree.Txn{Zxid: 1, Kind: tree.TxnOps, Ops: []tree.Op{{Type: tree.OpCreate, Path: "/a", Data: []byte("x")}}})

	f := t.Snapshot()
	defer f.Release()
	// Changes after the snapshot are not in it.
	_, _, _ = t.Apply(&tree.Txn{Zxid: 2, Kind: tree.TxnOps, Ops: []tree.Op{{Type: tree.OpCreate, Path: "/b"}}})

	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		panic(err)
	}
	t2, err := tree.ReadSnapshot(&buf, tree.Config{})
	if err != nil {
		panic(err)
	}
	fmt.Println(t2.LastZxid(), t2.NodeCount(), t2.Digest() == f.Digest())
	// Output: 0x1 2 true
}
