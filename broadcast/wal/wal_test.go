package wal

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/internal/vfs"
)

// eachFS runs fn on the real disk and on a CrashFS.
func eachFS(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Run("disk", func(t *testing.T) {
		fn(t, Config{Dir: filepath.Join(t.TempDir(), "wal"), FS: vfs.OS(), SegmentBytes: 4096, Logger: testLogger(t)})
	})
	t.Run("mem", func(t *testing.T) {
		fn(t, Config{Dir: "/data/wal", FS: vfs.NewCrashable(), SegmentBytes: 4096, Logger: testLogger(t)})
	})
}

func TestAppendSyncReopen(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		assert.Zero(t, l.LastZxid())
		assert.Empty(t, all(t, l))
		require.NoError(t, l.Sync(), "sync of nothing")

		require.NoError(t, l.Append(rec(1, "a"), rec(2, ""), rec(5, "ccc")))
		assert.Equal(t, uint64(5), l.LastZxid())
		assert.Zero(t, l.SyncedZxid())
		assert.Empty(t, all(t, l), "replay shows durable records only")
		require.NoError(t, l.Sync())
		assert.Equal(t, uint64(5), l.SyncedZxid())
		got := all(t, l)
		assert.Equal(t, []Record{rec(1, "a"), rec(2, ""), rec(5, "ccc")}, got)
		require.NoError(t, l.Close())
		assert.ErrorIs(t, l.Close(), ErrClosed)
		assert.ErrorIs(t, l.Append(rec(6, "x")), ErrClosed)
		assert.ErrorIs(t, l.Replay(0, func(Record) error { return nil }), ErrClosed)

		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, uint64(5), l.LastZxid())
		assert.Equal(t, got, all(t, l))
		require.NoError(t, l.Append(rec(6, "d")))
		require.NoError(t, l.Close(), "close syncs what is buffered")
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, []uint64{1, 2, 5, 6}, zxids(all(t, l)))
		require.NoError(t, l.Close())
	})
}

func TestRollSegmentsAndReplayAfter(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		for z := uint64(1); z <= 300; z += 10 {
			appendN(t, l, z, z+9) // 10 records per batch, ~27 bytes each
		}
		big := make([]byte, 9000) // bigger than a whole segment
		require.NoError(t, l.Append(Record{Zxid: 301, Data: big}, rec(302, "after big")))
		require.NoError(t, l.Sync())
		segs := segFiles(t, cfg.FS, cfg.Dir)
		assert.Greater(t, len(segs), 3)
		assert.Equal(t, segName(1), segs[0])

		check := func(l *Log) {
			assert.Equal(t, seq(1, 302), zxids(all(t, l)))
			var got []uint64
			require.NoError(t, l.Replay(150, func(r Record) error {
				got = append(got, r.Zxid)
				if r.Zxid <= 300 {
					assert.Equal(t, payload(r.Zxid), r.Data)
				}
				return nil
			}))
			assert.Equal(t, seq(151, 302), got)
			stop := errors.New("stop")
			n := 0
			err := l.Replay(0, func(Record) error { n++; return stop })
			assert.Equal(t, stop, err, "fn's error comes back unchanged")
			assert.Equal(t, 1, n)
			require.NoError(t, l.Replay(302, func(Record) error { t.Fatal("nothing after 302"); return nil }))
		}
		check(l)
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		check(l)
		appendN(t, l, 303, 303)
		require.NoError(t, l.Close())
	})
}

func TestAppendRejects(t *testing.T) {
	cfg := Config{Dir: "/w", FS: vfs.NewCrashable(), MaxRecordBytes: 10, SegmentBytes: 4096}
	l, err := Open(cfg)
	require.NoError(t, err)
	defer l.Close()
	assert.ErrorIs(t, l.Append(rec(0, "zero")), ErrOrder)
	require.NoError(t, l.Append(rec(5, "a")))
	assert.ErrorIs(t, l.Append(rec(5, "dup")), ErrOrder)
	assert.ErrorIs(t, l.Append(rec(7, "x"), rec(6, "y")), ErrOrder)
	assert.ErrorIs(t, l.Append(rec(8, "x"), rec(9, "12345678901")), ErrTooLarge)
	assert.Equal(t, uint64(5), l.LastZxid(), "a rejected call appends nothing")
	require.NoError(t, l.Append(rec(6, "b")))
	require.NoError(t, l.Sync())
	assert.Equal(t, []uint64{5, 6}, zxids(all(t, l)))
	require.NoError(t, l.Append(), "appending nothing is fine")
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Dir: "/w", SegmentBytes: 10},
		{Dir: "/w", MaxRecordBytes: MaxRecordLimit + 1},
		{Dir: "/w", MaxRecordBytes: -1},
	} {
		cfg.FS = vfs.NewCrashable()
		_, err := Open(cfg)
		assert.ErrorIs(t, err, ErrBadConfig)
	}
}

