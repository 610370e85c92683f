package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble"
)

func TestParsePeers(t *testing.T) {
	type M = ensemble.Member
	tests := []struct {
		in   string
		want []M
	}{
		{"1=h1:2888", []M{{ID: 1, PeerAddr: "h1:2888"}}},
		{"1=a:2888:3888,2=b:2888:3888,3=c:2888:3888", []M{
			{ID: 1, PeerAddr: "a:2888", GossipAddr: "a:3888"},
			{ID: 2, PeerAddr: "b:2888", GossipAddr: "b:3888"},
			{ID: 3, PeerAddr: "c:2888", GossipAddr: "c:3888"},
		}},
		// Sorted by id; spaces around entries; empty entries skipped.
		{" 3=c:1 , 1=a:1,,2=b:1 ", []M{{ID: 1, PeerAddr: "a:1"}, {ID: 2, PeerAddr: "b:1"}, {ID: 3, PeerAddr: "c:1"}}},
		{"1=a:2888:3888,2=b:2888:3888,3=c:2888:3888,4=d:2888:3888:observer", []M{
			{ID: 1, PeerAddr: "a:2888", GossipAddr: "a:3888"},
			{ID: 2, PeerAddr: "b:2888", GossipAddr: "b:3888"},
			{ID: 3, PeerAddr: "c:2888", GossipAddr: "c:3888"},
			{ID: 4, PeerAddr: "d:2888", GossipAddr: "d:3888", Observer: true},
		}},
		{"1=a:2888,9=b:2889:OBSERVER", []M{{ID: 1, PeerAddr: "a:2888"}, {ID: 9, PeerAddr: "b:2889", Observer: true}}},
		{"1=a:2888:participant", []M{{ID: 1, PeerAddr: "a:2888"}}},
		// One host, ports told apart.
		{"1=127.0.0.1:2888:3888,2=127.0.0.1:2889:3889", []M{
			{ID: 1, PeerAddr: "127.0.0.1:2888", GossipAddr: "127.0.0.1:3888"},
			{ID: 2, PeerAddr: "127.0.0.1:2889", GossipAddr: "127.0.0.1:3889"},
		}},
		{"1=[::1]:2888:3888,255=[fe80::1]:1", []M{
			{ID: 1, PeerAddr: "[::1]:2888", GossipAddr: "[::1]:3888"},
			{ID: 255, PeerAddr: "[fe80::1]:1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePeers(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			// formatPeers is the inverse.
			again, err := parsePeers(formatPeers(got))
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestParsePeersErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no peers"},
		{" , ", "no peers"},
		{"h1:2888", "want ID=HOST:PEERPORT"},
		{"0=a:1", `server id "0": want 1..255`},
		{"256=a:1", `server id "256": want 1..255`},
		{"-1=a:1", `server id "-1"`},
		{"x=a:1", `server id "x"`},
		{"=a:1", `server id ""`},
		{"1=a", "missing the peer port"},
		{"1=a:", "missing the peer port"},
		{"1=a:observer", "missing the peer port"},
		{"1=:2888", "missing host"},
		{"1=a:0", `port "0": want 1..65535`},
		{"1=a:65536", `port "65536"`},
		{"1=a:http", `port "http"`},
		{"1=a:2888:", `port ""`},
		{"1=a:2888:3888:4888", "too many fields"},
		{"1=a:2888:3888:voter", `"voter" is not a member type`},
		{"1=a:2888:voter", `port "voter"`},
		{"1=[::1:2888", "missing ]"},
		{"1=[::1]2888", "want :PORT after ]"},
		{"1=a:1,1=b:1", "server id 1 appears twice"},
		{"1=a:1,2=a:1", "address a:1 is both the peer port of 1 and the peer port of 2"},
		{"1=a:1:2,2=a:2", "address a:2 is both the gossip port of 1 and the peer port of 2"},
		{"1=a:1:1", "address a:1 is both the peer port of 1 and the gossip port of 1"},
		{"1=a:1:observer,2=b:1:observer", "no voter"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parsePeers(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestEnsembleConfig(t *testing.T) {
	base := func() serverFlags {
		return serverFlags{data: "d", clientAddr: "127.0.0.1:0", serverID: 1, clusterID: ensemble.DefaultClusterID}
	}
	t.Run("standalone", func(t *testing.T) {
		f := base()
		cfg, err := f.ensembleConfig(false)
		require.NoError(t, err)
		assert.Empty(t, cfg.Members)
		assert.Equal(t, uint32(1), cfg.ServerID)
		assert.True(t, filepath.IsAbs(cfg.DataDir))
	})
	t.Run("ensemble", func(t *testing.T) {
		f := base()
		f.serverID, f.peers, f.clusterID, f.peerSecret, f.zabTick = 2, "1=a:1,2=b:1,3=c:1", "prod", "s3cret", 20*time.Millisecond
		cfg, err := f.ensembleConfig(true)
		require.NoError(t, err)
		assert.Len(t, cfg.Members, 3)
		assert.Equal(t, uint32(2), cfg.ServerID)
		assert.Equal(t, "prod", cfg.ClusterID)
		assert.Equal(t, "s3cret", cfg.PeerSecret)
		assert.Equal(t, 20*time.Millisecond, cfg.ZabTick)
	})
	errs := []struct {
		name  string
		set   func(f *serverFlags)
		idSet bool
		want  string
	}{
		{"peers without id", func(f *serverFlags) { f.peers = "1=a:1" }, false, "--peers needs --id"},
		{"id not among peers", func(f *serverFlags) { f.serverID, f.peers = 4, "1=a:1,2=b:1,3=c:1" }, true,
			"--id 4 is not among --peers (ids 1, 2, 3)"},
		{"id 0 with peers", func(f *serverFlags) { f.serverID, f.peers = 0, "1=a:1" }, true, "--id 0 is not among"},
		{"id over 255", func(f *serverFlags) { f.serverID = 256 }, true, "--id 256: want 1..255"},
		{"bad peers", func(f *serverFlags) { f.peers = "1=a:99999" }, true, "--peers: "},
		{"empty cluster id", func(f *serverFlags) { f.clusterID = "" }, false, "--cluster-id"},
		{"cluster id with space", func(f *serverFlags) { f.clusterID = "a b" }, false, "--cluster-id"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.set(&f)
			_, err := f.ensembleConfig(tt.idSet)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Bad ensemble flags are usage errors (exit 2) with a clear message, before
// anything starts.
func TestServerEnsembleFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"peers without id", []string{"--peers", "1=a:1,2=b:1,3=c:1"}, "--peers needs --id"},
		{"id not among peers", []string{"--id", "7", "--peers", "1=a:1,2=b:1,3=c:1"}, "--id 7 is not among --peers"},
		{"duplicate ids", []string{"--id", "1", "--peers", "1=a:1,1=b:1"}, "server id 1 appears twice"},
		{"bad port", []string{"--id", "1", "--peers", "1=a:70000"}, `port "70000"`},
		{"id out of range", []string{"--id", "1", "--peers", "1=a:1,300=b:1"}, "want 1..255"},
		{"no voter", []string{"--id", "1", "--peers", "1=a:1:observer"}, "no voter"},
		{"negative id", []string{"--id", "-1"}, "invalid argument"},
		{"bad zab tick", []string{"--zab-tick", "soon"}, "invalid argument"},
		{"bad cluster id", []string{"--cluster-id", ""}, "--cluster-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			r := cli(t, "", "", append([]string{"server", "--data", data, "--client-addr", "127.0.0.1:0"}, tt.args...)...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			assert.NoDirExists(t, data, "nothing started")
		})
	}
}

// The ensemble keys in a config file: peers as a string or a list, id (or
// its old name server-id), cluster-id, zab-tick, pid-file; the flag wins.
func TestServerEnsembleConfigFile(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name, file, body string
		args             []string
		wantID           uint32
	}{
		{"yaml list", "a.yaml", "id: 2\npeers:\n  - 1=a:2888:3888\n  - 2=b:2888:3888\n  - 3=c:2888:3888:observer\ncluster-id: prod\nzab-tick: 20ms\n", nil, 2},
		{"yaml string", "b.yml", "server_id: 3\npeers: 1=a:2888:3888,2=b:2888:3888,3=c:2888:3888:observer\nclusterId: prod\nzab_tick: 20\n", nil, 3},
		{"json list", "c.json", `{"id": 1, "peers": ["1=a:2888:3888", "2=b:2888:3888", "3=c:2888:3888:observer"], "cluster-id": "prod", "zab-tick": "20ms"}`, nil, 1},
		{"key=value", "d.conf", "id=2\npeers = 1=a:2888:3888,2=b:2888:3888,3=c:2888:3888:observer\ncluster-id=prod\nzab-tick=20ms\n", nil, 2},
		{"flag wins", "e.yaml", "id: 2\npeers: [1=a:2888:3888, 2=b:2888:3888, 3=c:2888:3888:observer]\ncluster-id: prod\nzab-tick: 1s\n",
			[]string{"--id", "1", "--zab-tick", "20ms"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(tmp, tt.file)
			require.NoError(t, os.WriteFile(path, []byte(tt.body), 0o600))
			cfg, _, err := serverConfigOf(t, nil, append([]string{"--config", path}, tt.args...)...)
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, cfg.ServerID)
			assert.Equal(t, "prod", cfg.ClusterID)
			assert.Equal(t, 20*time.Millisecond, cfg.ZabTick)
			assert.Equal(t, "1=a:2888:3888,2=b:2888:3888,3=c:2888:3888:observer", formatPeers(cfg.Members))
		})
	}

	bad := []struct{ name, file, body, want string }{
		{"list of maps", "f.yaml", "id: 1\npeers:\n  - {id: 1}\n", "want a plain value"},
		{"comma in list item", "g.yaml", "id: 1\npeers: [\"1=a:1,2=b:1\"]\n", "without commas"},
		{"list for a plain key", "h.yaml", "cluster-id: [a, b]\n", "want a plain value"},
		{"map", "i.yaml", "peers: {1: a:1}\n", "want a plain value"},
		{"id not among peers", "j.yaml", "id: 5\npeers: [1=a:1]\n", "--id 5 is not among --peers"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(tmp, tt.file)
			require.NoError(t, os.WriteFile(path, []byte(tt.body), 0o600))
			r := cli(t, "", "", "server", "--config", path, "--data", filepath.Join(tmp, "never"))
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

// serverConfigOf parses args as `zabkit server` does, config file and
// environment included, without running the server.
func serverConfigOf(t *testing.T, getenv func(string) string, args ...string) (ensemble.Config, secretSource, error) {
	t.Helper()
	a := newApp(strings.NewReader(""), &syncBuffer{}, &syncBuffer{})
	if getenv != nil {
		a.getenv = getenv
	}
	cmd, f := a.newServerCmd()
	require.NoError(t, cmd.ParseFlags(args))
	return a.serverSettings(cmd.Flags(), f)
}

func TestPeerSecretSources(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "z.yaml")
	require.NoError(t, os.WriteFile(file, []byte("peer-secret: from-file\n"), 0o600))
	env := func(k string) string {
		if k == peerSecretEnv {
			return "from-env"
		}
		return ""
	}
	tests := []struct {
		name   string
		getenv func(string) string
		args   []string
		want   string
		src    secretSource
	}{
		{"none", nil, nil, "", secretNone},
		{"file", nil, []string{"--config", file}, "from-file", secretFile},
		{"env over file", env, []string{"--config", file}, "from-env", secretEnv},
		{"flag over env", env, []string{"--config", file, "--peer-secret", "from-flag"}, "from-flag", secretCmdLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, src, err := serverConfigOf(t, tt.getenv, tt.args...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.PeerSecret)
			assert.Equal(t, tt.src, src)
		})
	}
}

func TestPIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zabkit.pid")
	require.NoError(t, writePIDFile(path, 4242))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "4242\n", string(b))

	// Overwritten by the next start; another process's file is left alone.
	require.NoError(t, writePIDFile(path, 77))
	assert.Error(t, removePIDFile(path, 4242))
	assert.FileExists(t, path)
	require.NoError(t, removePIDFile(path, 77))
	assert.NoFileExists(t, path)
	require.NoError(t, removePIDFile(path, 77), "already gone is fine")

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Empty(t, entries, "no temp files left")

	assert.Error(t, writePIDFile(filepath.Join(t.TempDir(), "missing", "x.pid"), 1))
}

// --pid-file holds our pid while the server runs and is gone after a clean
// stop.
func TestServerPIDFile(t *testing.T) {
	tmp := t.TempDir()
	pidFile := filepath.Join(tmp, "zabkit.pid")
	out, errb, stop := background(t, "server", "--data", filepath.Join(tmp, "data"), "--client-addr", "127.0.0.1:0",
		"--pid-file", pidFile)
	require.Eventually(t, func() bool { return servingRe.MatchString(out.String()) }, waitFor, 10e6, "stderr: %s", errb.String())
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(b))
	require.Equal(t, exitOK, stop(), errb.String())
	assert.NoFileExists(t, pidFile)

	r := cli(t, "", "", "server", "--data", filepath.Join(tmp, "data2"), "--pid-file", filepath.Join(tmp, "no", "dir.pid"))
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "--pid-file")
}

// A one-member ensemble is a real ensemble (it elects itself): the server
// starts with the ensemble flags, prints the ensemble line, and never
// prints the secret. The secret comes from the environment without a
// warning, from the command line with one.
func TestServerEnsembleFlags(t *testing.T) {
	const secret = "correct-horse-battery-staple-42"
	for _, viaEnv := range []bool{true, false} {
		t.Run("env="+strconv.FormatBool(viaEnv), func(t *testing.T) {
			tmp := t.TempDir()
			peer := freeAddr(t)
			args := []string{"server", "--data", filepath.Join(tmp, "data"), "--client-addr", "127.0.0.1:0",
				"--id", "1", "--peers", "1=" + peer, "--cluster-id", "test-cluster", "--zab-tick", "20ms", "--log-level", "debug"}
			if !viaEnv {
				args = append(args, "--peer-secret", secret)
			}
			out, errb := &syncBuffer{}, &syncBuffer{}
			a := newApp(strings.NewReader(""), out, errb)
			a.getenv = func(k string) string {
				if k == peerSecretEnv && viaEnv {
					return secret
				}
				return ""
			}
			done := make(chan int, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { done <- a.run(ctx, args) }()
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "ZAB on") }, waitFor, 10e6,
				"stdout: %s, stderr: %s", out.String(), errb.String())
			cancel()
			require.Equal(t, exitOK, <-done, errb.String())

			assert.Contains(t, out.String(), `zabkit server 1: voter in cluster "test-cluster" of 1 voter (1), ZAB on `+peer+"\n")
			assert.NotContains(t, out.String()+errb.String(), secret)
			if viaEnv {
				assert.NotContains(t, errb.String(), "visible to other users")
			} else {
				assert.Contains(t, errb.String(), "--peer-secret on the command line is visible to other users")
			}
		})
	}
}

