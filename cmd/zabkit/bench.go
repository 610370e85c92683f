package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/cmd/zabkit/internal/loadgen"
)

// benchCmd is `zabkit bench WORKLOAD[,WORKLOAD...]`: load against running servers.
func (a *app) benchCmd() *cobra.Command {
	var (
		cfg     loadgen.Config
		fo      loadgen.FailoverConfig
		clients string
	)
	cmd := &cobra.Command{
		Use:   "bench WORKLOAD[,WORKLOAD...]",
		Short: "Measure throughput and latency of a running zabkit",
		Long: `Runs a workload against the servers and reports ops/s and p50/p99/p99.9 latency.

Workloads: ` + strings.Join(loadgen.Workloads, ", ") + `, or all (every one of
those), and failover (only by name: it kills peers).
The shape matches the ZooKeeper reference kit (docs/benchmarks.md): --clients
goroutines share min(clients, --sessions) sessions spread over the servers,
--size-byte values, --ops operations per run, keys preloaded for set/get/mixed.
With --json it prints one JSON object per result.

lock: --lockers contenders, each with its own session, take and release one
mutex (the standard herd-free recipe) for --duration; ops/s is handoffs per
second and the latencies are acquire latencies, queue wait included. Two
holders at once fail the command.

failover: needs --servers listing every peer of an ensemble of separate
'zabkit server' processes started with --pid-file. Per iteration (--iters) a
writer sets one key in a loop, the leader is killed with SIGKILL (its pid
read from --pid-file-pattern, %d = server id), and the time until a survivor
leads and until a write succeeds is measured; then --restart (a shell
command, %d = server id, which must return: start the server with &) brings
the peer back and its rejoin is timed. Without --restart one iteration runs.`,
		Example: `  zabkit bench create,set,get --clients 1,16,64
  zabkit bench watch --watchers 1000 --json
  zabkit bench lock --lockers 8 --duration 10s
  zabkit bench failover --servers 127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283 \
      --pid-file-pattern /tmp/zabkit-ens/%d.pid --restart './start-peer.sh %d'   # see docs/benchmarks.md`,
		Args: nargs("WORKLOAD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			servers, err := a.serverList()
			if err != nil {
				return err
			}
			cfg.Servers, cfg.SessionTimeout = servers, a.sessionTimeout
			var concs []int
			for _, f := range strings.Split(clients, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n <= 0 {
					return usagef("--clients: want positive numbers separated by commas, got %q", clients)
				}
				concs = append(concs, n)
			}
			workloads := strings.Split(args[0], ",")
			if args[0] == "all" {
				workloads = loadgen.Workloads
			}
			for _, w := range workloads {
				if !slices.Contains(loadgen.Workloads, w) && w != "failover" {
					return usagef("unknown workload %q (have %s, failover, all)", w, strings.Join(loadgen.Workloads, ", "))
				}
			}
			ctx, stop := a.notify(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			if f, ok := a.stderr.(*os.File); ok && readline.IsTerminal(int(f.Fd())) && !a.jsonOut {
				cfg.Progress = func(w string, done, total int) {
					if total <= 0 {
						fmt.Fprintf(a.stderr, "\r%-8s %d ", w, done)
						return
					}
					fmt.Fprintf(a.stderr, "\r%-8s %d/%d ", w, done, total)
				}
			}
			for _, w := range workloads {
				if w == "failover" {
					fo.Servers, fo.SessionTimeout, fo.Size = servers, a.sessionTimeout, cfg.Size
					if err := a.benchFailover(ctx, out, fo); err != nil {
						return err
					}
					continue
				}
				levels := concs
				if w == "watch" || w == "session" || w == "lock" {
					levels = concs[:1] // lock: --lockers, not --clients
				}
				for _, c := range levels {
					run := cfg
					run.Clients = c
					results, err := loadgen.Run(ctx, w, run)
					if cfg.Progress != nil {
						fmt.Fprint(a.stderr, "\r\033[K")
					}
					if err != nil {
						return failed(err)
					}
					var violations int64
					for _, r := range results {
						if a.jsonOut {
							b, _ := json.Marshal(r)
							fmt.Fprintln(out, string(b))
						} else {
							loadgen.Format(out, r)
						}
						violations += r.Violations
					}
					if violations > 0 {
						return failed(fmt.Errorf("%w: %d times", loadgen.ErrMutualExclusion, violations))
					}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&clients, "clients", "1,16,64", "concurrent clients; a comma list runs each level")
	f.IntVar(&cfg.Sessions, "sessions", 8, "sessions shared by the clients (at most)")
	f.IntVar(&cfg.Ops, "ops", 20000, "operations per run")
	f.IntVar(&cfg.Ops1, "ops1", 5000, "operations per run with one client")
	f.IntVar(&cfg.Size, "size", 128, "value size in bytes")
	f.IntVar(&cfg.Keys, "keys", 1000, "keys for set, get and mixed")
	f.IntVar(&cfg.ReadPct, "read-pct", 90, "mixed: percent reads")
	f.IntVar(&cfg.SessionOps, "session-ops", 500, "session: open+close cycles")
	f.BoolVar(&cfg.NoDelete, "no-delete", false, "create: keep the created keys (to fill a tree)")
	f.IntVar(&cfg.Watchers, "watchers", 1000, "watch: watching sessions")
	f.IntVar(&cfg.Rounds, "rounds", 5, "watch: rounds")
	f.Var(newDurationValue(0, &cfg.MaxDuration), "max-duration", "cap on one run (0: none)")
	f.IntVar(&cfg.Lockers, "lockers", 8, "lock: contenders, each with its own session")
	f.Var(newDurationValue(10*time.Second, &cfg.Duration), "duration", "lock: how long to run")
	f.IntVar(&fo.Iters, "iters", 3, "failover: iterations")
	f.StringVar(&fo.PidFilePattern, "pid-file-pattern", "/tmp/zabkit-ens/%d.pid", "failover: pid file of each server, %d = server id")
	f.StringVar(&fo.Restart, "restart", "", "failover: shell command restarting server %d (must return; none: one iteration)")
	return cmd
}

// benchFailover runs the failover workload: one line per iteration (JSON
// with --json), then the medians (on stderr with --json, so stdout stays
// JSON lines).
func (a *app) benchFailover(ctx context.Context, out io.Writer, fo loadgen.FailoverConfig) error {
	summary := out
	if a.jsonOut {
		summary = a.stderr
	} else {
		fo.Log = a.stderr
	}
	var results []loadgen.FailoverResult
	err := loadgen.Failover(ctx, fo, func(r loadgen.FailoverResult) {
		results = append(results, r)
		if a.jsonOut {
			b, _ := json.Marshal(r)
			fmt.Fprintln(out, string(b))
			return
		}
		loadgen.FormatFailover(out, r)
	})
	if len(results) > 0 {
		loadgen.FormatFailoverSummary(summary, results)
	}
	return failed(err)
}
