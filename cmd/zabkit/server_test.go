package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freeAddr returns a loopback address nothing listens on (the OS handed
// the port out and it was closed again).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// background runs zabkit with args until the returned stop is called; it
// returns the streams and a channel with the exit code.
func background(t *testing.T, args ...string) (out, errb *syncBuffer, stop func() int) {
	t.Helper()
	out, errb = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- newApp(strings.NewReader(""), out, errb).run(ctx, args)
	}()
	var code *int
	stop = func() int {
		if code == nil {
			cancel()
			c := <-done
			code = &c
		}
		return *code
	}
	t.Cleanup(func() { stop() })
	return out, errb, stop
}

var servingRe = regexp.MustCompile(`serving clients on (\S+), data in (\S+)`)

func TestServerCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, errb, stop := background(t, "server", "--data", dir, "--client-addr", "127.0.0.1:0", "--tick", "100", "--log-format", "json")
	require.Eventually(t, func() bool { return servingRe.MatchString(out.String()) }, waitFor, 10e6, "stderr: %s", errb.String())
	m := servingRe.FindStringSubmatch(out.String())
	addr := m[1]
	assert.Equal(t, dir, m[2])

	assert.Equal(t, "/s\n", ok(t, addr, "create", "/s", "v"))
	require.Equal(t, exitOK, stop(), errb.String())
	assert.Contains(t, errb.String(), `"msg":"shutdown complete"`)
	assert.DirExists(t, dir)
}

