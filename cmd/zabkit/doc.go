// Command zabkit is zabkit's one binary: a coordination server, a local
// development ensemble, and a zkCli-style client.
//
//	zabkit dev                      # a local 3-peer ensemble in a temp dir, until Ctrl-C
//	zabkit server --data DIR        # one durable peer (standalone)
//	zabkit server --id 1 --peers 1=h1:2888:3888,2=h2:2888:3888,3=h3:2888:3888
//	zabkit status                   # every peer's role, epoch, last zxid, digest
//	zabkit create /app "hello"      # one-shot client commands ...
//	zabkit get -s /app
//	zabkit shell                    # ... or the same commands in a REPL
//
// # Ensembles
//
// `zabkit server --id N --peers ID=HOST:PEERPORT[:GOSSIPPORT][:observer],...`
// runs one member of a ZAB ensemble (peers.go parses and checks the list);
// without --peers it is a standalone peer. `zabkit dev --peers 1|3|5` runs
// that many peers in this process on 127.0.0.1. `zabkit status` asks peers
// for their status without a session (client.PeerStatus), follows the
// members they know, and says whether digests agree.
//
// # Servers
//
// Client commands connect to the servers named by --servers host:port,...,
// else by the ZABKIT_SERVERS environment variable, else 127.0.0.1:2281 (where
// `zabkit dev` and a flagless `zabkit server` listen).
//
// # Output
//
// Text output follows ZooKeeper's zkCli: get prints the data, create the
// created path, stat `name = value` lines, ls `[a, b]`. With --json every
// result is one JSON object on its own line; Stat fields are named as
// ZooKeeper names them (cZxid, ctime, mZxid, ..., numChildren). Data is the
// "data" string when it is valid UTF-8, else "dataBase64".
//
// # Exit codes
//
// 0 on success; 1 when an operation fails (one line on stderr such as
// `Node does not exist: /a`, or a JSON object {"error", "code", "path"} with
// --json); 2 on a usage error (bad flag, missing argument), with the usage
// line. `zabkit shell` reading a script from a non-terminal stdin runs every
// line and exits with the highest code any line produced.
//
// # Shell
//
// `zabkit shell` keeps one session open for every command it reads. On a
// terminal it offers history (~/.zabkit_history) and Tab completion of
// commands and of paths (children listed from the server). `get -w` and
// `ls -w` print the event when it fires, prefixed by WATCHER::. Ctrl-C stops
// the running command (such as `watch`), Ctrl-D or `quit` leaves.
//
// The code here is the only place in the module that parses flags and wires
// components with go.uber.org/fx.
package main
