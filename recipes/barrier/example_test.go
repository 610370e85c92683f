package barrier_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/barrier"
)

func ExampleBarrier_Wait() {
	ctx := context.Background()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	b := barrier.NewBarrier(c, "/examples/jobs/start")
	if err := b.Set(ctx); err != nil {
		fmt.Println(err)
		return
	}
	released := make(chan error, 1)
	go func() { released <- b.Wait(ctx) }() // a worker waits for the go

	set, _ := b.IsSet(ctx)
	fmt.Println("set:", set)
	if err := b.Remove(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("worker released:", <-released)
	// Output:
	// set: true
	// worker released: <nil>
}

func ExampleDoubleBarrier_Enter() {
	ctx := context.Background()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	const workers = 3
	var mu sync.Mutex
	arrived, together := 0, true
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			// Each worker is a member; here they share one session.
			d := barrier.NewDoubleBarrier(c, "/examples/workers", workers, barrier.WithData(fmt.Appendf(nil, "worker-%d", i)))
			mu.Lock()
			arrived++
			mu.Unlock()
			if err := d.Enter(ctx); err != nil { // blocks until all 3 are in
				fmt.Println(err)
				return
			}
			mu.Lock()
			together = together && arrived == workers
			mu.Unlock()
			// ... the work ...
			if err := d.Leave(ctx); err != nil { // blocks until all 3 are out
				fmt.Println(err)
			}
		})
	}
	wg.Wait()
	fmt.Println("every worker started with all 3 in:", together)
	members, _ := barrier.NewDoubleBarrier(c, "/examples/workers", workers).Members(ctx)
	fmt.Println("members left:", len(members))
	// Output:
	// every worker started with all 3 in: true
	// members left: 0
}
