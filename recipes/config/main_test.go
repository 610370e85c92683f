package config_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble/enstest"
)

// shared is the ensemble the Examples and the fault-free tests share;
// servers is its connect string.
var (
	shared  *enstest.Ensemble
	servers []string
)

func TestMain(m *testing.M) {
	e, stop, err := enstest.StartMain(enstest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, servers = e, e.Servers()
	code := m.Run()
	stop()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// scale returns short for the default run and long with ZABKIT_LONG=1.
func scale(short, long int) int {
	if os.Getenv("ZABKIT_LONG") == "1" {
		return long
	}
	return short
}
