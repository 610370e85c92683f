package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/tree"
)

// zkCommands returns the zkCli-style commands, fresh each call (the shell
// builds a new set for every line so flags never leak between lines).
func (a *app) zkCommands() []*cobra.Command {
	return []*cobra.Command{
		a.createCmd(), a.getCmd(), a.setCmd(), a.deleteCmd(), a.deleteAllCmd(),
		a.lsCmd(), a.statCmd(), a.syncCmd(), a.watchCmd(), a.getEphemeralsCmd(),
	}
}

// zkCmd fills the fields every zkCli command shares.
func zkCmd(use, short string, args cobra.PositionalArgs) *cobra.Command {
	return &cobra.Command{
		Use:                   use,
		Short:                 short,
		Args:                  args,
		DisableFlagsInUseLine: true,
		SilenceErrors:         true,
		SilenceUsage:          true,
	}
}

func (a *app) createCmd() *cobra.Command {
	cmd := zkCmd("create [-s] [-e] [-c] [-t TTL] PATH [DATA]", "create a znode and print its path",
		nargs("PATH", "[DATA]"))
	cmd.Long = `Create PATH holding DATA (empty if omitted) and print the created path.
  -s  sequential: append a 10-digit counter to the name
  -e  ephemeral: the node goes when the session ends (a one-shot command's
      session ends when it exits: use 'zabkit shell' to keep one)
  -c  container: removed once its last child is gone
  -t  TTL: persistent node removed after TTL with no change and no children
      (Go duration such as 30s, or milliseconds)`
	var seq, eph, cont bool
	var ttl time.Duration
	cmd.Flags().BoolVarP(&seq, "sequential", "s", false, "append a sequence number to the name")
	cmd.Flags().BoolVarP(&eph, "ephemeral", "e", false, "delete the node when the session ends")
	cmd.Flags().BoolVarP(&cont, "container", "c", false, "create a container node")
	cmd.Flags().VarP(newDurationValue(0, &ttl), "ttl", "t", "time to live (Go duration or milliseconds)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		hasTTL := cmd.Flags().Changed("ttl")
		if hasTTL && ttl <= 0 {
			return usagef("-t needs a positive TTL")
		}
		mode, err := createMode(seq, eph, cont, hasTTL)
		if err != nil {
			return usagef("%v", err)
		}
		var data []byte
		if len(args) > 1 {
			data = []byte(args[1])
		}
		if eph && a.shared == nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "Note: an ephemeral node lives only as long as this command's session; use 'zabkit shell' to keep it")
		}
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.create(ctx, args[0], data, mode, ttl)
		})
	}
	return cmd
}

func (a *app) getCmd() *cobra.Command {
	cmd := zkCmd("get [-s] [-w] PATH", "print a znode's data", nargs("PATH"))
	cmd.Long = `Print PATH's data.
  -s  also print its stat
  -w  leave a data watch and print its event when it fires (a one-shot
      command waits for it)`
	var withStat, watch bool
	cmd.Flags().BoolVarP(&withStat, "stat", "s", false, "also print the stat")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "watch for the next change")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.get(ctx, args[0], withStat, watch)
		})
	}
	return cmd
}

func (a *app) setCmd() *cobra.Command {
	cmd := zkCmd("set [-s] [-v VERSION] PATH DATA", "replace a znode's data", nargs("PATH", "DATA"))
	cmd.Long = `Replace PATH's data with DATA.
  -s  print the new stat
  -v  only if the node's data version is VERSION`
	var withStat bool
	var version int32
	cmd.Flags().BoolVarP(&withStat, "stat", "s", false, "print the new stat")
	cmd.Flags().Int32VarP(&version, "version", "v", tree.AnyVersion, "expected data version (-1: any)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.set(ctx, args[0], []byte(args[1]), version, withStat)
		})
	}
	return cmd
}

func (a *app) deleteCmd() *cobra.Command {
	cmd := zkCmd("delete [-v VERSION] PATH", "delete a znode without children", nargs("PATH"))
	var version int32
	cmd.Flags().Int32VarP(&version, "version", "v", tree.AnyVersion, "expected data version (-1: any)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.delete(ctx, args[0], version)
		})
	}
	return cmd
}

func (a *app) deleteAllCmd() *cobra.Command {
	cmd := zkCmd("deleteall PATH", "delete a znode and everything under it", nargs("PATH"))
	cmd.Aliases = []string{"rmr"}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.deleteAll(ctx, args[0])
		})
	}
	return cmd
}

func (a *app) lsCmd() *cobra.Command {
	cmd := zkCmd("ls [-s] [-w] [-R] [PATH]", "list a znode's children", nargs("[PATH]"))
	cmd.Long = `List PATH's children (PATH defaults to /).
  -s  also print PATH's stat
  -w  leave a child watch and print its event when it fires
  -R  list every node under PATH, one full path per line`
	var withStat, watch, recursive bool
	cmd.Flags().BoolVarP(&withStat, "stat", "s", false, "also print the stat")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "watch for the next change of the children")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list the whole subtree")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := "/"
		if len(args) > 0 {
			path = args[0]
		}
		if recursive && (withStat || watch) {
			return usagef("-R cannot be combined with -s or -w")
		}
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			if recursive {
				return o.lsRecursive(ctx, path)
			}
			return o.ls(ctx, path, withStat, watch)
		})
	}
	return cmd
}

func (a *app) statCmd() *cobra.Command {
	cmd := zkCmd("stat PATH", "print a znode's stat", nargs("PATH"))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.stat(ctx, args[0])
		})
	}
	return cmd
}

func (a *app) syncCmd() *cobra.Command {
	cmd := zkCmd("sync PATH", "make the server catch up with every committed write", nargs("PATH"))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.sync(ctx, args[0])
		})
	}
	return cmd
}

func (a *app) watchCmd() *cobra.Command {
	cmd := zkCmd("watch [-r] PATH", "print every change to a znode until Ctrl-C", nargs("PATH"))
	cmd.Long = `Leave a persistent watch on PATH and print each event until Ctrl-C.
  -r  recursive: also every node under PATH (no NodeChildrenChanged events)`
	var recursive bool
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "watch the whole subtree")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.watch(ctx, args[0], recursive)
		})
	}
	return cmd
}

func (a *app) getEphemeralsCmd() *cobra.Command {
	cmd := zkCmd("getEphemerals [PATH]", "list this session's ephemeral nodes under PATH", nargs("[PATH]"))
	cmd.Long = `List the full paths of this session's ephemeral nodes under PATH (default /).
A one-shot command has a fresh session: use it inside 'zabkit shell'.`
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		prefix := "/"
		if len(args) > 0 {
			prefix = args[0]
		}
		return a.withOps(cmd, func(ctx context.Context, o *ops) error {
			return o.getEphemerals(ctx, prefix)
		})
	}
	return cmd
}
