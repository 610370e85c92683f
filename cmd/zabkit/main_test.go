package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor is how long require.Eventually waits in these tests.
const waitFor = 10 * time.Second

// startServer runs a real standalone peer on a free loopback port with its
// data in a temp dir, stopped at the end of the test; it returns the
// client address.
func startServer(t *testing.T) string {
	t.Helper()
	srv, err := ensemble.New(ensemble.Config{
		DataDir:    t.TempDir(),
		ClientAddr: "127.0.0.1:0",
		TickTime:   100 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Stop(ctx))
	})
	return srv.Addr().String()
}

// syncBuffer is a bytes.Buffer safe to write from a command's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one command line did.
type result struct {
	code   int
	stdout string
	stderr string
}

// cli runs zabkit with args against the server at addr (none if empty),
// with stdin as its input, and returns what it did.
func cli(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	return cliCtx(context.Background(), t, addr, stdin, args...)
}

func cliCtx(ctx context.Context, t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	a := newApp(strings.NewReader(stdin), &out, &errb)
	if addr != "" {
		args = append([]string{"--servers", addr}, args...)
	}
	code := a.run(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, addr string, args ...string) string {
	t.Helper()
	r := cli(t, addr, "", args...)
	require.Equal(t, exitOK, r.code, "zabkit %v: stderr %q", args, r.stderr)
	return r.stdout
}
