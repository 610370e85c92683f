package barrier_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble/enstest"
)

// servers is the connect string of the ensemble the Examples share.
var servers []string

func TestMain(m *testing.M) {
	e, stop, err := enstest.StartMain(enstest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start ensemble:", err)
		os.Exit(1)
	}
	servers = e.Servers()
	code := m.Run()
	stop()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