func TestServerConfigFile(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name, file, body string
	}{
		{"yaml", "zabkit.yaml", "data: %s\nclient-addr: 127.0.0.1:1\ntick: 100ms\nlog_level: warn\n"},
		{"json", "zabkit.json", `{"data": "%s", "clientAddr": "127.0.0.1:1", "tick": 100}`},
		{"key=value", "zabkit.conf", "# comment\ndata = %s\nclient-addr=127.0.0.1:1\nmax-session-timeout = 10s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(tmp, tt.name)
			path := filepath.Join(tmp, tt.file)
			require.NoError(t, os.WriteFile(path, []byte(strings.Replace(tt.body, "%s", dir, 1)), 0o600))
			// The flag wins over the file's client-addr (nothing listens on port 1).
			out, errb, stop := background(t, "server", "--config", path, "--client-addr", "127.0.0.1:0")
			require.Eventually(t, func() bool { return servingRe.MatchString(out.String()) }, waitFor, 10e6, "stderr: %s", errb.String())
			m := servingRe.FindStringSubmatch(out.String())
			assert.Equal(t, dir, m[2])
			assert.NotEqual(t, "127.0.0.1:1", m[1])
			assert.Equal(t, exitOK, stop())
		})
	}

	bad := filepath.Join(tmp, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("colour: blue\n"), 0o600))
	r := cli(t, "", "", "server", "--config", bad)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unknown key "colour"`)

	r = cli(t, "", "", "server", "--config", filepath.Join(tmp, "missing.yaml"))
	assert.Equal(t, exitUsage, r.code)

	r = cli(t, "", "", "server", "--log-format", "xml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--log-format")
}

func TestParseConfig(t *testing.T) {
	for _, tt := range []struct{ path, body string }{
		{"a.yaml", "tick: 2s\nclient-addr: \"h:1\"\n"},
		{"a.json", `{"tick": "2s", "client-addr": "h:1"}`},
		{"a", "tick=2s\nclient-addr = 'h:1'\n"},
		{"a", "# yaml without extension\ntick: 2s\nclient-addr: h:1\n"},
	} {
		kv, err := parseConfig(tt.path, []byte(tt.body))
		require.NoError(t, err, tt.body)
		assert.Equal(t, map[string]string{"tick": "2s", "client-addr": "h:1"}, kv, tt.body)
	}
	_, err := parseConfig("a.yaml", []byte("tick: [1, 2]\n"))
	assert.Error(t, err)
	_, err = parseConfig("a.conf", []byte("tick=1\nnonsense\n"))
	assert.Error(t, err)
	assert.Equal(t, "client-addr", flagName("clientAddr"))
	assert.Equal(t, "client-addr", flagName("client_addr"))
	assert.Equal(t, "min-session-timeout", flagName("minSessionTimeout"))
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1500": 1500 * time.Millisecond, "2s": 2 * time.Second, "1m30s": 90 * time.Second, "0": 0,
	} {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "soon", "-1", "-2s", "1.5"} {
		_, err := parseDuration(in)
		assert.Error(t, err, in)
	}
}

// dev --peers 1 is today's standalone dev peer.
func TestDevCommand(t *testing.T) {
	out, errb, stop := background(t, "dev", "--port", "0", "--peers", "1")
	connectRe := regexp.MustCompile(`(?m)^Connect string: (\S+)$`)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C stops it.") }, waitFor, 10e6, "stderr: %s", errb.String())
	banner := out.String()
	m := connectRe.FindStringSubmatch(banner)
	require.NotNil(t, m, banner)
	addr := m[1]
	assert.Contains(t, banner, "export ZABKIT_SERVERS="+addr+"\n")
	assert.Contains(t, banner, "zabkit --servers "+addr+" create /hello world\n")
	dir := regexp.MustCompile(`data in (\S+) \(removed on exit\)`).FindStringSubmatch(banner)
	require.NotNil(t, dir, banner)
	assert.DirExists(t, dir[1])
	assert.Contains(t, banner, "zabkit dev: 1 peer running")
	assert.Regexp(t, `(?m)^  peer 1  clients on `+regexp.QuoteMeta(addr)+`  standalone$`, banner)
	assert.NotContains(t, banner, "status")

	assert.Equal(t, "/hello\n", ok(t, addr, "create", "/hello", "world"))
	assert.Equal(t, "world\n", ok(t, addr, "get", "/hello"))

	require.Equal(t, exitOK, stop(), errb.String())
	assert.NoDirExists(t, dir[1])
	assert.Contains(t, out.String(), "data removed")
}

func TestClientAddrs(t *testing.T) {
	// A taken port is skipped.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	addrs, err := clientAddrs("127.0.0.1", port, 1)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.NotEqual(t, l.Addr().String(), addrs[0])

	addrs, err = clientAddrs("127.0.0.1", 0, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, addrs)
}

// TestBinary builds the real binary, runs `server` on a free port, talks to
// it with one-shot commands, and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := buildBinary(t)

	data := filepath.Join(tmp, "data")
	srv := exec.Command(bin, "server", "--data", data, "--client-addr", "127.0.0.1:0", "--log-level", "info")
	stdout, err := srv.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	srv.Stderr = &stderr
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
			<-exited
		}
	})

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case err := <-exited:
		t.Fatalf("server exited: %v, stderr: %s", err, stderr.String())
	case <-time.After(waitFor):
		t.Fatalf("no start line; stderr: %s", stderr.String())
	}
	m := servingRe.FindStringSubmatch(line)
	require.NotNil(t, m, line)
	addr := m[1]
	assert.Equal(t, data, m[2])

	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"--servers", addr}, args...)...)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
	out, code := run("create", "/bin", "hello")
	assert.Equal(t, 0, code)
	assert.Equal(t, "/bin\n", out)
	out, code = run("get", "/bin")
	assert.Equal(t, 0, code)
	assert.Equal(t, "hello\n", out)
	_, code = run("get", "/missing")
	assert.Equal(t, 1, code)
	_, code = run("get")
	assert.Equal(t, 2, code)

	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "stderr: %s", stderr.String())
	case <-time.After(waitFor):
		t.Fatalf("no exit after SIGTERM; stderr: %s", stderr.String())
	}
	assert.Equal(t, 0, srv.ProcessState.ExitCode())
	assert.Contains(t, stderr.String(), `msg="shutdown complete"`)
}

// The commands that run servers show only their own flags; client commands
// still show the client flags.
func TestServerHelpShowsOwnFlags(t *testing.T) {
	for _, name := range []string{"server", "dev"} {
		r := cli(t, "", "", name, "--help")
		require.Equal(t, exitOK, r.code, r.stderr)
		help := r.stdout + r.stderr
		assert.Contains(t, help, "--log-level", name)
		assert.NotContains(t, help, "--servers", name)
		assert.NotContains(t, help, "Global Flags", name)
	}
	r := cli(t, "", "", "get", "--help")
	assert.Contains(t, r.stdout+r.stderr, "--servers")
}
