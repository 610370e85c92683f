// Package transport moves ZAB messages between the members of a static
// ensemble over TCP: one authenticated, ordered, batched stream per ordered
// pair of members.
//
//	t, err := transport.New(transport.Config{
//		ID:         1,
//		ClusterID:  "zabkit",
//		Secret:     secret,
//		ListenAddr: "10.0.0.1:2888",
//		Members:    []uint64{1, 2, 3},
//		Resolve:    addrs.Lookup, // id -> current "host:port"
//	})
//	defer t.Close()
//	for _, m := range rd.Messages { // a broadcast.Ready
//		t.Send(m) // never blocks
//	}
//	select {
//	case p := <-t.Recv(): // p.From is authenticated; p.Msg or p.App
//		peer.Step(*p.Msg)
//	case id := <-t.Down(): // a hint: the link to id broke
//	}
//
// The ensemble's driver owns a broadcast.Peer in one goroutine: it calls
// Send for every message of a Ready and selects on Recv. SendApp carries
// opaque application payloads (request forwarding, say) in the same stream.
//
// # Connections and ordering
//
// Messages to member j travel on one outbound TCP connection that this side
// dials, lazily, when something is queued for j; j's messages to this
// member come on the connection j dials. Each pair of members therefore has
// two connections, one per direction. One writer goroutine per destination
// drains its queue and writes the queued frames with one write (writev) per
// 256 KiB encoded: many messages, one syscall. A byte slice of 64 KiB or
// more (a snapshot) is written from where it lies, not copied.
//
// Send and SendApp never block. Messages and payloads to one destination are
// written in the order they were queued, and Recv delivers each sender's
// packets in the order they arrived: FIFO per pair. When a member's new
// connection is accepted, the reader of its previous one is stopped (and
// what it had not delivered dropped) before the new one delivers anything,
// so packets of two connections never interleave.
//
// # Loss
//
// The transport does not retransmit. When a connection breaks (an error, a
// stalled write, the peer closing, a malformed frame), what was queued for it
// or in flight is lost, a Down hint is sent, and the next Send redials. A
// failed dial or handshake drops the queue too and backs off (10 ms, doubling
// to 500 ms, reset by a successful handshake): Sends in the meantime are
// queued and sent once the dial succeeds; nothing ever loops without a
// Send. A destination whose queue reaches Config.QueueLimit (a peer that
// stopped reading) has its queue dropped and its connection reset, as if it
// broke, so memory stays bounded. Messages to this member or to a non-member
// are dropped (logged at Debug). ZAB's core tolerates all of this: it
// resends unanswered messages and resynchronizes followers; every Session
// starts anew on a new connection. Stats counts what was dropped.
//
// Down hints are sent without blocking on a buffered channel and may be
// dropped when it is full; they may be stale. Connected reports whether the
// outbound connection to a member is authenticated and up.
//
// # Authentication
//
// Before any message, a connection runs a mutual handshake, each frame at
// most 4 KiB, the whole within Config.HandshakeTimeout (5 s):
//
//  1. the listener sends hello: {version, cluster id, its server id, a
//     16-byte random nonce};
//  2. the dialer checks the cluster id and that the listener is the member
//     it meant to reach, and sends auth: {cluster id, from (its id), to
//     (the listener's id), its own 16-byte nonce, HMAC-SHA256(key,
//     "zabkit-peer-v1" | listener nonce | from | to)};
//  3. the listener checks the cluster id, that from is a configured member
//     other than itself, that to is itself, and the MAC, and sends welcome:
//     {HMAC-SHA256(key, "zabkit-peer-v1-reply" | dialer nonce | to | from)},
//     which the dialer checks.
//
// key is SHA-256(cluster id | 0x00 | Config.Secret), ids are 8 bytes
// big-endian. Any failure sends a short refusal frame with the reason when
// possible, closes the connection, logs at Warn with the remote address and
// the reason, and is counted (Stats.Refused inbound, Stats.DialFailed
// outbound). A stranger (an id not in Config.Members) never gets a packet
// into Recv, and after the handshake every ZAB message's From must be the
// authenticated member and its To this member, or the connection is closed.
//
// Without a Secret, the key is derived from the cluster id alone: the
// handshake then only checks ids and the cluster id, guarding against
// misconfiguration (a member of another ensemble, a wrong address), not
// against a malicious host, which can claim any member's id. With a Secret,
// each side proves it knows the secret, and the nonces make a recorded
// handshake useless. Either way the stream after the handshake is neither
// encrypted nor integrity-protected: against an attacker on the network path,
// run peers on a private network or a tunnel (WireGuard, IPsec).
//
// # Frames
//
// Both directions are a sequence of frames: a 4-byte big-endian length N,
// then N bytes of body. The body's first byte is its kind: 1 a ZAB message,
// 2 an application payload (the rest of the body, as is), 3 to 6 the
// handshake's hello, auth, welcome and refuse. N is checked against the cap
// (4 KiB during the handshake, Config.MaxFrame, 1 GiB by default, after it)
// before anything is allocated, and a body over 64 KiB is allocated as its
// bytes arrive, so a claim that is never delivered costs little. A larger
// claim, an empty frame or an unknown kind closes the connection. A sender
// drops, with a Warn, a message whose frame would exceed its own MaxFrame;
// members should share one value.
//
// A ZAB message is a msgpack array of a format version and every field of
// broadcast.Message in a fixed order (codec.go); AppendMessage and
// DecodeMessage are the codec. Every body is walked by mpsafe.Check before
// it is decoded into the typed struct, so no length claim exceeds the bytes
// present; an unknown version, message type or state, a wrong type or
// trailing bytes close the connection. Decoded data never aliases a buffer
// the transport reuses: the driver may keep it.
//
// # Errors
//
// New returns an error wrapping ErrConfig for a bad Config or the listener's
// error. AppendMessage returns ErrFrameTooLarge; DecodeMessage returns
// ErrMalformed. Everything else happens in the transport's goroutines and
// is logged (Config.Logger) and counted (Stats): ErrHandshake for failed
// handshakes, ErrFrameTooLarge and ErrMalformed for bad frames,
// ErrUnresolved when Resolve has no address.
//
// # Concurrency
//
// Every method is safe for concurrent use. New starts an accept loop and a
// writer per other member; each connection adds a goroutine (a reader
// inbound, a watcher that notices a closed peer outbound). Close stops and
// waits for all of them and is idempotent; the channels of Recv and Down
// stay open.
package transport
