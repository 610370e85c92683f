package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proc is a zabkit server running as its own process.
type proc struct {
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan error
	pidFile string
}

// startProc runs the binary with args (and env added to the environment)
// and waits for its "serving clients" line.
func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			_, _ = p.stdout.Write([]byte(sc.Text() + "\n"))
		}
	}()
	go func() {
		<-copied
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	require.Eventually(t, func() bool { return servingRe.MatchString(p.stdout.String()) }, waitFor, 10e6,
		"%v: stderr %s", args, p.stderr.String())
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		require.NoError(t, err, "stderr: %s", p.stderr.String())
	case <-time.After(2 * waitFor):
		t.Fatalf("no exit after SIGTERM; stderr: %s", p.stderr.String())
	}
}

// statusOf runs `zabkit --json status` against servers.
func statusOf(t *testing.T, servers string) (statusJSON, int) {
	t.Helper()
	r := cli(t, servers, "", "--json", "--connect-timeout", "1s", "status")
	var js statusJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &js), "stdout %q stderr %q", r.stdout, r.stderr)
	return js, r.code
}

// leaderOf returns the one peer that leads with every other answering
// peer following it, or nil.
func leaderOf(js statusJSON) *peerJSON {
	var leader *peerJSON
	for i, p := range js.Peers {
		if p.PeerStatusJSON == nil {
			continue
		}
		switch p.Role {
		case "leading":
			if leader != nil {
				return nil
			}
			leader = &js.Peers[i]
		case "following":
		default:
			return nil
		}
	}
	if leader == nil {
		return nil
	}
	for _, p := range js.Peers {
		if p.PeerStatusJSON != nil && p.Leader != *leader.ID {
			return nil
		}
	}
	return leader
}

// Three `zabkit server --id N --peers ...` processes form an ensemble;
// status finds them from one address; kill -9 of the leader (its pid from
// --pid-file) leaves two peers that elect a new leader, keep every
// acknowledged write and take new ones. Needs the ensemble driver: until it
// lands, servers given --peers run standalone and the test skips.
func TestBinaryEnsemble(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	bin := buildBinary(t)
	tmp := t.TempDir()
	ports, err := freePorts("127.0.0.1", 6)
	require.NoError(t, err)
	var specs []string
	for i := range 3 {
		specs = append(specs, fmt.Sprintf("%d=127.0.0.1:%d:%d", i+1, ports[2*i], ports[2*i+1]))
	}
	peersFlag := strings.Join(specs, ",")
	env := []string{peerSecretEnv + "=test-secret-0123456789abcdef"}

	procs := make([]*proc, 3)
	addrs := make([]string, 3)
	for i := range procs {
		pidFile := filepath.Join(tmp, "zabkit-"+strconv.Itoa(i+1)+".pid")
		procs[i] = startProc(t, bin, env, "server", "--id", strconv.Itoa(i+1), "--peers", peersFlag,
			"--client-addr", "127.0.0.1:0", "--data", filepath.Join(tmp, "data-"+strconv.Itoa(i+1)),
			"--pid-file", pidFile, "--cluster-id", "process-test", "--zab-tick", "20ms", "--log-level", "warn")
		procs[i].pidFile = pidFile
		addrs[i] = servingRe.FindStringSubmatch(procs[i].stdout.String())[1]
		assert.Contains(t, procs[i].stdout.String(), `voter in cluster "process-test" of 3 voters (1, 2, 3)`)
	}
	connect := strings.Join(addrs, ",")

	var js statusJSON
	var code int
	require.Eventually(t, func() bool {
		js, code = statusOf(t, addrs[0])
		return len(js.Peers) > 0 && js.Peers[0].PeerStatusJSON != nil
	}, waitFor, 10e6)
	if js.Peers[0].Role == "standalone" {
		t.Skip("the ensemble driver has not landed: servers with --peers run standalone")
	}
	lastJSON := func() string { b, _ := json.Marshal(js); return string(b) }
	eventually(t, func() bool {
		js, code = statusOf(t, addrs[0])
		return code == exitOK && len(js.Peers) == 3 && leaderOf(js) != nil
	}, 2*waitFor, lastJSON)
	leader := leaderOf(js)
	oldEpoch := leader.Epoch

	for i := range 20 {
		ok(t, connect, "create", fmt.Sprintf("/k%02d", i), "v")
	}

	// kill -9 the leader, found by its pid file.
	l := int(*leader.ID) - 1
	b, err := os.ReadFile(procs[l].pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	assert.Equal(t, procs[l].cmd.Process.Pid, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	<-procs[l].exited

	eventually(t, func() bool {
		js, code = statusOf(t, connect)
		nl := leaderOf(js)
		return code == exitError && len(js.Unanswered) == 1 && nl != nil && *nl.ID != *leader.ID && nl.Epoch > oldEpoch
	}, 2*waitFor, lastJSON)
	assert.Equal(t, addrs[l], js.Unanswered[0].Address)

	// The survivors serve writes and kept every acknowledged one.
	ok(t, connect, "create", "/after", "x")
	out := ok(t, connect, "ls", "/")
	for i := range 20 {
		assert.Contains(t, out, fmt.Sprintf("k%02d", i))
	}

	for i, p := range procs {
		if i == l {
			assert.FileExists(t, p.pidFile, "kill -9 leaves the pid file")
			continue
		}
		p.stop(t)
		assert.NoFileExists(t, p.pidFile, "a clean stop removes it")
		assert.NotContains(t, p.stdout.String()+p.stderr.String(), "test-secret-0123456789abcdef")
	}
}
