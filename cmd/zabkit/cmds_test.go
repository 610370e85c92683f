package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateGetSetDelete(t *testing.T) {
	addr := startServer(t)

	assert.Equal(t, "/app\n", ok(t, addr, "create", "/app", "hello"))
	assert.Equal(t, "hello\n", ok(t, addr, "get", "/app"))
	assert.Equal(t, "", ok(t, addr, "set", "/app", "world"))
	assert.Equal(t, "world\n", ok(t, addr, "get", "/app"))

	// get -s: data, then zkCli's stat lines in zkCli's order.
	out := ok(t, addr, "get", "-s", "/app")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 12, out)
	assert.Equal(t, "world", lines[0])
	var names []string
	for _, l := range lines[1:] {
		name, _, found := strings.Cut(l, " = ")
		require.True(t, found, l)
		names = append(names, name)
	}
	assert.Equal(t, []string{"cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
		"aclVersion", "ephemeralOwner", "dataLength", "numChildren"}, names)
	assert.Contains(t, out, "dataVersion = 1\n")
	assert.Contains(t, out, "dataLength = 5\n")
	assert.Contains(t, out, "ephemeralOwner = 0x0\n")
	assert.Regexp(t, regexp.MustCompile(`(?m)^cZxid = 0x[0-9a-f]+$`), out)

	// set -s -v prints the new stat; a stale version fails.
	out = ok(t, addr, "set", "-s", "-v", "1", "/app", "again")
	assert.Contains(t, out, "dataVersion = 2\n")

	// stat alone, and an empty node.
	ok(t, addr, "create", "/empty")
	assert.Equal(t, "\n", ok(t, addr, "get", "/empty"))
	assert.Contains(t, ok(t, addr, "stat", "/empty"), "dataLength = 0\n")

	assert.Equal(t, "", ok(t, addr, "delete", "-v", "2", "/app"))
	r := cli(t, addr, "", "get", "/app")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "Node does not exist: /app\n", r.stderr)

	assert.Equal(t, "Sync is OK\n", ok(t, addr, "sync", "/"))
}

func TestCreateModes(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/q")
	assert.Regexp(t, `^/q/item-\d{10}\n$`, ok(t, addr, "create", "-s", "/q/item-", "x"))
	assert.Regexp(t, `^/q/ttl-\d{10}\n$`, ok(t, addr, "create", "-s", "-t", "1h", "/q/ttl-"))
	assert.Equal(t, "/ttl\n", ok(t, addr, "create", "-t", "60000", "/ttl"))
	assert.Equal(t, "/box\n", ok(t, addr, "create", "-c", "/box"))

	// A one-shot ephemeral is gone once the command's session closes.
	r := cli(t, addr, "", "create", "-e", "/eph")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "/eph\n", r.stdout)
	assert.Contains(t, r.stderr, "zabkit shell")
	require.Eventually(t, func() bool {
		return cli(t, addr, "", "stat", "/eph").code == exitError
	}, waitFor, 10e6)
}

