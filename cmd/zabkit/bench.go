package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/cmd/zabkit/internal/loadgen"
)

// benchCmd is `zabkit bench WORKLOAD[,WORKLOAD...]`: load against running servers.
func (a *app) benchCmd() *cobra.Command {
	var (
		cfg     loadgen.Config
		clients string
	)
	cmd := &cobra.Command{
		Use:   "bench WORKLOAD[,WORKLOAD...]",
		Short: "Measure throughput and latency of a running zabkit",
		Long: `Runs a workload against the servers and reports ops/s and p50/p99/p99.9 latency.

Workloads: ` + strings.Join(loadgen.Workloads, ", ") + `, or all.
The shape matches the ZooKeeper reference kit (docs/benchmarks.md): --clients
goroutines share min(clients, --sessions) sessions spread over the servers,
--size-byte values, --ops operations per run, keys preloaded for set/get/mixed.
With --json it prints one JSON object per result.`,
		Example: `  zabkit bench create,set,get --clients 1,16,64
  zabkit bench watch --watchers 1000 --json`,
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
				if !slices.Contains(loadgen.Workloads, w) {
					return usagef("unknown workload %q (have %s, all)", w, strings.Join(loadgen.Workloads, ", "))
				}
			}
			ctx, stop := a.notify(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			if f, ok := a.stderr.(*os.File); ok && readline.IsTerminal(int(f.Fd())) && !a.jsonOut {
				cfg.Progress = func(w string, done, total int) {
					fmt.Fprintf(a.stderr, "\r%-8s %d/%d ", w, done, total)
				}
			}
			for _, w := range workloads {
				levels := concs
				if w == "watch" || w == "session" {
					levels = concs[:1]
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
					for _, r := range results {
						if a.jsonOut {
							b, _ := json.Marshal(r)
							fmt.Fprintln(out, string(b))
						} else {
							loadgen.Format(out, r)
						}
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
	return cmd
}
