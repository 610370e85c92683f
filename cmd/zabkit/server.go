package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/fx"

	"github.com/zabkit/zabkit/ensemble"
)

// Defaults of `zabkit server`.
const (
	defaultDataDir         = "zabkit-data"
	defaultShutdownTimeout = 10 * time.Second
)

// peerSecretEnv is the environment variable that carries the peer secret,
// preferred to --peer-secret (which other users can read in ps).
const peerSecretEnv = "ZABKIT_PEER_SECRET"

// maxClusterID bounds --cluster-id.
const maxClusterID = 128

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

	// The ensemble.
	peers      string
	clusterID  string
	peerSecret string
	zabTick    time.Duration
	pidFile    string
}

// serverConfigKeys are the flags a config file may set (server-id is the
// old name of id).
var serverConfigKeys = []string{
	"data", "client-addr", "id", "server-id", "tick", "min-session-timeout", "max-session-timeout",
	"max-conns-per-ip", "snapshot-every", "shutdown-timeout", "log-level", "log-format",
	"peers", "cluster-id", "peer-secret", "zab-tick", "pid-file",
}

func (a *app) serverCmd() *cobra.Command {
	cmd, _ := a.newServerCmd()
	return cmd
}

// newServerCmd returns `zabkit server` and the flags it fills.
func (a *app) newServerCmd() (*cobra.Command, *serverFlags) {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "run a peer (standalone: data in ./zabkit-data, clients on 127.0.0.1:2281)",
		Long: `Run a zabkit peer until SIGINT or SIGTERM, then stop it cleanly.

With no flags it is a standalone peer with its data in ./zabkit-data serving
clients on 127.0.0.1:2281. With --id and --peers it is one member of a
replicated ensemble; start one per member, each with the same --peers:

  zabkit server --id 1 --peers 1=10.0.0.1:2888:3888,2=10.0.0.2:2888:3888,3=10.0.0.3:2888:3888 \
      --client-addr 10.0.0.1:2281 --data /var/lib/zabkit

--peers lists every member as ID=HOST:PEERPORT[:GOSSIPPORT][:observer]:
PEERPORT carries ZAB between members, the optional GOSSIPPORT (TCP and UDP)
their memberlist gossip, and :observer makes a member that serves reads but
never votes. Give the peer secret in $` + peerSecretEnv + ` rather than
--peer-secret, which other users can see in the process list.

--config FILE reads the same settings from a YAML, JSON or key=value file
(keys are the flag names; peers may be a list); flags given on the command
line win over the file. Durations are Go durations (2s) or milliseconds.
Logs go to stderr.`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "read settings from this YAML, JSON or key=value file")
	fl.StringVar(&f.data, "data", defaultDataDir, "data directory (txn log and snapshots)")
	fl.StringVar(&f.clientAddr, "client-addr", ensemble.DefaultClientAddr, "address clients connect to (host:port)")
	fl.Uint32Var(&f.serverID, "id", 1, "this peer's server id, 1..255 (required with --peers; alias --server-id)")
	fl.StringVar(&f.peers, "peers", "", "every ensemble member: ID=HOST:PEERPORT[:GOSSIPPORT][:observer],... (none: standalone)")
	fl.StringVar(&f.clusterID, "cluster-id", ensemble.DefaultClusterID, "the ensemble's name: peers refuse members of another cluster")
	fl.StringVar(&f.peerSecret, "peer-secret", "", "shared secret members authenticate with (prefer $"+peerSecretEnv+")")
	fl.Var(newDurationValue(ensemble.DefaultZabTick, &f.zabTick), "zab-tick", "ZAB tick: heartbeats and election timeouts are counted in it")
	fl.StringVar(&f.pidFile, "pid-file", "", "write the process id to this file at start, remove it at a clean stop")
	fl.Var(newDurationValue(ensemble.DefaultTickTime, &f.tick), "tick", "session tick: expiry is checked once per tick")
	fl.Var(newDurationValue(0, &f.minSession), "min-session-timeout", "smallest session timeout granted (default 2 ticks)")
	fl.Var(newDurationValue(0, &f.maxSession), "max-session-timeout", "largest session timeout granted (default 20 ticks)")
	fl.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", ensemble.DefaultMaxConnsPerIP, "open client connections allowed from one IP (negative: no limit)")
	fl.IntVar(&f.snapshotEvery, "snapshot-every", ensemble.DefaultSnapshotEvery, "transactions between snapshots")
	fl.Var(newDurationValue(defaultShutdownTimeout, &f.shutdownTimeout), "shutdown-timeout", "how long a clean stop may take")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "server-id" {
			name = "id"
		}
		return pflag.NormalizedName(name)
	})
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, src, err := a.serverSettings(cmd.Flags(), f)
		if err != nil {
			return err
		}
		logger, err := newLogger(a.stderr, f.logLevel, f.logFormat)
		if err != nil {
			return usagef("%v", err)
		}
		cfg.Logger = logger
		f.warn(logger, cfg, src)

		pid := os.Getpid()
		if f.pidFile != "" {
			if err := writePIDFile(f.pidFile, pid); err != nil {
				return failed(fmt.Errorf("--pid-file: %w", err))
			}
			defer func() {
				if err := removePIDFile(f.pidFile, pid); err != nil {
					logger.Warn("pid file not removed", "err", err)
				}
			}()
		}

		ctx, stop := a.notify(cmd.Context())
		defer stop()
		var srv *ensemble.Server
		err = runFx(ctx, logger, f.shutdownTimeout,
			func() { writeServerBanner(a.stdout, cfg, srv.Addr().String()) },
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
	return cmd, f
}

