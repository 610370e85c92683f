package wal

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/internal/vfs"
)

var seedFlag = flag.Uint64("seed", 0, "replay one seed of the randomized crash tests (also ZABKIT_SEED)")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seeds returns the seeds a randomized test runs: the one given by -seed or
// ZABKIT_SEED, else 1..n (n*10 with ZABKIT_LONG=1).
func seeds(t *testing.T, n int) []uint64 {
	t.Helper()
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if s := os.Getenv("ZABKIT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "ZABKIT_SEED")
		return []uint64{v}
	}
	if os.Getenv("ZABKIT_LONG") == "1" {
		n *= 10
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// testLogger sends log lines to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func rec(z uint64, s string) Record { return Record{Zxid: z, Data: []byte(s)} }

func payload(z uint64) []byte { return []byte(fmt.Sprintf("txn-%d", z)) }

// appendN appends and syncs records from..to (inclusive), one per zxid.
func appendN(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	for z := from; z <= to; z++ {
		require.NoError(t, l.Append(Record{Zxid: z, Data: payload(z)}))
	}
	require.NoError(t, l.Sync())
}

// all replays the whole log, copying the data.
func all(t *testing.T, l *Log) []Record {
	t.Helper()
	var out []Record
	require.NoError(t, l.Replay(0, func(r Record) error {
		out = append(out, Record{Zxid: r.Zxid, Data: bytes.Clone(r.Data)})
		return nil
	}))
	return out
}

func zxids(rs []Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Zxid
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for z := from; z <= to; z++ {
		out = append(out, z)
	}
	return out
}

func readFile(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func writeFile(t *testing.T, fsys vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// patch overwrites bytes of a file in place and syncs.
func patch(t *testing.T, fsys vfs.FS, name string, off int64, b []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// segFiles lists the segment file names in dir.
func segFiles(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if _, ok := parseSegName(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// recordOffset returns the offset of the record with zxid z in a segment's
// bytes, walking the format.
func recordOffset(t *testing.T, b []byte, z uint64) int64 {
	t.Helper()
	rr := newRecReader(bytes.NewReader(b), headerSize, int64(len(b)), nil)
	for {
		off := rr.off
		got, _, st, _, err := rr.next()
		require.NoError(t, err)
		require.Equal(t, stOK, st, "record %#x not found", z)
		if got == z {
			return off
		}
	}
}
