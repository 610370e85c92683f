package election_test

import (
	"context"
	"fmt"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/election"
)

func ExampleElection_Campaign() {
	ctx := context.Background()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	a := election.NewElection(c, "/examples/campaign")
	l, err := a.Campaign(ctx, []byte("host-a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ld, _ := a.Leader(ctx)
	fmt.Printf("leader: %s, token matches: %v\n", ld.Value, ld.Token == l.Token())

	// A second participant (here on the same session) waits in line.
	b := election.NewElection(c, "/examples/campaign")
	won := make(chan *election.Leadership, 1)
	go func() {
		lb, err := b.Campaign(ctx, []byte("host-b"))
		if err != nil {
			fmt.Println(err)
		}
		won <- lb
	}()

	if err := a.Resign(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a's context after Resign:", l.Context().Err())
	lb := <-won
	if lb == nil {
		return
	}
	ld, _ = b.Leader(ctx)
	fmt.Printf("leader: %s, newer token: %v\n", ld.Value, lb.Token() > l.Token())
	if err := b.Resign(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// leader: host-a, token matches: true
	// a's context after Resign: context canceled
	// leader: host-b, newer token: true
}

func ExampleElection_Observe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	const path = "/examples/observe"
	events := election.NewElection(c, path).Observe(ctx)
	show := func() {
		ld := <-events
		if ld.None() {
			fmt.Println("no leader")
			return
		}
		fmt.Printf("leader says %q (version %d)\n", ld.Value, ld.Version)
	}
	show()

	a := election.NewElection(c, path)
	if _, err := a.Campaign(ctx, []byte("a")); err != nil {
		fmt.Println(err)
		return
	}
	show()
	if err := a.Proclaim(ctx, []byte("a, again")); err != nil {
		fmt.Println(err)
		return
	}
	show()
	if err := a.Resign(ctx); err != nil {
		fmt.Println(err)
		return
	}
	show()

	b := election.NewElection(c, path)
	if _, err := b.Campaign(ctx, []byte("b")); err != nil {
		fmt.Println(err)
		return
	}
	show()
	if err := b.Resign(ctx); err != nil {
		fmt.Println(err)
		return
	}
	show()

	cancel()
	for range events { // wait for the observer to stop
	}
	// Output:
	// no leader
	// leader says "a" (version 0)
	// leader says "a, again" (version 1)
	// no leader
	// leader says "b" (version 0)
	// no leader
}