// secretSource says where the peer secret came from.
type secretSource int

const (
	secretNone secretSource = iota
	secretCmdLine
	secretEnv
	secretFile
)

// serverSettings completes f from the config file and the environment
// (the command line wins over $ZABKIT_PEER_SECRET, which wins over the
// file) and returns the peer's configuration, without a Logger, and where
// the secret came from. Every error is a usage error.
func (a *app) serverSettings(fl *pflag.FlagSet, f *serverFlags) (ensemble.Config, secretSource, error) {
	src := secretNone
	if fl.Changed("peer-secret") {
		src = secretCmdLine
	}
	if f.config != "" {
		if err := applyConfigFile(fl, f.config, serverConfigKeys); err != nil {
			return ensemble.Config{}, src, usagef("--config %s: %v", f.config, err)
		}
		if src == secretNone && fl.Changed("peer-secret") {
			src = secretFile
		}
	}
	if env := a.getenv(peerSecretEnv); env != "" && src != secretCmdLine {
		f.peerSecret, src = env, secretEnv
	}
	cfg, err := f.ensembleConfig(fl.Changed("id"))
	if err != nil {
		return cfg, src, usagef("%v", err)
	}
	return cfg, src, nil
}

// ensembleConfig checks the flags and returns the peer's configuration
// (without a Logger). idSet says whether --id (or a config file's id) was
// given. Errors are usage errors: --peers without --id, an --id not among
// --peers, a malformed --peers, a bad --cluster-id.
func (f *serverFlags) ensembleConfig(idSet bool) (ensemble.Config, error) {
	dataDir, err := filepath.Abs(f.data)
	if err != nil {
		return ensemble.Config{}, fmt.Errorf("--data: %w", err)
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
		ClusterID:         f.clusterID,
		PeerSecret:        f.peerSecret,
		ZabTick:           f.zabTick,
	}
	if f.serverID > maxMemberID {
		return cfg, fmt.Errorf("--id %d: want %d..%d", f.serverID, minMemberID, maxMemberID)
	}
	if err := checkClusterID(f.clusterID); err != nil {
		return cfg, err
	}
	if strings.TrimSpace(f.peers) == "" {
		return cfg, nil // standalone
	}
	if !idSet {
		return cfg, errors.New("--peers needs --id: which of the peers this one is")
	}
	members, err := parsePeers(f.peers)
	if err != nil {
		return cfg, fmt.Errorf("--peers: %w", err)
	}
	if _, ok := findMember(members, f.serverID); !ok {
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = strconv.FormatUint(uint64(m.ID), 10)
		}
		return cfg, fmt.Errorf("--id %d is not among --peers (ids %s)", f.serverID, strings.Join(ids, ", "))
	}
	cfg.Members = members
	return cfg, nil
}

