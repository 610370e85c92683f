//go:build unix

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binPath is the zabkit binary TestMain built; skipReason says why there is
// none (no go tool), buildErr why the build failed.
var (
	binPath    string
	skipReason string
	buildErr   error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zabkit-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	buildBinary(dir)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// goTool finds the go command of the toolchain running the tests: go test
// puts its GOROOT/bin first in PATH (Go 1.19+); $GOROOT/bin/go is the
// fallback. It returns "" when there is none.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// buildBinary builds cmd/zabkit into dir once for the whole package;
// $ZABKIT_E2E_BIN names a binary to use instead (to rerun the tests many
// times against one build).
func buildBinary(dir string) {
	if p := os.Getenv("ZABKIT_E2E_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			buildErr = fmt.Errorf("ZABKIT_E2E_BIN: %w", err)
			return
		}
		binPath = p
		return
	}
	gobin := goTool()
	if gobin == "" {
		skipReason = "no go tool in PATH or $GOROOT/bin: cannot build the zabkit binary the real-process tests run"
		return
	}
	out := filepath.Join(dir, "zabkit")
	args := []string{"build", "-o", out}
	if os.Getenv("ZABKIT_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command(gobin, append(args, "github.com/zabkit/zabkit/cmd/zabkit")...)
	began := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build of cmd/zabkit: %w\n%s", err, b)
		return
	}
	binPath = out
	fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", out, time.Since(began).Round(time.Millisecond))
}

// needBinary skips t when there is no go tool and fails it when the build
// failed; it returns the binary's path.
func needBinary(t *testing.T) string {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// long reports whether the heavier variants were asked for (ZABKIT_LONG=1).
func long() bool { return os.Getenv("ZABKIT_LONG") == "1" }

// testRand returns the test's seeded random source and prints the seed:
// $ZABKIT_SEED replays one.
func testRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ZABKIT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ZABKIT_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (ZABKIT_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
