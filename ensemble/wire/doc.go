// Package wire defines the client protocol of a zabkit peer: frames, the
// handshake, requests, responses and watch events, and the one table that
// maps error codes to the sentinel errors both sides compare with errors.Is.
//
// A client connects, sends a ConnectRequest and reads the ConnectResponse;
// then it sends Requests and reads Responses:
//
//	w := wire.NewWriter(conn, wire.DefaultMaxFrame)
//	r := bufio.NewReader(conn)
//	_ = w.WriteConnectRequest(&wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: 10000})
//	_ = w.Flush()
//	body, err := wire.ReadFrame(r, wire.DefaultMaxFrame, nil)
//	var cr wire.ConnectResponse
//	err = wire.DecodeConnectResponse(body, &cr) // then cr.Code.Err(cr.Message)
//
//	_ = w.WriteRequest(&wire.Request{Xid: 1, Op: wire.OpGetData, Path: "/a"})
//	_ = w.Flush()
//	body, err = wire.ReadFrame(r, int(cr.MaxFrame), body)
//	var resp wire.Response
//	err = wire.DecodeResponse(body, &resp) // resp.Xid == 1, resp.Data, resp.Stat
//
// It imports tree (for Stat, Op, Event and the tree's sentinel errors) and
// internal/mpsafe; nothing else from zabkit.
//
// # Frames
//
// Each direction of a TCP connection is a sequence of frames. A frame is a
// 4-byte big-endian length N, then N bytes of body; the body is exactly one
// msgpack value, the message. N is at least 1 and at most the receiver's
// cap: DefaultMaxFrame unless configured, and the server tells the client
// its cap in ConnectResponse.MaxFrame. ReadFrame checks N against the cap
// before it allocates anything and returns ErrFrameTooLarge for a larger
// claim and ErrMarshalling for N == 0; either way the stream cannot be
// resynchronised and the receiver closes the connection. WriteFrame and
// Writer send frames; Writer batches many into one write, and its Write
// methods refuse with ErrFrameTooLarge a body over the cap they were given,
// before anything is sent.
//
// # Messages
//
// Every message is a msgpack map from short string keys (the msgpack tags
// in messages.go) to values, so fields can be added without breaking older
// peers:
//
//   - a receiver ignores keys it does not know, and a key that is absent
//     means the field's zero value; a sender omits most zero fields;
//   - integers may be sent in any msgpack width, but must fit the field (an
//     int32 field holding 2^32 is malformed, not truncated);
//   - str and bin are interchangeable, and nil reads as the zero value.
//
// Before decoding, every body is walked once by mpsafe.Check: a length
// claim larger than the bytes left (a 5-byte body claiming an array of 2^31
// elements), nesting deeper than mpsafe.DefaultMaxDepth, a truncated value,
// a reserved type byte or trailing bytes make the body malformed, so a
// decoder never allocates more than the body can describe. DecodeRequest,
// DecodeResponse, DecodeConnectRequest and DecodeConnectResponse then decode
// into the typed struct and return an error wrapping ErrMarshalling, naming
// the field, for a wrong type or an out-of-range integer. They do not judge
// meaning: an unknown OpCode, a bad path or a bad mode is for the server to
// answer (CodeUnimplemented, CodeBadArguments). AppendRequest,
// AppendResponse, AppendConnectRequest and AppendConnectResponse encode
// into a caller's buffer without allocating; their output is byte for byte
// what github.com/vmihailenco/msgpack/v5 writes for the same struct with
// compact integers.
//
// # Handshake
//
// The client's first frame on a new connection is a ConnectRequest:
// ProtocolVersion (this package's ProtocolVersion), the largest zxid it
// has seen (LastZxidSeen), the session timeout it asks for in ms, and either
// SessionID 0 for a new session or the SessionID and Password of a session
// it resumes. It sends nothing more until it has the answer.
//
// The server answers with a ConnectResponse. With CodeOK the session is
// open: SessionID and Password identify it (keep them to resume it on
// another connection), Timeout is the negotiated timeout (the request
// clamped to the server's minimum and maximum), ServerID and LastZxid
// describe the server, and MaxFrame is the largest body it accepts.
// Otherwise Code says why the server refused and the server closes the
// connection after the frame:
//
//   - CodeBadProtocol: an unknown ProtocolVersion, or a first frame that is
//     not a ConnectRequest (a Request decodes as ProtocolVersion 0);
//   - CodeSessionExpired: the session to resume has expired or was closed;
//   - CodeAuthFailed: the Password does not match the session;
//   - CodeTooManyConnections: the client's address has too many connections;
//   - CodeStaleServer: the server has not yet applied LastZxidSeen, so it
//     would show the client an older tree than it has seen; try another;
//   - CodeShuttingDown: the server is stopping.
//
// A malformed first frame is not answered; the connection is closed.
//
// # Requests and replies
//
// After the handshake the client sends Requests. Each carries an Xid the
// client chooses, positive and, by convention, increasing; negative Xids are
// reserved for frames the server starts. The server answers every Request
// with exactly one Response carrying the same Xid, the zxid the server had
// applied when it answered (the client keeps the largest it has seen and
// sends it as LastZxidSeen when it reconnects), and Code: CodeOK with the
// op's result fields (listed beside each OpCode), or an error code with an
// optional Message and no result, except for OpExists's CodeNoNode, which
// still sets the watch, and OpMulti, whose Results carry a code per op.
// OpPing keeps the session alive and its reply carries only Xid and Zxid.
// OpCloseSession ends the session (its ephemeral nodes are deleted in one
// transaction); the server answers and then closes the connection.
//
// # Ordering
//
// The server answers a connection's requests in the order they were sent,
// reads and writes alike: a read sent after a write sees that write. Watch
// events and replies share the connection's single outbound stream, and a
// watch event is sent before any reply whose result reflects the change
// that fired it, so a client that has read a reply showing new data has
// already read the event for it. Events arrive in zxid order.
//
// # Watch events
//
// A frame with Xid == XidWatchEvent (-1) answers no request: it carries a
// watch event in Event (Type, Path, Zxid), and Zxid, the event's zxid. The
// client routes it to every watch it holds that matches, by path and kind,
// as ZooKeeper does: one-shot watches are set by OpGetData, OpExists and
// OpGetChildren with Watch true (OpExists sets one on a missing node, which
// fires when the node is created) and are gone once they fire; persistent
// and persistent-recursive watches are set by OpAddWatch and stay until
// OpRemoveWatches removes them or the session ends. The server keeps watches
// per connection; after a reconnect the client re-registers them with
// OpSetWatches, giving in RelZxid the last zxid it saw, and the server fires
// at once any whose node changed after it.
//
// # Paging children
//
// OpGetChildren returns a page of names in sorted order: those after After
// ("" starts at the beginning), at most Max of them (0: as many as fit in
// one frame). More is true when names remain after the last one returned;
// the next page asks for After set to that name. Every page carries the
// parent's Stat as of that page, so a client that sees Cversion change
// between pages knows the listing is not one consistent view. A reply never
// exceeds the frame cap, however many children a node has.
//
// # Limits
//
// Frames are capped as above. The server also caps a node's data (a larger
// create or setData fails with CodeBadArguments), the requests a connection
// may have outstanding (CodeTooManyRequests for the excess; the client should
// wait for replies) and connections per client address (CodeTooManyConnections
// in the handshake). A malformed frame from a client closes that client's
// connection and no other.
//
// # Errors
//
// Code values follow ZooKeeper's KeeperException codes where ZooKeeper has
// one. CodeOf maps an error to its Code (any error wrapping a sentinel in
// the table; CodeSystemError for the rest), and Code.Err maps it back to the
// same sentinel, wrapped with the Message when there is one, so after a
// round trip errors.Is(err, tree.ErrNoNode) holds on the client. The
// sentinels for codes that are not tree errors are declared in codes.go.
// ReadFrame returns ErrFrameTooLarge and ErrMarshalling as described above,
// the Decode functions ErrMarshalling, the Append functions and Writer's
// Write methods ErrMarshalling for values msgpack cannot describe and
// ErrFrameTooLarge over the Writer's cap.
//
// # Concurrency
//
// The Append, Decode, ReadFrame and WriteFrame functions hold no state and
// may be called from any goroutine. A Writer, like a bufio.Reader, belongs to
// one goroutine at a time. Decoded messages never alias the frame they came
// from, so the frame's buffer may be reused at once.
package wire