// checkClusterID accepts a non-empty printable name without spaces.
func checkClusterID(id string) error {
	if id == "" || len(id) > maxClusterID {
		return fmt.Errorf("--cluster-id %q: want 1..%d characters", id, maxClusterID)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("--cluster-id %q: want printable characters without spaces", id)
		}
	}
	return nil
}

// secretInFile reports whether the config file sets peer-secret.
func (f *serverFlags) secretInFile() bool {
	b, err := os.ReadFile(f.config)
	if err != nil {
		return false
	}
	kv, err := parseConfig(f.config, b)
	if err != nil {
		return false
	}
	for k := range kv {
		if flagName(k) == "peer-secret" {
			return true
		}
	}
	return false
}

// minSecretLen is the length under which a peer secret is called weak.
const minSecretLen = 16

// warn logs settings that work but are probably not what the operator
// wants. It never logs the secret itself.
func (f *serverFlags) warn(logger *slog.Logger, cfg ensemble.Config, src secretSource) {
	if src == secretCmdLine {
		logger.Warn("--peer-secret on the command line is visible to other users; prefer $" + peerSecretEnv)
	}
	if f.config != "" && (src == secretFile || src == secretEnv) && f.secretInFile() {
		if st, err := os.Stat(f.config); err == nil && st.Mode().Perm()&0o077 != 0 {
			logger.Warn("config file with peer-secret is readable by other users; chmod 600 it", "path", f.config)
		}
	}
	if cfg.PeerSecret != "" && len(cfg.PeerSecret) < minSecretLen {
		logger.Warn("peer secret is short; use at least 16 random bytes")
	}
	if len(cfg.Members) == 0 {
		if cfg.PeerSecret != "" {
			logger.Warn("peer secret ignored: no --peers, this peer runs standalone")
		}
		return
	}
	if v := voterCount(cfg.Members); v%2 == 0 {
		logger.Warn("an even number of voters survives no more failures than one fewer", "voters", v)
	}
	if cfg.PeerSecret == "" {
		logger.Warn("no peer secret: members are checked by cluster id and server id only, gossip is not encrypted")
	}
	self, _ := findMember(cfg.Members, cfg.ServerID)
	if isLoopbackAddr(cfg.ClientAddr) && !isLoopbackAddr(self.PeerAddr) {
		logger.Warn("clients are served on loopback only while peers talk across hosts; set --client-addr",
			"addr", cfg.ClientAddr)
	}
}

// isLoopbackAddr reports whether host:port names a loopback host.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

// writeServerBanner prints the line that says the peer serves (scripts and
// tests read it) and, for an ensemble member, a line about the ensemble.
func writeServerBanner(w io.Writer, cfg ensemble.Config, clientAddr string) {
	fmt.Fprintf(w, "zabkit server %d: serving clients on %s, data in %s\n", cfg.ServerID, clientAddr, cfg.DataDir)
	if len(cfg.Members) == 0 {
		return
	}
	var voters, observers []string
	for _, m := range cfg.Members {
		id := strconv.FormatUint(uint64(m.ID), 10)
		if m.Observer {
			observers = append(observers, id)
		} else {
			voters = append(voters, id)
		}
	}
	self, _ := findMember(cfg.Members, cfg.ServerID)
	role := "voter"
	if self.Observer {
		role = "observer"
	}
	line := fmt.Sprintf("zabkit server %d: %s in cluster %q of %s (%s)", cfg.ServerID, role, cfg.ClusterID,
		plural(len(voters), "voter"), strings.Join(voters, ", "))
	if len(observers) > 0 {
		line += fmt.Sprintf(" and %s (%s)", plural(len(observers), "observer"), strings.Join(observers, ", "))
	}
	line += ", ZAB on " + self.PeerAddr
	if self.GossipAddr != "" {
		line += ", gossip on " + self.GossipAddr
	}
	fmt.Fprintln(w, line)
}

// plural returns "1 voter", "3 voters".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
