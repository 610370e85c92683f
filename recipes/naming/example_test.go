package naming_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/naming"
)

func ExampleIDs_Next() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	ids := naming.NewIDs(c, "/example/ids/orders")
	a, err := ids.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := ids.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Ids are zxids: unique and increasing across every client, not dense.
	fmt.Println("increasing:", a > 0 && b > a)
	left, _, _ := c.Children(ctx, "/example/ids/orders")
	fmt.Println("nodes left behind:", len(left))
	// Output:
	// increasing: true
	// nodes left behind: 0
}

func ExampleRegistry_Register() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The Registry dials its own sessions, so it can register again on a
	// new session after an expiry.
	reg := naming.NewDialRegistry(func(ctx context.Context) (recipes.Conn, error) {
		return client.Connect(ctx, servers)
	}, "/example/services")
	defer reg.Close(ctx)

	r, err := reg.Register(ctx, "api", naming.Instance{
		ID: "a1", Address: "10.0.0.7:8080", Metadata: map[string]string{"zone": "b"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func() {
		list, err := reg.Lookup(ctx, "api")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(list), "member(s)")
		for _, in := range list {
			fmt.Println(in.ID, in.Address, in.Metadata["zone"])
		}
	}
	show()
	if err := r.Update(ctx, naming.Instance{ID: "a1", Address: "10.0.0.7:8080", Metadata: map[string]string{"zone": "c"}}); err != nil {
		fmt.Println(err)
		return
	}
	show()
	if err := r.Deregister(ctx); err != nil {
		fmt.Println(err)
		return
	}
	show()
	// Output:
	// 1 member(s)
	// a1 10.0.0.7:8080 b
	// 1 member(s)
	// a1 10.0.0.7:8080 c
	// 0 member(s)
}

func ExampleRegistry_Watch() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	reg := naming.NewRegistry(c, "/example/watched")
	defer reg.Close(ctx)

	members, err := reg.Watch(ctx, "web")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Each value is the full list; an unchanged list is not sent again,
	// so every step below yields exactly one new list.
	next := func() {
		m := <-members
		if m.Err != nil {
			fmt.Println(m.Err)
			return
		}
		ids := []string{}
		for _, in := range m.Instances {
			ids = append(ids, in.ID)
		}
		fmt.Println(ids)
	}
	next()
	w1, _ := reg.Register(ctx, "web", naming.Instance{ID: "w1", Address: "10.0.0.1:80"})
	next()
	w2, _ := reg.Register(ctx, "web", naming.Instance{ID: "w2", Address: "10.0.0.2:80"})
	next()
	_ = w1.Deregister(ctx)
	next()
	_ = w2.Deregister(ctx)
	next()
	// Output:
	// []
	// [w1]
	// [w1 w2]
	// [w2]
	// []
}
