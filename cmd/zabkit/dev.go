package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/wire"
)

// Settings of `zabkit dev`.
const (
	// devDefaultPeers is how many peers `zabkit dev` runs unless --peers says.
	devDefaultPeers = 3
	// devFirstPort is the client port `zabkit dev` tries first.
	devFirstPort = 2281
	// devElectionWait bounds how long the banner waits for a leader.
	devElectionWait = 30 * time.Second
	// devPollEvery is how often the peers' roles are read while waiting.
	devPollEvery = 20 * time.Millisecond
)

// devHost is where every dev peer listens.
const devHost = "127.0.0.1"

func (a *app) devCmd() *cobra.Command {
	var keep bool
	var port, n int
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "run a local 3-peer ensemble in a temp dir until Ctrl-C",
		Long: `Run a local ensemble in this process, with its data in a fresh temp dir that
is removed on exit (unless --keep). Every peer listens on 127.0.0.1. The
first peer serves clients on 127.0.0.1:2281, or the next free port if that is
taken, the others on the next free ports; ZAB and gossip use free ports. The
banner prints the connect string and each peer's role once a leader is
elected. --peers 1 runs one standalone peer.`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().IntVar(&n, "peers", devDefaultPeers, "how many peers: 1 (standalone), 3 or 5")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the data dir on exit")
	cmd.Flags().IntVar(&port, "port", devFirstPort, "first client port to try (0: any free port)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		logger, err := newLogger(a.stderr, logLevel, logFormat)
		if err != nil {
			return usagef("%v", err)
		}
		if port < 0 || port > 65535 {
			return usagef("--port %d: want 0..65535", port)
		}
		if n != 1 && n != 3 && n != 5 {
			return usagef("--peers %d: want 1, 3 or 5", n)
		}
		dir, err := os.MkdirTemp("", "zabkit-dev-")
		if err != nil {
			return failed(err)
		}
		cfgs, err := devConfigs(dir, port, n)
		if err != nil {
			_ = os.RemoveAll(dir)
			return failed(err)
		}
		for i := range cfgs {
			cfgs[i].Logger = logger.With("peer", cfgs[i].ServerID)
		}
		ctx, stop := a.notify(cmd.Context())
		defer stop()
		var peers []*ensemble.Server
		err = runFx(ctx, logger, defaultShutdownTimeout,
			func() {
				roles := waitForLeader(ctx, peers, devElectionWait)
				addrs := make([]string, len(peers))
				for i, p := range peers {
					addrs[i] = p.Addr().String()
				}
				writeDevBanner(a.stdout, dir, keep, cfgs, addrs, roles)
			},
			fx.Supply(cfgs),
			// Registered first, so it runs last on stop (and on a failed start).
			fx.Invoke(func(lc fx.Lifecycle) {
				lc.Append(fx.StopHook(func() error {
					if keep {
						fmt.Fprintf(a.stdout, "zabkit dev: stopped; data kept in %s\n", dir)
						return nil
					}
					fmt.Fprintln(a.stdout, "zabkit dev: stopped; data removed")
					return os.RemoveAll(dir)
				}))
			}),
			fx.Provide(newPeers),
			fx.Populate(&peers),
		)
		if err != nil {
			if !keep {
				_ = os.RemoveAll(dir) // when fx failed before the stop hook was registered
			}
			return failed(err)
		}
		return nil
	}
	cmd.SetUsageFunc(localUsage)
	return cmd
}

// devConfigs returns the configs of an n-peer dev ensemble with its data
// under dir: client ports from port on (or any free port when port is 0),
// ZAB and gossip on free ports. One peer is standalone (no Members).
func devConfigs(dir string, port, n int) ([]ensemble.Config, error) {
	addrs, err := clientAddrs(devHost, port, n)
	if err != nil {
		return nil, err
	}
	var members []ensemble.Member
	if n > 1 {
		ports, err := freePorts(devHost, 2*n)
		if err != nil {
			return nil, err
		}
		members = make([]ensemble.Member, n)
		for i := range members {
			members[i] = ensemble.Member{
				ID:         uint32(i + 1),
				PeerAddr:   net.JoinHostPort(devHost, strconv.Itoa(ports[2*i])),
				GossipAddr: net.JoinHostPort(devHost, strconv.Itoa(ports[2*i+1])),
			}
		}
	}
	cfgs := make([]ensemble.Config, n)
	for i := range cfgs {
		cfgs[i] = ensemble.Config{
			ServerID:   uint32(i + 1),
			DataDir:    filepath.Join(dir, "peer-"+strconv.Itoa(i+1)),
			ClientAddr: addrs[i],
			Members:    members,
		}
	}
	return cfgs, nil
}

// newPeers creates a peer per config and ties each one's Start and Stop to
// lc, in order (so they stop in reverse order).
func newPeers(lc fx.Lifecycle, cfgs []ensemble.Config) ([]*ensemble.Server, error) {
	peers := make([]*ensemble.Server, 0, len(cfgs))
	for _, cfg := range cfgs {
		s, err := ensemble.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("peer %d: %w", cfg.ServerID, err)
		}
		lc.Append(fx.StartStopHook(
			func(ctx context.Context) error { return s.Start(ctx) },
			func(ctx context.Context) error { return s.Stop(ctx) },
		))
		peers = append(peers, s)
	}
	return peers, nil
}

