package naming_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble/enstest"
)

// shared is the ensemble the Examples and the fault-free tests use;
// servers is its connect string.
var (
	shared  *enstest.Ensemble
	servers []string
)

func TestMain(m *testing.M) {
	e, stop, err := enstest.StartMain(enstest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "naming: start ensemble:", err)
		os.Exit(1)
	}
	shared, servers = e, e.Servers()
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "naming: goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// long reports whether ZABKIT_LONG=1 asks for the longer runs.
func long() bool { return os.Getenv("ZABKIT_LONG") == "1" }