func TestTruncateAfter(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		cfg.SegmentBytes = 512
		l, err := Open(cfg)
		require.NoError(t, err)
		appendN(t, l, 1, 100)
		nseg := len(segFiles(t, cfg.FS, cfg.Dir))
		require.Greater(t, nseg, 4)

		require.NoError(t, l.TruncateAfter(100), "nothing above 100")
		require.NoError(t, l.TruncateAfter(1000))
		assert.Equal(t, seq(1, 100), zxids(all(t, l)))

		require.NoError(t, l.Append(rec(101, "pending"), rec(102, "pending")))
		require.NoError(t, l.TruncateAfter(101), "cuts the append buffer too")
		assert.Equal(t, uint64(101), l.LastZxid())
		assert.Equal(t, seq(1, 101), zxids(all(t, l)))

		require.NoError(t, l.TruncateAfter(57)) // in the middle of a segment
		assert.Equal(t, uint64(57), l.LastZxid())
		assert.Equal(t, uint64(57), l.SyncedZxid())
		assert.Equal(t, seq(1, 57), zxids(all(t, l)))
		assert.ErrorIs(t, l.Append(rec(57, "again")), ErrOrder)
		appendN(t, l, 58, 70) // appendable again, the new 58.. replace the old
		require.NoError(t, l.Close())

		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 70), zxids(all(t, l)))
		// cut exactly at a segment's last record
		segs := segFiles(t, cfg.FS, cfg.Dir)
		second, _ := parseSegName(segs[1])
		require.NoError(t, l.TruncateAfter(second-1))
		assert.Equal(t, seq(1, second-1), zxids(all(t, l)))
		assert.Len(t, segFiles(t, cfg.FS, cfg.Dir), 1)
		appendN(t, l, second, second+30)
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, second+30), zxids(all(t, l)))

		require.NoError(t, l.TruncateAfter(0)) // everything
		assert.Zero(t, l.LastZxid())
		assert.Empty(t, all(t, l))
		assert.Empty(t, segFiles(t, cfg.FS, cfg.Dir))
		appendN(t, l, 1000, 1005)
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1000, 1005), zxids(all(t, l)))
		require.NoError(t, l.Close())
	})
}

func TestPurgeThrough(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		cfg.SegmentBytes = 512
		l, err := Open(cfg)
		require.NoError(t, err)
		appendN(t, l, 1, 100)
		segs := segFiles(t, cfg.FS, cfg.Dir)
		second, _ := parseSegName(segs[1])
		third, _ := parseSegName(segs[2])

		require.NoError(t, l.PurgeThrough(second-2), "the first segment still holds second-1")
		assert.Equal(t, segs, segFiles(t, cfg.FS, cfg.Dir))
		require.NoError(t, l.PurgeThrough(third-1))
		assert.Equal(t, segs[2:], segFiles(t, cfg.FS, cfg.Dir))
		assert.Equal(t, seq(third, 100), zxids(all(t, l)))
		var got []uint64
		require.NoError(t, l.Replay(5, func(r Record) error { got = append(got, r.Zxid); return nil }))
		assert.Equal(t, seq(third, 100), got)

		require.NoError(t, l.PurgeThrough(1<<60), "never the last segment")
		left := segFiles(t, cfg.FS, cfg.Dir)
		assert.Len(t, left, 1)
		assert.Equal(t, uint64(100), l.LastZxid())
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, uint64(100), l.LastZxid())
		first, _ := parseSegName(left[0])
		assert.Equal(t, seq(first, 100), zxids(all(t, l)))
		appendN(t, l, 101, 150)
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(first, 150), zxids(all(t, l)))
		require.NoError(t, l.Close())
	})
}

func TestConcurrentAppendSyncReplay(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		var (
			mu   sync.Mutex // orders zxid assignment with Append, as a leader would
			next uint64
			wg   sync.WaitGroup
		)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					mu.Lock()
					next++
					err := l.Append(Record{Zxid: next, Data: payload(next)})
					mu.Unlock()
					if !assert.NoError(t, err) {
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		syncErr := make(chan error, 1)
		go func() {
			for {
				select {
				case <-done:
					syncErr <- l.Sync()
					return
				default:
				}
				if err := l.Sync(); err != nil {
					syncErr <- err
					return
				}
				prev := uint64(0)
				if err := l.Replay(0, func(r Record) error {
					if r.Zxid != prev+1 {
						return errors.New("replay has a gap")
					}
					prev = r.Zxid
					return nil
				}); err != nil {
					syncErr <- err
					return
				}
			}
		}()
		wg.Wait()
		close(done)
		require.NoError(t, <-syncErr)
		assert.Equal(t, seq(1, 800), zxids(all(t, l)))
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 800), zxids(all(t, l)))
		require.NoError(t, l.Close())
	})
}

func TestOpenIgnoresOtherFiles(t *testing.T) {
	fsys := vfs.NewCrashable()
	require.NoError(t, fsys.MkdirAll("/w", 0o755))
	writeFile(t, fsys, "/w/README", []byte("hello"))
	writeFile(t, fsys, "/w/log.0000000000000001.tmp", []byte("x"))
	writeFile(t, fsys, "/w/log.000000000000000G", []byte("x"))
	writeFile(t, fsys, "/w/log.00000000000000AA", []byte("x")) // not canonical (upper case)
	l, err := Open(Config{Dir: "/w", FS: fsys, SegmentBytes: 4096})
	require.NoError(t, err)
	appendN(t, l, 1, 3)
	require.NoError(t, l.Close())
	_, err = fsys.Stat("/w/README")
	assert.NoError(t, err)
}

func TestOpenMissingParentCreated(t *testing.T) {
	fsys := vfs.NewCrashable()
	l, err := Open(Config{Dir: "/a/b/c", FS: fsys, SegmentBytes: 4096})
	require.NoError(t, err)
	appendN(t, l, 1, 2)
	fsys.Crash() // the new directories were synced into their parents
	l, err = Open(Config{Dir: "/a/b/c", FS: fsys, SegmentBytes: 4096})
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2}, zxids(all(t, l)))
	require.NoError(t, l.Close())
	_, err = Open(Config{Dir: "/a/b/c/log.0000000000000001/x", FS: fsys})
	assert.Error(t, err, "a segment file where a directory should be")
}
