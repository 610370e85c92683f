package client_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// exampleServer starts a standalone peer on a free loopback port with its
// data in a temporary directory (as `zabkit dev` would, on 127.0.0.1:2281)
// and returns its address and a func that stops it.
func exampleServer() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "zabkit-example-")
	if err != nil {
		panic(err)
	}
	s, err := ensemble.New(ensemble.Config{DataDir: dir, ClientAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := s.Start(context.Background()); err != nil {
		panic(err)
	}
	return s.Addr().String(), func() {
		s.Stop(context.Background())
		os.RemoveAll(dir)
	}
}

// Connect, create a node, watch it, change it, and see the event.
func Example() {
	addr, stop := exampleServer()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	path, err := c.Create(ctx, "/greeting", []byte("hello"), tree.ModePersistent)
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _, events, err := c.GetW(ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s = %s\n", path, data)
	if _, err := c.Set(ctx, path, []byte("hello again"), tree.AnyVersion); err != nil {
		fmt.Println(err)
		return
	}
	ev := <-events // already there: an event arrives before the reply that follows it
	fmt.Println(ev.Type, ev.Path)

	_, err = c.Create(ctx, path, nil, tree.ModePersistent)
	fmt.Println(err)
	// Output:
	// /greeting = hello
	// NodeDataChanged /greeting
	// tree: node already exists
}

// Watch a subtree with a persistent recursive watch.
func ExampleClient_AddWatch() {
	addr, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	if _, err := c.Create(ctx, "/services", nil, tree.ModePersistent); err != nil {
		fmt.Println(err)
		return
	}
	w, err := c.AddWatch(ctx, "/services", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Create(ctx, "/services/api", []byte("10.0.0.1:80"), tree.ModeEphemeral)
	c.Set(ctx, "/services/api", []byte("10.0.0.2:80"), tree.AnyVersion)
	c.Delete(ctx, "/services/api", tree.AnyVersion)
	for range 3 {
		ev := <-w.C
		fmt.Println(ev.Type, ev.Path)
	}
	if err := w.Remove(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// NodeCreated /services/api
	// NodeDataChanged /services/api
	// NodeDeleted /services/api
}

// Follow the connection state.
func ExampleClient_Subscribe() {
	addr, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		fmt.Println(err)
		return
	}
	states, unsubscribe := c.Subscribe()
	defer unsubscribe()
	fmt.Println(<-states)
	c.Close()
	for st := range states { // closed after StateClosed
		fmt.Println(st)
	}
	// Output:
	// connected
	// closed
}
