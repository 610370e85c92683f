package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/ensemble/client"
)

// maxLine is the longest line the shell reads from a script: a full-size
// znode's data fits.
const maxLine = 4 << 20

func (a *app) shellCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "an interactive shell running the client commands over one session",
		Long: `Open one session and run client commands typed at the prompt, with history
(~/.zabkit_history, or $ZABKIT_HISTORY) and Tab completion of commands and
paths. 'help' lists the commands, 'quit' or Ctrl-D leaves, Ctrl-C stops the
running command.

When stdin is not a terminal the shell reads commands line by line (lines
starting with # are comments) and exits with the highest exit code any line
had (0 ok, 1 an operation failed, 2 a usage error).`,
		Args:                  nargs(),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			sh := &shell{a: a, c: c, stop: make(chan struct{})}
			defer sh.close()
			if f, ok := a.stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) {
				return sh.interactive(ctx)
			}
			return sh.script(ctx)
		},
	}
}

// shell runs lines of client commands over one session.
type shell struct {
	a    *app
	c    zk
	done bool // quit was typed

	// The watch printers of get -w and ls -w.
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// close stops the watch printers and waits for them.
func (sh *shell) close() {
	sh.stopOnce.Do(func() { close(sh.stop) })
	sh.wg.Wait()
}

// script runs each line of stdin; it fails silently (each line reported
// its own error) with the highest exit code seen.
func (sh *shell) script(ctx context.Context) error {
	out := &syncWriter{w: sh.a.stdout}
	sc := bufio.NewScanner(sh.a.stdin)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	worst := exitOK
	for sc.Scan() && !sh.done && ctx.Err() == nil {
		worst = max(worst, sh.exec(ctx, sc.Text(), out, sh.a.stderr))
	}
	if err := sc.Err(); err != nil {
		return failed(fmt.Errorf("reading commands: %w", err))
	}
	if worst != exitOK {
		return &exitErr{code: worst, silent: true}
	}
	return nil
}

// interactive runs a readline prompt until quit, Ctrl-D or ctx ends.
func (sh *shell) interactive(ctx context.Context) error {
	servers, _ := sh.a.serverList()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            "zabkit " + strings.Join(servers, ",") + "> ",
		HistoryFile:       sh.historyFile(),
		HistorySearchFold: true,
		AutoComplete:      &completer{ctx: ctx, c: sh.c, commands: sh.commandNames()},
		InterruptPrompt:   "^C",
		EOFPrompt:         "quit",
	})
	if err != nil {
		return failed(fmt.Errorf("starting the line editor: %w", err))
	}
	defer rl.Close()
	out := &syncWriter{w: rl.Stdout()}
	errOut := &syncWriter{w: rl.Stderr()}
	fmt.Fprintf(out, "Connected to %s. Type help for the commands, Tab completes, Ctrl-D leaves.\n", strings.Join(servers, ","))
	for !sh.done && ctx.Err() == nil {
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			if line == "" {
				fmt.Fprintln(errOut, "(type quit or press Ctrl-D to leave)")
			}
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return failed(err)
		}
		sh.exec(ctx, line, out, errOut)
	}
	return nil
}

// historyFile is $ZABKIT_HISTORY, else ~/.zabkit_history, else none.
func (sh *shell) historyFile() string {
	if p := sh.a.getenv("ZABKIT_HISTORY"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".zabkit_history")
}

// exec runs one line and returns its exit code.
func (sh *shell) exec(ctx context.Context, line string, out, errOut io.Writer) int {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return exitOK
	}
	args, err := splitLine(trimmed)
	if err != nil {
		fmt.Fprintf(errOut, "Error: %v\n", err)
		return exitUsage
	}
	sub := *sh.a
	sub.shared = sh.c
	sub.stdout = out
	sub.stderr = errOut
	sub.stdin = strings.NewReader("")
	sub.onWatch = sh.watchAsync
	root := sub.shellRoot(sh)
	if found, _, err := root.Find(args); err != nil || found == root {
		fmt.Fprintf(errOut, "Unknown command: %s (type help for the list)\n", args[0])
		return exitUsage
	}
	return sub.execute(ctx, root, args)
}

// watchAsync prints the one event of a get -w or ls -w when it fires, while
// the shell goes on.
func (sh *shell) watchAsync(p printer, path string, ch <-chan client.Event) {
	sh.wg.Add(1)
	go func() {
		defer sh.wg.Done()
		var ev client.Event
		var ok bool
		select {
		case ev, ok = <-ch:
		case <-sh.stop:
			// Leaving: still print an event that has already arrived.
			select {
			case ev, ok = <-ch:
			default:
			}
		}
		switch {
		case !ok, errors.Is(ev.Err, client.ErrWatchRemoved):
		case ev.Err != nil:
			fmt.Fprintf(p.w, "WATCHER:: %s\n", describe(onPath(path, ev.Err)).Message)
		default:
			_ = p.writeEvent(ev, "WATCHER:: ")
		}
	}()
}

// shellRoot builds the command tree of one shell line: the client commands,
// help and quit.
func (a *app) shellRoot(sh *shell) *cobra.Command {
	root := &cobra.Command{SilenceErrors: true, SilenceUsage: true}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.zkCommands()...)
	quit := func(*cobra.Command, []string) { sh.done = true }
	root.AddCommand(
		&cobra.Command{Use: "quit", Aliases: []string{"exit"}, Short: "leave the shell", Args: nargs(),
			DisableFlagsInUseLine: true, Run: quit},
	)
	root.SetHelpCommand(&cobra.Command{
		Use:                   "help [COMMAND]",
		Short:                 "list the commands, or explain one",
		Args:                  nargs("[COMMAND]"),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				c, _, err := root.Find(args)
				if err != nil || c == root {
					return usagef("help: unknown command %q", args[0])
				}
				return c.Help()
			}
			var lines [][2]string
			width := 0
			for _, c := range root.Commands() {
				u := usageLine(c)
				lines = append(lines, [2]string{u, c.Short})
				width = max(width, len(u))
			}
			sort.Slice(lines, func(i, j int) bool { return lines[i][0] < lines[j][0] })
			fmt.Fprintln(w, "Commands:")
			for _, l := range lines {
				fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
			}
			return nil
		},
	})
	root.InitDefaultHelpCmd()
	return root
}

// commandNames lists what the first word of a line may be.
func (sh *shell) commandNames() []string {
	root := sh.a.shellRoot(sh)
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	sort.Strings(names)
	return names
}

// splitLine splits a shell line into words at spaces, as zkCli does: a
// quote groups only when a word starts with it (single quotes keep
// everything literally; double quotes allow \" and \\; "" is an empty
// word), and inside a word every character is literal, so JSON typed as
// {"a":1} is stored as typed.
func splitLine(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case inWord:
			cur.WriteByte(ch)
		case ch == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
					cur.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					closed = true
					break
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New(`unterminated " quote`)
			}
		default:
			inWord = true
			cur.WriteByte(ch)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