// clientAddrs returns n loopback client addresses: port and the free ports
// after it, or "host:0" each when port is 0. A port is free if it can be
// listened on now (another process may take it before the peer does).
func clientAddrs(host string, port, n int) ([]string, error) {
	addrs := make([]string, 0, n)
	if port == 0 {
		for range n {
			addrs = append(addrs, net.JoinHostPort(host, "0"))
		}
		return addrs, nil
	}
	for p := port; len(addrs) < n && p <= 65535; p++ {
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = l.Close()
		addrs = append(addrs, addr)
	}
	if len(addrs) < n {
		return nil, errors.New("no free client port from " + strconv.Itoa(port))
	}
	return addrs, nil
}

// freePorts returns n distinct ports on host that are free for both TCP
// and UDP now (gossip uses both). It holds every port it found until all
// are found, so none repeats; another process may still take one before
// the peer listens on it.
func freePorts(host string, n int) ([]int, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries >= 10*n {
			return nil, fmt.Errorf("no %d free ports on %s", n, host)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		closers = append(closers, l)
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue // UDP taken: keep the TCP port held and try another
		}
		closers = append(closers, u)
		ports = append(ports, p)
	}
	return ports, nil
}

// waitForLeader polls the peers' status until one leads and every other
// follows or observes (a lone peer is ready when standalone), until ctx
// ends or wait passes. It returns the statuses last read.
func waitForLeader(ctx context.Context, peers []*ensemble.Server, wait time.Duration) []wire.PeerStatus {
	read := func() []wire.PeerStatus {
		st := make([]wire.PeerStatus, len(peers))
		for i, p := range peers {
			st[i] = p.PeerStatus()
		}
		return st
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(devPollEvery)
	defer tick.Stop()
	for {
		st := read()
		if settled(st) {
			return st
		}
		select {
		case <-ctx.Done():
			return st
		case <-deadline.C:
			return read()
		case <-tick.C:
		}
	}
}

// settled reports whether the statuses show an elected ensemble: exactly
// one leader, with its epoch chosen, which every other peer follows or
// observes; or peers that run standalone.
func settled(st []wire.PeerStatus) bool {
	var leader uint32
	for _, s := range st {
		if s.Role == "leading" {
			if leader != 0 || s.Epoch == 0 {
				return false
			}
			leader = s.ServerID
		}
	}
	for _, s := range st {
		switch s.Role {
		case "standalone", "leading":
		case "following", "observing":
			if leader == 0 || s.Leader != leader {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// writeDevBanner tells the user how to connect to the dev ensemble (its
// peers' configs, the client addresses they listen on) and what role each
// peer has.
func writeDevBanner(w io.Writer, dir string, keep bool, cfgs []ensemble.Config, addrs []string, roles []wire.PeerStatus) {
	connect := strings.Join(addrs, ",")
	what := "removed on exit"
	if keep {
		what = "kept on exit"
	}
	noun := "peer"
	if len(addrs) != 1 {
		noun = "peers"
	}
	fmt.Fprintf(w, "zabkit dev: %d %s running, data in %s (%s)\n\n", len(addrs), noun, dir, what)
	width := 0
	for _, a := range addrs {
		width = max(width, len(a))
	}
	for i, a := range addrs {
		line := fmt.Sprintf("  peer %d  clients on %-*s", cfgs[i].ServerID, width, a)
		if self, ok := findMember(cfgs[i].Members, cfgs[i].ServerID); ok {
			line += "  zab " + self.PeerAddr
		}
		if i < len(roles) {
			line += "  " + devRole(roles[i])
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if !settled(roles) {
		fmt.Fprintf(w, "\n  (no leader elected yet; run 'zabkit status --servers %s' to watch)\n", connect)
	}
	fmt.Fprintf(w, "\nConnect string: %s\n\n", connect)
	// Clients find the first peer with no flags when it has the default
	// address; the connect string adds the others, for failover.
	flag := ""
	if addrs[0] != defaultServers {
		flag = " --servers " + connect
	}
	fmt.Fprintf(w, "  export ZABKIT_SERVERS=%s\n\n", connect)
	fmt.Fprintf(w, "Try, in another terminal:\n")
	fmt.Fprintf(w, "  zabkit%s create /hello world\n", flag)
	fmt.Fprintf(w, "  zabkit%s get -s /hello\n", flag)
	fmt.Fprintf(w, "  zabkit%s shell\n", flag)
	if len(addrs) > 1 {
		fmt.Fprintf(w, "  zabkit%s status\n", flag)
	}
	fmt.Fprintf(w, "\nCtrl-C stops it.\n")
}

// devRole describes a peer's role for the banner: "leading (epoch 1)".
func devRole(st wire.PeerStatus) string {
	switch st.Role {
	case "leading":
		return fmt.Sprintf("leading (epoch %d)", st.Epoch)
	case "following", "observing":
		return fmt.Sprintf("%s %d", st.Role, st.Leader)
	}
	return st.Role
}