func TestLsAndDeleteAll(t *testing.T) {
	addr := startServer(t)
	old := pageSize
	pageSize = 2 // make ls -R and deleteall page
	t.Cleanup(func() { pageSize = old })

	script := strings.Join([]string{
		"create /d", "create /d/a", "create /d/a/x", "create /d/a/y", "create /d/b",
		"create /d/c", "create /d/c/z", "create /d/e", "create /keep",
	}, "\n")
	r := cli(t, addr, script, "shell")
	require.Equal(t, exitOK, r.code, r.stderr)

	assert.Equal(t, "[a, b, c, e]\n", ok(t, addr, "ls", "/d"))
	assert.Equal(t, "[d, keep]\n", ok(t, addr, "ls"))
	out := ok(t, addr, "ls", "-s", "/d")
	assert.True(t, strings.HasPrefix(out, "[a, b, c, e]\ncZxid = "), out)
	assert.Contains(t, out, "numChildren = 4\n")

	assert.Equal(t, "/d\n/d/a\n/d/a/x\n/d/a/y\n/d/b\n/d/c\n/d/c/z\n/d/e\n", ok(t, addr, "ls", "-R", "/d"))

	// delete refuses a parent; deleteall removes the subtree, deepest first.
	r = cli(t, addr, "", "delete", "/d")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "Directory not empty for /d\n", r.stderr)
	assert.Equal(t, "", ok(t, addr, "deleteall", "/d"))
	assert.Equal(t, "[keep]\n", ok(t, addr, "ls", "/"))

	// --json deleteall counts the nodes.
	ok(t, addr, "create", "/k2")
	ok(t, addr, "create", "/k2/a")
	var del struct {
		Path    string `json:"path"`
		Deleted int    `json:"deleted"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "--json", "deleteall", "/k2")), &del))
	assert.Equal(t, 2, del.Deleted)

	r = cli(t, addr, "", "deleteall", "/nope")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "Node does not exist: /nope\n", r.stderr)
}

func TestJSONOutput(t *testing.T) {
	addr := startServer(t)

	var created struct{ Path string }
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "--json", "create", "/j", "data")), &created))
	assert.Equal(t, "/j", created.Path)

	var got struct {
		Path       string         `json:"path"`
		Data       *string        `json:"data"`
		DataBase64 *string        `json:"dataBase64"`
		Stat       map[string]any `json:"stat"`
	}
	out := ok(t, addr, "--json", "get", "/j")
	assert.Equal(t, 1, strings.Count(out, "\n"), "one object per line")
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.Data)
	assert.Equal(t, "data", *got.Data)
	assert.Nil(t, got.DataBase64)
	for _, k := range []string{"cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
		"aclVersion", "ephemeralOwner", "dataLength", "numChildren"} {
		assert.Contains(t, got.Stat, k)
	}
	assert.EqualValues(t, 4, got.Stat["dataLength"])

	// Data that is not UTF-8 comes as base64.
	ok(t, addr, "set", "/j", "\xff\xfe")
	got.Data, got.DataBase64 = nil, nil
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "--json", "get", "/j")), &got))
	assert.Nil(t, got.Data)
	require.NotNil(t, got.DataBase64)
	assert.Equal(t, "//4=", *got.DataBase64)

	var ls struct {
		Path     string   `json:"path"`
		Children []string `json:"children"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "--json", "ls", "/j")), &ls))
	assert.Equal(t, []string{}, ls.Children)

	var st struct {
		Stat map[string]any `json:"stat"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "--json", "stat", "/j")), &st))
	assert.EqualValues(t, 1, st.Stat["dataVersion"])

	// ls -R: one object per node.
	ok(t, addr, "create", "/j/k")
	out = ok(t, addr, "--json", "ls", "-R", "/j")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	for i, want := range []string{"/j", "/j/k"} {
		var n struct{ Path string }
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &n))
		assert.Equal(t, want, n.Path)
	}

	// Errors are one JSON object on stderr, nothing on stdout.
	r := cli(t, addr, "", "--json", "get", "/missing")
	assert.Equal(t, exitError, r.code)
	assert.Empty(t, r.stdout)
	var e errorReport
	require.NoError(t, json.Unmarshal([]byte(r.stderr), &e))
	assert.Equal(t, errorReport{Message: "Node does not exist: /missing", Code: "NoNode", Path: "/missing"}, e)
}

func TestErrorsAndExitCodes(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/a", "x")
	ok(t, addr, "create", "/a/b")

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // exact, or the prefix for usage errors
	}{
		{"no node", []string{"get", "/nope"}, exitError, "Node does not exist: /nope\n"},
		{"no parent", []string{"create", "/x/y"}, exitError, "Node does not exist: /x/y\n"},
		{"exists", []string{"create", "/a"}, exitError, "Node already exists: /a\n"},
		{"bad version", []string{"set", "-v", "7", "/a", "y"}, exitError, "Version does not match: /a\n"},
		{"bad delete version", []string{"delete", "-v", "7", "/a/b"}, exitError, "Version does not match: /a/b\n"},
		{"not empty", []string{"delete", "/a"}, exitError, "Directory not empty for /a\n"},
		{"stat missing", []string{"stat", "/nope"}, exitError, "Node does not exist: /nope\n"},
		{"bad path", []string{"get", "/a/"}, exitError, "Bad arguments: "},
		{"relative path", []string{"create", "a"}, exitError, "Bad arguments: "},

		{"missing path", []string{"create"}, exitUsage, "Error: missing PATH\nUsage: zabkit create [-s] [-e] [-c] [-t TTL] PATH [DATA]\n"},
		{"missing data", []string{"set", "/a"}, exitUsage, "Error: missing DATA\nUsage: zabkit set [-s] [-v VERSION] PATH DATA\n"},
		{"too many", []string{"get", "/a", "/b"}, exitUsage, "Error: too many arguments"},
		{"unknown flag", []string{"get", "-x", "/a"}, exitUsage, "Error: unknown shorthand flag: 'x' in -x\nUsage: zabkit get [-s] [-w] PATH\n"},
		{"bad version flag", []string{"set", "-v", "abc", "/a", "x"}, exitUsage, "Error: invalid argument \"abc\""},
		{"bad ttl", []string{"create", "-t", "soon", "/t"}, exitUsage, "Error: invalid argument \"soon\""},
		{"zero ttl", []string{"create", "-t", "0", "/t"}, exitUsage, "Error: -t needs a positive TTL\n"},
		{"bad modes", []string{"create", "-c", "-e", "/t"}, exitUsage, "Error: -c cannot be combined"},
		{"ttl ephemeral", []string{"create", "-e", "-t", "1s", "/t"}, exitUsage, "Error: -t cannot be combined with -e"},
		{"ls -R -w", []string{"ls", "-R", "-w", "/"}, exitUsage, "Error: -R cannot be combined"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "Error: unknown command \"frobnicate\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, addr, "", tt.args...)
			assert.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stdout)
			if tt.code == exitUsage || strings.HasSuffix(tt.stderr, ": ") {
				assert.True(t, strings.HasPrefix(r.stderr, tt.stderr), "stderr %q, want prefix %q", r.stderr, tt.stderr)
			} else {
				assert.Equal(t, tt.stderr, r.stderr)
			}
			if tt.code == exitError {
				assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line")
			}
		})
	}
}

func TestConnectionLoss(t *testing.T) {
	// Nothing listens on a port the OS just handed out and took back.
	addr := freeAddr(t)
	r := cli(t, addr, "", "--connect-timeout", "300ms", "get", "/a")
	assert.Equal(t, exitError, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "Connection loss: cannot reach "+addr), r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"))
}

func TestServersFromEnv(t *testing.T) {
	addr := startServer(t)
	var out, errb syncBuffer
	a := newApp(strings.NewReader(""), &out, &errb)
	a.getenv = func(k string) string {
		if k == "ZABKIT_SERVERS" {
			return addr
		}
		return ""
	}
	require.Equal(t, exitOK, a.run(context.Background(), []string{"create", "/env"}), errb.String())
	assert.Equal(t, "/env\n", out.String())
}

func TestWatch(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/w")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		a := newApp(strings.NewReader(""), &out, &errb)
		done <- a.run(ctx, []string{"--servers", addr, "watch", "-r", "/w"})
	}()
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "Watching recursively /w") },
		waitFor, 10e6, "stderr: %s", errb.String())

	ok(t, addr, "set", "/w", "1")
	ok(t, addr, "create", "/w/c")
	ok(t, addr, "delete", "/w/c")
	want := []string{
		"WatchedEvent type:NodeDataChanged path:/w zxid:",
		"WatchedEvent type:NodeCreated path:/w/c zxid:",
		"WatchedEvent type:NodeDeleted path:/w/c zxid:",
	}
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= len(want) },
		waitFor, 10e6, "stdout: %s", out.String())
	cancel()
	require.Equal(t, exitOK, <-done, errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(want), out.String())
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w), "line %d: %q", i, lines[i])
	}
}

func TestGetWaitsForWatch(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/gw", "v0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		a := newApp(strings.NewReader(""), &out, &errb)
		done <- a.run(ctx, []string{"--servers", addr, "--json", "get", "-w", "/gw"})
	}()
	// The data is printed after the watch is set.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "\n") }, waitFor, 10e6)
	ok(t, addr, "set", "/gw", "v1")
	require.Equal(t, exitOK, <-done, errb.String())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2, out.String())
	var ev eventJSON
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &ev))
	assert.Equal(t, "NodeDataChanged", ev.Type)
	assert.Equal(t, "/gw", ev.Path)
	assert.NotZero(t, ev.Zxid)
}
