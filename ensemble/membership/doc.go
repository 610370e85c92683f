// Package membership runs the gossip side of a zabkit peer: a
// hashicorp/memberlist node next to the ZAB transport that tells where the
// configured members are now and hints when one has failed.
//
//	m, err := membership.Start(membership.Config{
//		Self:     membership.Meta{ID: 1, ClusterID: "zabkit", PeerAddr: "10.0.0.1:2888", ClientAddr: "10.0.0.1:2181"},
//		BindAddr: "10.0.0.1:7946",
//		Seeds:    []string{"10.0.0.2:7946", "10.0.0.3:7946"},
//		Members:  []uint64{1, 2, 3},
//		Secret:   peerSecret,
//		Logger:   logger,
//	})
//	if err != nil { ... }           // wraps ErrConfig or ErrBind
//	defer m.Close()
//	addr, ok := m.PeerAddr(2)       // where member 2 takes ZAB connections now
//	for id := range m.Down() { ... } // member id was declared dead or left
//
// # What it is for, and what it never does
//
// Each member announces a Meta (its id, cluster id, ZAB address and client
// address) in its memberlist node meta, under the node name "zabkit-<id>".
// Membership keeps the last Meta heard from every configured member, so a
// member restarted on a new address is found at it (PeerAddr, ClientAddr,
// Members), and turns memberlist's failure detection into hints on Down.
//
// It never decides who votes, who leads or what is committed. The voting set
// (voters and observers) is the static configuration given in
// Config.Members; gossip cannot add, remove or promote anyone. A Down hint
// is advice to drop a connection or redial, and an address from gossip is
// only a place to dial: the ZAB handshake still checks the cluster id, the
// server id and the peer secret of whoever answers there.
//
// # Strangers
//
// A node heard through gossip is a stranger, and is refused before it
// enters memberlist's view, if
//   - its meta is longer than MaxMetaBytes or does not decode (a JSON
//     object with a cluster id and a host:port ZAB address),
//   - its ClusterID differs from ours,
//   - its node name is not "zabkit-<id>" for the id in its meta,
//   - its id is not in Config.Members, or
//   - its id is our own but it is not us (another address): a second process
//     claiming our id.
//
// The alive filter (memberlist's AliveDelegate) applies every rule to every
// alive message; the merge filter (MergeDelegate) refuses a whole join whose
// remote state holds a stranger, so a foreign cluster is never merged. Each
// refused name is logged once at Warn and counted in Strangers; nothing else
// a caller sees changes.
//
// Only the member whose id is claimed can tell a second claimant from
// itself; the others refuse it by memberlist's rule that a live name keeps
// its address. A stale record of an earlier run of ourselves at another
// gossip address, still believed alive somewhere, is counted as a stranger
// too. Two processes with one id are a misconfiguration: a leave by the
// impostor can make the others briefly believe the real member left.
//
// # The secret
//
// Without Config.Secret, gossip is plain: anyone who reaches the gossip port
// can read the member list and forge messages about members (memberlist
// messages about a member's death are not signed by it). With a secret, all
// gossip (UDP and TCP) is encrypted and authenticated with AES-256-GCM under
// the key SHA-256(ClusterID + "\x00" + Secret); a node without that key is
// not heard at all, and so is not counted as a stranger either. Every member
// of a cluster must use the same secret.
//
// # Timing
//
// Config.ProbeInterval (300 ms by default) sets every timing: a crashed
// member is declared dead and hinted on Down in about 1-2 s on a LAN. Seeds
// are retried with backoff (up to 10 probe intervals, at least 1 s) until
// another member answers; after that, every 10 probe intervals, the seeds
// and the last gossip addresses of members believed dead are joined again,
// so the two sides of a long partition find each other.
//
// # Concurrency
//
// All methods are safe for concurrent use. Start owns one goroutine (the
// join loop) and memberlist's own; Close waits for the join loop, leaves,
// and shuts memberlist down. memberlist's internal goroutines exit right
// after its Shutdown returns, without a handle to wait on.
//
// It imports nothing from zabkit.
package membership
