// Package config is a watched configuration service on a zabkit ensemble:
// typed values under a znode prefix, read and written with compare-and-set
// on the znode version, streamed by Watch, mirrored locally by a Cache,
// pushed atomically as a whole (PutAll, Diff and Plan.Apply), and a shared
// Counter.
//
//	store, err := config.NewStore(conn, "/config/app")
//	_, err = store.Put(ctx, "db/url", "postgres://db/app", config.AnyVersion)
//	var url string
//	stat, err := store.Get(ctx, "db/url", &url)
//	_, err = store.Put(ctx, "db/url", "postgres://db2/app", stat.Version) // CAS
//
//	changes, err := store.Watch(ctx, "db") // db and every key below it
//	for ch := range changes { ... }        // current values first, then changes
//
//	cache, err := config.NewCache(store, "", config.OnChange(func(ch config.Change) { ... }))
//	defer cache.Close()
//	err = cache.WaitReady(ctx)
//	_, err = cache.Get("db/url", &url) // local, no round trip
//
//	plan, err := store.Diff(ctx, map[string]any{"db/url": "...", "db/pool": 8})
//	fmt.Print(plan)        // "+ db/pool\n~ db/url\n- old/key\n"
//	err = plan.Apply(ctx)  // one multi: all or nothing, ErrConflict if anything moved
//
//	hits, err := config.NewCounter(conn, "/counters/hits")
//	n, err := hits.Add(ctx, 1)
//
// Everything is built on recipes.Conn alone. A Store holds no state, so many
// Stores, Watches and Caches may share one Conn (the sidecar's one session)
// and behave as independent users of it.
//
// # Keys and the znode layout
//
// A key is a relative path of znode names ("db/url"); it maps to the znode
// prefix + "/" + key:
//
//	/config/app               the prefix (created by the first write, never removed by the package)
//	/config/app/db            a directory: an empty persistent znode
//	/config/app/db/url        a key: a persistent znode holding the encoded value
//	/config/app/db/url/ro     a key below a key is allowed: db/url is both
//
// A znode with data is a key; an empty znode is a directory, not a key
// (List, Watch and Cache skip it, Get says ErrNotFound), which is why a value
// must never encode to zero bytes (ErrEmptyValue). Writes create missing
// parents as directories; Delete clears (rather than deletes) a key that has
// keys below it, and removes the directories it leaves empty, in the same
// multi. Directories are plain persistent znodes, not containers: the server
// deletes an empty container even if a value was later stored in it.
//
// A Counter is one persistent znode holding JSON (see Counter); its parents
// are created as containers.
//
// No sequential or ephemeral node is ever created, so the protected-create
// rule of package recipes has nothing to apply to here.
//
// # Values
//
// Values go through a Codec: JSON by default (maps with sorted keys, so
// equal values give equal bytes), Raw for bytes and strings as they are, or
// any Codec given with WithCodec. Change.Decode, Cache.Get and Store.Get
// decode with the store's codec.
//
// # Versions
//
// Every write is conditional. Put, Delete and Entry take a version:
// AnyVersion (no condition), CreateOnly (the key must be absent) or the
// znode version the key must be at, usually the Stat.Version a Get
// returned. A condition that fails writes nothing and returns ErrConflict.
// Versions are ZooKeeper's data versions: a key deleted and created again
// starts over, so a version compared long after it was read can match a
// different incarnation (the classic ABA); compare Stat.Czxid as well when
// that matters.
//
// # Watch and Cache
//
// Store.Watch and Cache follow a subtree with one persistent recursive watch
// (Conn.AddWatch) on it. Events carry no data: each create or data change
// is read back from the server (Get) and delivered if its Mzxid is newer
// than what was delivered for that key; each delete event is delivered if
// its zxid is newer. The server re-adds the persistent watch when the client
// reconnects but does not replay what changed meanwhile, so after every
// reconnect (any StateConnected after the first, from Conn.Subscribe) the
// whole subtree is read again and what is newer is delivered, including the
// deletion of keys no longer found.
//
// Guarantees, per key: values are delivered in the order the server applied
// them and never go back (a value with a smaller Mzxid, or a deletion older
// than the value, is never delivered after a newer one); the last value is
// always delivered, after reconnects too. Intermediate values may be skipped
// (the read-back returns the newest). Change.Zxid grows strictly from one
// Change of a key to the next, so a stream never delivers a value twice
// either (a reader of several streams, or of a stream and Store.Get, may
// of course see one value more than once). Across keys there is no
// snapshot: the changes of one multi may arrive spread over several reads.
// A Cache lags the server by an event's trip and read-back, longer while
// disconnected (it serves its last values meanwhile). Reads come from the
// server the client is connected to, never older than what the client
// already saw (the client refuses staler servers), so reads back from one
// session never go back in time.
//
// Load: a change under the subtree costs every Watch and Cache of it one
// event and one read. That is the point of watching a subtree, so there is
// no herd to avoid beyond that: nothing re-arms one-shot watches, and a
// reconnect costs one full read of the subtree per Watch or Cache (the walk
// keeps up to 16 reads in flight, pipelined on the one connection).
//
// # Multi-key updates
//
// PutAll applies entries in one multi, all or none, each conditional as
// above, creating directories and removing emptied ones in the same multi.
// Diff compares a desired key -> value map with the store and returns a Plan
// (creates, updates, deletes; String and Summary print it); Plan.Apply
// applies it in one multi in which every changed key is conditional on the
// version Diff saw and every unchanged key is checked at its version, so a
// concurrent change to any of them fails the whole push with ErrConflict and
// no partial write; Push is Diff then Apply. A key created concurrently
// under the prefix that the plan does not name is not detected (a multi can
// check versions, not the absence of unknown names). A multi is one request:
// it must fit in the server's frame (about 1 MiB), else
// client.ErrFrameTooLarge.
//
// # Connection loss, cancellation and expiry
//
// Reads retry after client.ErrConnectionLoss. A write whose reply is lost is
// resolved by reading back: Put, Delete, PutAll and Apply count the write
// as done when all its effects are in place (its bytes at the expected
// version, its deletes gone), write again when nothing changed, and otherwise
// return an error wrapping ErrIndeterminate (maybe applied) rather than
// guess. The Counter tells for sure in most cases; see Counter. If ctx ends
// while a Store write is in flight, the call returns ctx.Err() and the write
// may still be applied, exactly as with the client: config writes are the
// user's own values, so there is no recipe node to clean up. The Counter
// instead finds out (see Counter.Add).
//
// When the session expires or the client is closed, a Watch delivers a last
// Change with client.ErrSessionExpired or client.ErrClosed and closes its
// channel, and a Cache stops: Done is closed, Err says why, OnChange gets a
// last Change with the error, and the values stay readable. Neither opens a
// new session: make a new client, then a new Store, Watch or Cache.
//
// # Errors
//
// The sentinels are in errors.go: ErrNotFound, ErrConflict, ErrBadKey,
// ErrBadVersion, ErrEmptyValue, ErrCodec, ErrIndeterminate, ErrCounterData,
// ErrOverflow, ErrClosed; each says which calls return it. Client errors
// (client.ErrSessionExpired, client.ErrClosed, ctx.Err()) come wrapped.
// Compare with errors.Is.
//
// # Concurrency
//
// Store, Cache and Counter are safe for concurrent use. A Watch runs one
// goroutine, which ends (removing its watch) when its ctx ends or the
// session does, and then closes the channel. A Cache runs one goroutine,
// which applies changes and calls OnChange; Close stops it and waits for
// it.
//
// # Tests
//
// The tests run against a real in-process 3-peer ensemble (one shared by
// the fault-free tests and the Examples, fresh ones for fault tests). Set
// ZABKIT_LONG=1 for longer runs of the ordering checkers (more writers and
// changes); ZABKIT_SEED replays a randomized test.
package config
