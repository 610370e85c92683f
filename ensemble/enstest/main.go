package enstest

import (
	"fmt"
	"os"
	"sync"
)

// StartMain starts an ensemble outside a test, for a package's TestMain
// whose Examples share one ensemble. It returns the ensemble and a stop
// func that stops it and removes its data; call stop before os.Exit. It
// returns an error if the ensemble does not start.
func StartMain(opts Options) (e *Ensemble, stop func(), err error) {
	m := &mainT{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(mainFail); !ok {
				panic(r)
			}
			m.cleanup()
			e, stop, err = nil, nil, fmt.Errorf("enstest: %s", m.msg)
		}
	}()
	e = Start(m, opts)
	return e, m.cleanup, nil
}

// mainFail is what mainT.FailNow panics with; StartMain recovers it.
type mainFail struct{}

// mainT implements T outside a test: failures before StartMain returns
// abort the start; after it, they are printed to stderr.
type mainT struct {
	mu       sync.Mutex
	msg      string
	dirs     []string
	cleanups []func()
}

func (m *mainT) Helper() {}

func (m *mainT) Errorf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msg += fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (m *mainT) FailNow() { panic(mainFail{}) }

func (m *mainT) TempDir() string {
	d, err := os.MkdirTemp("", "enstest-")
	if err != nil {
		m.Errorf("temp dir: %v", err)
		m.FailNow()
	}
	m.mu.Lock()
	m.dirs = append(m.dirs, d)
	m.mu.Unlock()
	return d
}

func (m *mainT) Cleanup(f func()) {
	m.mu.Lock()
	m.cleanups = append(m.cleanups, f)
	m.mu.Unlock()
}

// cleanup runs the cleanups, last first, then removes the temp dirs.
func (m *mainT) cleanup() {
	m.mu.Lock()
	fs, dirs := m.cleanups, m.dirs
	m.cleanups, m.dirs = nil, nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}
