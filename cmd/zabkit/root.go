package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Default client settings.
const (
	defaultSessionTimeout = 10 * time.Second
	defaultConnectTimeout = 5 * time.Second
)

// rootCmd builds the whole command tree of the binary.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "zabkit",
		Short: "zabkit: a ZooKeeper-class coordination service",
		Long: `zabkit is a ZooKeeper-class coordination service: a tree of znodes with
sessions, ephemeral and sequential nodes, and watches.

Start a local ensemble with 'zabkit dev', then in another terminal:
  zabkit create /hello world
  zabkit get /hello
  zabkit shell`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	a.clientFlags(root)
	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run zabkit:"},
		&cobra.Group{ID: "client", Title: "Client commands (also inside 'zabkit shell'):"},
	)
	for _, c := range []*cobra.Command{a.serverCmd(), a.devCmd(), a.statusCmd(), a.shellCmd(), a.benchCmd()} {
		c.GroupID = "run"
		root.AddCommand(c)
	}
	for _, c := range a.zkCommands() {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	return root
}

// clientFlags adds the flags every client command shares.
func (a *app) clientFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&a.servers, "servers", "", "servers to connect to, host:port,... (default $ZABKIT_SERVERS, else "+defaultServers+")")
	pf.BoolVar(&a.jsonOut, "json", false, "print results (and errors, on stderr) as JSON, one object per line")
	pf.Var(newDurationValue(defaultSessionTimeout, &a.sessionTimeout), "session-timeout", "client session timeout (Go duration or milliseconds)")
	pf.Var(newDurationValue(defaultConnectTimeout, &a.connectTimeout), "connect-timeout", "how long to try to reach a server")
}

// serverList returns the servers to connect to: --servers, else
// ZABKIT_SERVERS, else the default.
func (a *app) serverList() ([]string, error) {
	s := a.servers
	if s == "" {
		s = a.getenv("ZABKIT_SERVERS")
	}
	if s == "" {
		s = defaultServers
	}
	list := splitServers(s)
	if len(list) == 0 {
		return nil, usagef("no servers in %q", s)
	}
	return list, nil
}

// connect opens a session with the servers.
func (a *app) connect(ctx context.Context) (zk, error) {
	servers, err := a.serverList()
	if err != nil {
		return nil, err
	}
	c, err := a.dial(ctx, servers, a.sessionTimeout, a.connectTimeout)
	if err != nil {
		return nil, failed(&connectError{servers: servers, err: err})
	}
	return c, nil
}

// withOps runs f with the shell's session or, for a one-shot command, a new
// one closed when f returns. It turns f's errors into exit code 1.
func (a *app) withOps(cmd *cobra.Command, f func(ctx context.Context, o *ops) error) error {
	ctx, stop := a.notify(cmd.Context())
	defer stop()
	c := a.shared
	if c == nil {
		var err error
		if c, err = a.connect(ctx); err != nil {
			return err
		}
		defer c.Close()
	}
	o := &ops{
		c:       c,
		p:       printer{w: cmd.OutOrStdout(), json: a.jsonOut},
		hint:    cmd.ErrOrStderr(),
		onWatch: a.onWatch,
	}
	return failed(f(ctx, o))
}

// nargs checks a command's positional arguments: at least len(names) minus
// the optional ones, at most len(names). Optional names are in brackets.
func nargs(names ...string) cobra.PositionalArgs {
	required := 0
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < required {
			return fmt.Errorf("missing %s", names[len(args)])
		}
		if len(args) > len(names) {
			return fmt.Errorf("too many arguments (%d, want at most %d)", len(args), len(names))
		}
		return nil
	}
}

// localUsage prints a command's usage with its own flags only: the client
// flags every other command inherits (--servers, --json, ...) mean nothing
// to the commands that run servers.
func localUsage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprintf(w, "Usage:\n  %s\n", c.UseLine())
	if c.HasExample() {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s\n", strings.TrimRight(c.LocalFlags().FlagUsages(), " \n"))
	}
	return nil
}
