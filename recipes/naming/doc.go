// Package naming hands out unique ids and unique names, and keeps a
// service registry, on a zabkit ensemble, with Curator's semantics where
// Curator has the recipe (ServiceDiscovery, PersistentNode, GroupMember).
//
//	ids := naming.NewIDs(conn, "/ids/orders")
//	id, err := ids.Next(ctx) // unique, increasing, not dense
//
//	names := naming.NewNames(conn, "/names/hosts")
//	claim, err := names.Claim(ctx, "db-primary", []byte("10.0.0.7")) // or ErrTaken
//	defer claim.Release(ctx)
//
//	reg := naming.NewDialRegistry(func(ctx context.Context) (recipes.Conn, error) {
//		return client.Connect(ctx, servers)
//	}, "/services")
//	defer reg.Close(ctx)
//	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1", Address: "10.0.0.7:8080"})
//	members, err := reg.Watch(ctx, "api") // the full list after every change
//
// Everything is built on recipes.Conn (a *client.Client is one) and keeps
// the rules of package recipes.
//
// # Unique ids
//
// IDs.Next returns the creation zxid (czxid) of a node it creates and
// deletes at once. A zxid is epoch<<32 | counter: the ensemble assigns one
// to every write, in commit order, and never reuses one. So an id is a
// positive int64, unique across the whole ensemble (all paths, all
// clients), and greater than every id any client was given before the
// call began, even if the base path was deleted and re-created in between
// (the sequence numbers of sequential nodes restart then; zxids do not).
// Ids are not dense: consecutive ids differ by the number of writes the
// ensemble applied meanwhile, and jump by about 2^32 at each leader
// election. They stay unique as long as the ensemble keeps its history
// (a new ensemble, or one restored from an older backup, starts over).
//
// The node is ephemeral, protected and sequential:
// <path>/_c_<guid>-id-<seq>. A lost create reply is handled by
// recipe.CreateProtected (the call adopts its own node, found by GUID
// among its session's ephemerals), so it neither repeats nor skips an id
// and leaves no node; a delete that cannot finish leaves an ephemeral
// node that dies with the session. Next costs three round trips (create,
// exists, delete).
//
// # Unique names
//
// Names.Claim creates <path>/<name>, whose data is
//
//	"claim:" + <32 hex GUID of this claim> + "\n" + <owner data>
//
// Node creation is atomic, so of any number of concurrent claims exactly
// one succeeds; the others get ErrTaken. Claims are ephemeral by default
// (they end with the session, and Claim.Lost reports a session loss as
// recipe.Guard does) or persistent with WithPersistent (they end only
// with Release). After ErrConnectionLoss on the create, Claim reads the
// node: it is this claim's if it carries its GUID and, for an ephemeral
// claim, this session as ephemeralOwner; so a lost reply never turns a
// win into ErrTaken, and two claimants sharing one session (the sidecar's
// case) never both win. Owner and List show the claims; Claim.Token is
// the node's czxid, usable as a fencing token.
//
// # Service registry
//
// Registry.Register creates the ephemeral member node
// <path>/<service>/<instance id> holding the Instance as JSON (with the
// Registration's GUID in "registration"); Lookup lists a service's
// members, Watch streams the list, Services lists the services. Service
// nodes are containers: the server removes one soon after its last
// member goes.
//
// A Registration keeps its node (Curator's PersistentNode idea): if
// someone deletes it while the session lives, it is created again; Update
// changes the instance data (a versioned set); Deregister deletes it.
// What happens when the session expires depends on who owns the session,
// because a zabkit client never opens a new session by itself:
//
//   - NewRegistry(conn, path): the caller owns the session. On expiry (or
//     when conn is closed) the member nodes are gone with it, every
//     Registration's Lost is closed and its Context cancelled, and nothing
//     is re-created. Watch streams end with the session's error.
//   - NewDialRegistry(dial, path): the Registry owns its sessions. It
//     dials one, and when it expires or is closed, closes it, dials a new
//     one (with backoff, until Close) and re-creates every member node on
//     it, with the instance's latest data. Lost is never closed;
//     Registered says whether the node currently exists. If the new node
//     finds our own node of the old session still there (the client gave
//     the session up before the server did), it deletes that one first; a
//     node of another Registration holding the id is waited out, never
//     deleted. Lookup and Watch move to the new session and Sync it first,
//     so nothing read through the Registry goes back in time.
//
// A connection loss is not an expiry: the session, and with it the member
// node, survives a peer's death or a network blip, and nothing is
// reported.
//
// Watch sets one persistent recursive watch on the service node and
// rereads the list (children, then each member's data) after each batch
// of events and after each reconnect, so a member added, removed or
// updated always leads to a list at least that new. The channel holds one
// value and a newer list replaces an unread one: a slow receiver skips
// lists, never sees them out of order. This is the one place the package
// watches a whole parent: a registry has no node to wait for, and every
// watcher wants every change.
//
// # Znode layout
//
//	<ids path>/_c_<guid>-id-<seq>      ephemeral, lives for one Next
//	<names path>/<name>                ephemeral (or persistent), "claim:<guid>\n<data>"
//	<registry path>/<service>          container
//	<registry path>/<service>/<id>     ephemeral, Instance JSON + "registration"
//
// Parents are created on demand as containers.
//
// # Connection loss, expiry, cancellation
//
// Calls retry after client.ErrConnectionLoss and decide ambiguous creates
// as described above. A call whose ctx ends deletes the node it created
// (within recipe.CleanupTimeout) before returning ctx.Err(). Releases
// (Claim.Release, Registration.Deregister, Registry.Close) are idempotent
// and retryable: they return nil once the server confirmed the node is
// gone (or no longer theirs), or its ephemeral node died with the
// session.
//
// # Concurrency and goroutines
//
// All types are safe for concurrent use. IDs and Names hold no
// goroutines; a Claim holds one (two for ephemeral claims, with a
// recipe.Guard) until it is released or lost. A Registry holds one for its
// session, one per Registration and one per Watch stream; Close stops them
// all.
//
// # Tests
//
// The tests run against in-process 3-peer ensembles (recipetest): one
// shared by the Examples and the fault-free tests, and one per fault test
// (lost create replies, a client's peer killed, sessions expired by
// pausing a proxy). The default run takes about ten seconds.
// ZABKIT_LONG=1 runs the concurrency tests longer: more id rounds and
// draws per client, more claim rounds, more updates under Watch.
package naming
