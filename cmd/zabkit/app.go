package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/zabkit/zabkit/ensemble/client"
)

// Exit codes of every command.
const (
	exitOK    = 0 // success
	exitError = 1 // an operation failed (node missing, server unreachable, ...)
	exitUsage = 2 // a bad flag, a missing argument, an unknown command
)

// defaultServers is where clients connect when neither --servers nor
// ZABKIT_SERVERS says otherwise: the first peer of `zabkit dev`.
const defaultServers = "127.0.0.1:2281"

// app holds what every command shares: the standard streams, the global
// flags, and the seams tests replace (environment, signals, dialing).
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// getenv reads the environment (ZABKIT_SERVERS, ZABKIT_HISTORY).
	getenv func(string) string
	// notify derives the context a command runs under; the binary cancels it
	// on SIGINT and SIGTERM, tests leave it alone.
	notify func(context.Context) (context.Context, context.CancelFunc)
	// dial opens a client session.
	dial func(ctx context.Context, servers []string, sessionTimeout, connectTimeout time.Duration) (zk, error)

	// Global flags.
	servers        string
	jsonOut        bool
	sessionTimeout time.Duration
	connectTimeout time.Duration

	// Set for commands run inside `zabkit shell`: the shell's session, and
	// where the one-shot watches of get -w and ls -w go (nil: the command
	// waits for the event itself).
	shared  zk
	onWatch func(p printer, path string, ch <-chan client.Event)
}

// newApp returns an app writing to the given streams, with no environment,
// no signal handling, and the real client.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		getenv: func(string) string { return "" },
		notify: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(ctx)
		},
		dial: dialClient,
	}
}

// exitErr carries an exit code out of a command. A silent one has already
// been reported.
type exitErr struct {
	code   int
	err    error
	silent bool
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitErr) Unwrap() error { return e.err }

// usagef returns a usage error (exit 2) with a formatted message.
func usagef(format string, args ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failed marks err as a failed operation (exit 1); nil stays nil.
func failed(err error) error {
	if err == nil {
		return nil
	}
	var xe *exitErr
	if errors.As(err, &xe) {
		return err
	}
	return &exitErr{code: exitError, err: err}
}

// run executes the command line args and returns the process exit code.
func (a *app) run(ctx context.Context, args []string) int {
	return a.execute(ctx, a.rootCmd(), args)
}

// execute runs args against root and reports any error on a.stderr.
func (a *app) execute(ctx context.Context, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var xe *exitErr
	if errors.As(err, &xe) && (xe.silent || xe.code != exitUsage) {
		if !xe.silent {
			a.reportError(err)
		}
		return xe.code
	}
	// Everything else cobra returns is about the command line: unknown
	// commands and flags, wrong argument counts.
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(a.stderr, "Error: %s\n", err.Error())
	if cmd.HasParent() {
		fmt.Fprintf(a.stderr, "Usage: %s\n", usageLine(cmd))
	}
	switch {
	case a.shared != nil:
		fmt.Fprintln(a.stderr, strings.TrimSpace("Run 'help "+cmd.Name())+"' for more.")
	default:
		fmt.Fprintf(a.stderr, "Run '%s --help' for more.\n", cmd.CommandPath())
	}
	return exitUsage
}

// usageLine returns "zabkit create [-s] ... PATH [DATA]" for cmd.
func usageLine(cmd *cobra.Command) string {
	return strings.TrimSpace(cmd.UseLine())
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// reportError prints err as one line on stderr, or as a JSON object with
// --json.
func (a *app) reportError(err error) {
	d := describe(err)
	if a.jsonOut {
		_ = writeJSON(a.stderr, d)
		return
	}
	fmt.Fprintln(a.stderr, d.Message)
}

// syncWriter serializes writes from a command and from the shell's watch
// printers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
