package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShellScript(t *testing.T) {
	addr := startServer(t)
	script := `
# a comment, then commands over one session
create /s one
get /s
set /s "two words"
get -s /s
create -e /s/eph
create -e /eph
create /eph/child
getEphemerals
getEphemerals /s
ls /
quit
create /not-run
`
	r := cli(t, addr, script, "shell")
	assert.Equal(t, exitError, r.code, "a failed line makes the script exit 1")
	assert.True(t, strings.HasPrefix(r.stdout, "/s\none\ntwo words\ncZxid = "), r.stdout)
	assert.Contains(t, r.stdout, "/s/eph\n/eph\n[/eph, /s/eph]\n[/s/eph]\n[eph, s]\n")
	assert.Equal(t, "Ephemerals cannot have children: /eph/child\n", r.stderr)

	// The shell's session is gone: so are its ephemerals; quit stopped it.
	require.Eventually(t, func() bool { return ok(t, addr, "ls", "/") == "[s]\n" }, waitFor, 10e6)
}

func TestShellUsageErrors(t *testing.T) {
	addr := startServer(t)
	r := cli(t, addr, "bogus /a\nget\nget /nope\ncreate 'unterminated\nhelp\nhelp get\ncreate /fine\n", "shell")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, "Unknown command: bogus (type help for the list)\n"+
		"Error: missing PATH\nUsage: get [-s] [-w] PATH\nRun 'help get' for more.\n"+
		"Node does not exist: /nope\n"+
		"Error: unterminated ' quote\n", r.stderr)
	assert.Contains(t, r.stdout, "Commands:\n")
	assert.Contains(t, r.stdout, "  create [-s] [-e] [-c] [-t TTL] PATH [DATA]  create a znode")
	assert.Contains(t, r.stdout, "  quit ")
	assert.Contains(t, r.stdout, "Print PATH's data.") // help get
	assert.True(t, strings.HasSuffix(r.stdout, "/fine\n"), r.stdout)
}

func TestShellAsyncWatch(t *testing.T) {
	addr := startServer(t)
	r := cli(t, addr, "create /w v0\nget -w /w\nls -w /w\nset /w v1\ncreate /w/c\n", "shell")
	require.Equal(t, exitOK, r.code, r.stderr)
	// The events reach the client before the replies of set and create.
	assert.Contains(t, r.stdout, "WATCHER:: WatchedEvent type:NodeDataChanged path:/w zxid:")
	assert.Contains(t, r.stdout, "WATCHER:: WatchedEvent type:NodeChildrenChanged path:/w zxid:")
}

func TestShellJSON(t *testing.T) {
	addr := startServer(t)
	r := cli(t, addr, "create /j x\nget /nope\n", "--json", "shell")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "{\"path\":\"/j\"}\n", r.stdout)
	assert.Equal(t, "{\"error\":\"Node does not exist: /nope\",\"code\":\"NoNode\",\"path\":\"/nope\"}\n", r.stderr)
}

func TestSplitLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"get /a", []string{"get", "/a"}, false},
		{"  set   /a\t b  ", []string{"set", "/a", "b"}, false},
		{`set /a "two words"`, []string{"set", "/a", "two words"}, false},
		{`set /a 'it is'`, []string{"set", "/a", "it is"}, false},
		{`create /c {"a":1,"b":"x y"}`, []string{"create", "/c", `{"a":1,"b":"x`, `y"}`}, false},
		{`create /c '{"a": 1}'`, []string{"create", "/c", `{"a": 1}`}, false},
		{`set /a it's`, []string{"set", "/a", "it's"}, false},
		{`set /a "say \"hi\" \\ \n"`, []string{"set", "/a", `say "hi" \ \n`}, false},
		{`set /a ""`, []string{"set", "/a", ""}, false},
		{`set /a x\y`, []string{"set", "/a", `x\y`}, false},
		{`set /a 'open`, nil, true},
		{`set /a "open`, nil, true},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, err := splitLine(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestComplete(t *testing.T) {
	addr := startServer(t)
	for _, p := range []string{"/config", "/counter", "/zoo", "/config/a1", "/config/a2", "/config/b"} {
		ok(t, addr, "create", p)
	}
	old := pageSize
	pageSize = 1
	t.Cleanup(func() { pageSize = old })

	a := newApp(strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	a.servers = addr
	ctx := context.Background()
	c, err := a.connect(ctx)
	require.NoError(t, err)
	defer c.Close()
	cmds := []string{"create", "deleteall", "delete", "get", "getEphemerals"}

	tests := []struct {
		before string
		want   []string
		n      int
	}{
		{"ge", []string{"t ", "tEphemerals "}, 2},
		{"del", []string{"eteall ", "ete "}, 3},
		{"get /co", []string{"nfig", "unter"}, 2},
		{"get -s /", []string{"config", "counter", "zoo"}, 0},
		{"ls /config/a", []string{"1", "2"}, 1},
		{"ls /nope/x", nil, 1},
		{"get nope", nil, 0},
	}
	for _, tt := range tests {
		got, n := complete(ctx, c, cmds, tt.before)
		assert.Equal(t, tt.want, got, tt.before)
		assert.Equal(t, tt.n, n, tt.before)
	}
}
