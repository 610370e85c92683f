package config_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/config"
)

func ExampleStore_Get() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	type DB struct {
		URL  string `json:"url"`
		Pool int    `json:"pool"`
	}
	store, err := config.NewStore(c, "/example/get")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := store.Put(ctx, "db", DB{URL: "postgres://db:5432/app", Pool: 8}, config.CreateOnly); err != nil {
		fmt.Println(err)
		return
	}
	var db DB
	st, err := store.Get(ctx, "db", &db)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(db.URL, db.Pool, "version", st.Version)

	// A compare-and-set on the version read: a second writer using the
	// same, now stale, version gets ErrConflict.
	db.Pool = 16
	if _, err := store.Put(ctx, "db", db, st.Version); err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Put(ctx, "db", DB{URL: "other"}, st.Version)
	fmt.Println("conflict:", errors.Is(err, config.ErrConflict))
	// Output:
	// postgres://db:5432/app 8 version 0
	// conflict: true
}

func ExampleStore_Watch() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	store, err := config.NewStore(c, "/example/watch")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := store.Put(ctx, "feature/dark-mode", false, config.AnyVersion); err != nil {
		fmt.Println(err)
		return
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	changes, err := store.Watch(wctx, "feature")
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func(ch config.Change) {
		var on bool
		if ch.Deleted {
			fmt.Println(ch.Key, "deleted")
			return
		}
		if err := ch.Decode(&on); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ch.Key, on, "initial:", ch.Initial)
	}
	show(<-changes) // the current value comes first
	if _, err := store.Put(ctx, "feature/dark-mode", true, config.AnyVersion); err != nil {
		fmt.Println(err)
		return
	}
	show(<-changes)
	if err := store.Delete(ctx, "feature/dark-mode", config.AnyVersion); err != nil {
		fmt.Println(err)
		return
	}
	show(<-changes)
	stop()
	for range changes { // closed once the watch is removed
	}
	// Output:
	// feature/dark-mode false initial: true
	// feature/dark-mode true initial: false
	// feature/dark-mode deleted
}

func ExampleCache() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	store, err := config.NewStore(c, "/example/cache")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := store.Push(ctx, map[string]any{"limits/rps": 100, "limits/burst": 20}); err != nil {
		fmt.Println(err)
		return
	}

	changed := make(chan config.Change, 16)
	cache, err := config.NewCache(store, "limits", config.OnChange(func(ch config.Change) { changed <- ch }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()
	if err := cache.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	var rps int
	if _, err := cache.Get("limits/rps", &rps); err != nil { // local: no round trip
		fmt.Println(err)
		return
	}
	fmt.Println("rps", rps, "keys", cache.Len())

	if _, err := store.Put(ctx, "limits/rps", 250, config.AnyVersion); err != nil {
		fmt.Println(err)
		return
	}
	for ch := range changed {
		if !ch.Initial {
			fmt.Println("changed:", ch.Key)
			break
		}
	}
	if _, err := cache.Get("limits/rps", &rps); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rps", rps)
	// Output:
	// rps 100 keys 2
	// changed: limits/rps
	// rps 250
}

func ExampleCounter_Add() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, servers)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	hits, err := config.NewCounter(c, "/example/counters/hits")
	if err != nil {
		fmt.Println(err)
		return
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := hits.Add(ctx, 1); err != nil {
				fmt.Println(err)
			}
		})
	}
	wg.Wait()
	total, err := hits.Add(ctx, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("hits:", total)
	// Output:
	// hits: 15
}
