package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/zabkit/zabkit/ensemble"
)

// Defaults of `zabkit server`.
const (
	defaultDataDir         = "zabkit-data"
	defaultShutdownTimeout = 10 * time.Second
)

// serverFlags are the settings of `zabkit server`; a --config file may set
// each of them under the same name.
type serverFlags struct {
	config          string
	data            string
	clientAddr      string
	serverID        uint32
	tick            time.Duration
	minSession      time.Duration
	maxSession      time.Duration
	maxConnsPerIP   int
	snapshotEvery   int
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
}

// serverConfigKeys are the flags a config file may set.
var serverConfigKeys = []string{
	"data", "client-addr", "server-id", "tick", "min-session-timeout", "max-session-timeout",
	"max-conns-per-ip", "snapshot-every", "shutdown-timeout", "log-level", "log-format",
}

func (a *app) serverCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "run a peer (standalone: data in ./zabkit-data, clients on 127.0.0.1:2281)",
		Long: `Run a zabkit peer until SIGINT or SIGTERM, then stop it cleanly.

With no flags it is a standalone peer with its data in ./zabkit-data serving
clients on 127.0.0.1:2281. --config FILE reads the same settings from a YAML,
JSON or key=value file (keys are the flag names); flags given on the command
line win over the file. Durations are Go durations (2s) or milliseconds.
Logs go to stderr.`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "read settings from this YAML, JSON or key=value file")
	fl.StringVar(&f.data, "data", defaultDataDir, "data directory (txn log and snapshots)")
	fl.StringVar(&f.clientAddr, "client-addr", ensemble.DefaultClientAddr, "address clients connect to (host:port)")
	fl.Uint32Var(&f.serverID, "server-id", 1, "this peer's id (1..255)")
	fl.Var(newDurationValue(ensemble.DefaultTickTime, &f.tick), "tick", "session tick: expiry is checked once per tick")
	fl.Var(newDurationValue(0, &f.minSession), "min-session-timeout", "smallest session timeout granted (default 2 ticks)")
	fl.Var(newDurationValue(0, &f.maxSession), "max-session-timeout", "largest session timeout granted (default 20 ticks)")
	fl.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", ensemble.DefaultMaxConnsPerIP, "open client connections allowed from one IP (negative: no limit)")
	fl.IntVar(&f.snapshotEvery, "snapshot-every", ensemble.DefaultSnapshotEvery, "transactions between snapshots")
	fl.Var(newDurationValue(defaultShutdownTimeout, &f.shutdownTimeout), "shutdown-timeout", "how long a clean stop may take")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if f.config != "" {
			if err := applyConfigFile(cmd.Flags(), f.config, serverConfigKeys); err != nil {
				return usagef("--config %s: %v", f.config, err)
			}
		}
		logger, err := newLogger(a.stderr, f.logLevel, f.logFormat)
		if err != nil {
			return usagef("%v", err)
		}
		dataDir, err := filepath.Abs(f.data)
		if err != nil {
			return failed(err)
		}
		cfg := ensemble.Config{
			ServerID:          f.serverID,
			DataDir:           dataDir,
			ClientAddr:        f.clientAddr,
			TickTime:          f.tick,
			MinSessionTimeout: f.minSession,
			MaxSessionTimeout: f.maxSession,
			MaxConnsPerIP:     f.maxConnsPerIP,
			SnapshotEvery:     f.snapshotEvery,
			Logger:            logger,
		}
		ctx, stop := a.notify(cmd.Context())
		defer stop()
		var srv *ensemble.Server
		err = runFx(ctx, logger, f.shutdownTimeout,
			func() {
				fmt.Fprintf(a.stdout, "zabkit server %d: serving clients on %s, data in %s\n", f.serverID, srv.Addr(), dataDir)
			},
			fx.Supply(cfg),
			fx.Provide(ensemble.New),
			fx.Invoke(func(lc fx.Lifecycle, s *ensemble.Server) {
				lc.Append(fx.StartStopHook(s.Start, s.Stop))
			}),
			fx.Populate(&srv),
		)
		if err != nil {
			return failed(err)
		}
		logger.Info("shutdown complete")
		return nil
	}
	cmd.SetUsageFunc(localUsage)
	return cmd
}
