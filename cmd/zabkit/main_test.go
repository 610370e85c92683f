package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The binary the process tests run, built once per test run.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// buildBinary builds the zabkit binary once and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "zabkit-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "zabkit")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	require.NoError(t, binErr)
	return binPath
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

// eventually waits for cond like require.Eventually, and on failure says
// what last tells (evaluated then, not when the wait began).
func eventually(t *testing.T, cond func() bool, wait time.Duration, last func() string) {
	t.Helper()
	if !assert.Eventually(t, cond, wait, 20*time.Millisecond) {
		t.Fatalf("last seen: %s", last())
	}
}