// --server-id, the old name, still sets the id.
func TestServerIDAlias(t *testing.T) {
	cfg, _, err := serverConfigOf(t, nil, "--server-id", "3")
	require.NoError(t, err)
	assert.Equal(t, uint32(3), cfg.ServerID)
	assert.Empty(t, cfg.Members)
	cfg, _, err = serverConfigOf(t, nil, "--server-id", "2", "--peers", "1=a:1,2=b:1,3=c:1")
	require.NoError(t, err, "the alias counts as --id")
	assert.Equal(t, uint32(2), cfg.ServerID)
	cfg, _, err = serverConfigOf(t, nil)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), cfg.ServerID, "standalone default")
}

func TestServerWarnings(t *testing.T) {
	tmp := t.TempDir()
	loose := filepath.Join(tmp, "loose.yaml")
	require.NoError(t, os.WriteFile(loose, []byte("peer-secret: from-the-file-0123456789\n"), 0o644))
	tight := filepath.Join(tmp, "tight.yaml")
	require.NoError(t, os.WriteFile(tight, []byte("peer-secret: from-the-file-0123456789\n"), 0o600))
	three, err := parsePeers("1=10.0.0.1:2888,2=10.0.0.2:2888,3=10.0.0.3:2888")
	require.NoError(t, err)
	four, err := parsePeers("1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3,4=127.0.0.1:4")
	require.NoError(t, err)
	const long = "0123456789abcdef0123"
	tests := []struct {
		name   string
		config string
		cfg    ensemble.Config
		src    secretSource
		want   []string
	}{
		{"quiet standalone", "", ensemble.Config{}, secretNone, nil},
		{"quiet ensemble", "", ensemble.Config{ServerID: 1, Members: three, ClientAddr: "10.0.0.1:2281", PeerSecret: long}, secretEnv, nil},
		{"secret on command line", "", ensemble.Config{ServerID: 1, Members: three, ClientAddr: "10.0.0.1:2281", PeerSecret: long}, secretCmdLine,
			[]string{"visible to other users"}},
		{"short secret", "", ensemble.Config{ServerID: 1, Members: three, ClientAddr: "10.0.0.1:2281", PeerSecret: "abc"}, secretEnv,
			[]string{"peer secret is short"}},
		{"no secret, loopback clients", "", ensemble.Config{ServerID: 1, Members: three, ClientAddr: "127.0.0.1:2281"}, secretNone,
			[]string{"no peer secret", "clients are served on loopback only"}},
		{"even voters", "", ensemble.Config{ServerID: 1, Members: four, ClientAddr: "127.0.0.1:2281", PeerSecret: long}, secretEnv,
			[]string{"an even number of voters"}},
		{"secret without peers", "", ensemble.Config{PeerSecret: long}, secretEnv, []string{"peer secret ignored"}},
		{"readable config", loose, ensemble.Config{ServerID: 1, Members: three, ClientAddr: "10.0.0.1:2281", PeerSecret: long}, secretFile,
			[]string{"readable by other users"}},
		{"private config", tight, ensemble.Config{ServerID: 1, Members: three, ClientAddr: "10.0.0.1:2281", PeerSecret: long}, secretFile, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			logger, err := newLogger(&buf, "info", "text")
			require.NoError(t, err)
			f := &serverFlags{config: tt.config}
			f.warn(logger, tt.cfg, tt.src)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(tt.want) == 0 {
				assert.Empty(t, strings.TrimSpace(buf.String()))
				return
			}
			assert.Len(t, lines, len(tt.want), buf.String())
			for _, w := range tt.want {
				assert.Contains(t, buf.String(), w)
			}
			assert.NotContains(t, buf.String(), long)
			assert.NotContains(t, buf.String(), "from-the-file")
		})
	}
}
