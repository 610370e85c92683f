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

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/zabkit/zabkit/ensemble"
)

// devPeers is how many peers `zabkit dev` runs. One until the ensemble
// (ZAB) lands; then three.
const devPeers = 1

// devFirstPort is the client port `zabkit dev` tries first.
const devFirstPort = 2281

func (a *app) devCmd() *cobra.Command {
	var keep bool
	var port int
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "run a local ensemble in a temp dir until Ctrl-C",
		Long: `Run a local ensemble in this process, with its data in a fresh temp dir that
is removed on exit (unless --keep). The first peer serves clients on
127.0.0.1:2281, or the next free port if that is taken; the banner prints
the connect string.`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
	}
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
		addrs, err := clientAddrs("127.0.0.1", port, devPeers)
		if err != nil {
			return failed(err)
		}
		dir, err := os.MkdirTemp("", "zabkit-dev-")
		if err != nil {
			return failed(err)
		}
		cfgs := make([]ensemble.Config, devPeers)
		for i := range cfgs {
			id := uint32(i + 1)
			cfgs[i] = ensemble.Config{
				ServerID:   id,
				DataDir:    filepath.Join(dir, "peer-"+strconv.Itoa(i+1)),
				ClientAddr: addrs[i],
				Logger:     logger.With("peer", id),
			}
		}
		ctx, stop := a.notify(cmd.Context())
		defer stop()
		var peers []*ensemble.Server
		err = runFx(ctx, logger, defaultShutdownTimeout,
			func() { writeDevBanner(a.stdout, dir, keep, peers) },
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

// writeDevBanner tells the user how to connect to the dev ensemble.
func writeDevBanner(w io.Writer, dir string, keep bool, peers []*ensemble.Server) {
	addrs := make([]string, len(peers))
	for i, p := range peers {
		addrs[i] = p.Addr().String()
	}
	connect := strings.Join(addrs, ",")
	what := "removed on exit"
	if keep {
		what = "kept on exit"
	}
	noun := "peer"
	if len(peers) != 1 {
		noun = "peers"
	}
	fmt.Fprintf(w, "zabkit dev: %d %s running, data in %s (%s)\n\n", len(peers), noun, dir, what)
	for i, a := range addrs {
		fmt.Fprintf(w, "  peer %d  clients on %s\n", i+1, a)
	}
	fmt.Fprintf(w, "\nConnect string: %s\n\n", connect)
	flag := ""
	if connect != defaultServers {
		flag = " --servers " + connect
	}
	fmt.Fprintf(w, "  export ZABKIT_SERVERS=%s\n\n", connect)
	fmt.Fprintf(w, "Try, in another terminal:\n")
	fmt.Fprintf(w, "  zabkit%s create /hello world\n", flag)
	fmt.Fprintf(w, "  zabkit%s get -s /hello\n", flag)
	fmt.Fprintf(w, "  zabkit%s shell\n\n", flag)
	fmt.Fprintf(w, "Ctrl-C stops it.\n")
}
