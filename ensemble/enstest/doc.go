// Package enstest runs a real zabkit ensemble inside a test process, for
// the tests of packages built on the client (recipes, the sidecar,
// examples), with the faults those tests need.
//
//	e := enstest.Start(t, enstest.Options{})  // 3 voters on 127.0.0.1
//	c := e.Connect(t)                          // a client on every peer
//	e.Kill(e.Leader(t))                        // crash the leader
//	e.Restart(t, id)                           // bring it back on its data
//
// Clients reach each peer through a Proxy that the test controls: Cut
// breaks every connection through it (a connection loss, the peer keeps
// running), Pause stops forwarding bytes without closing anything (a
// client whose packets are lost, until its session expires) and Resume
// forwards again. Peers use short ticks (10ms ZAB tick) so elections and
// session expiry take milliseconds to a second, not tens of seconds.
//
// A package whose runnable Examples need an ensemble starts one in its
// TestMain with StartMain, which needs no *testing.T, and stops it before
// exiting.
//
// Everything listens on 127.0.0.1 port 0 and is stopped by t.Cleanup.
// enstest imports ensemble and ensemble/client; it is meant for _test.go
// files and examples, never for production code.
package enstest
