package wal

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/internal/vfs"
)

func memCfg(t *testing.T, fsys *vfs.CrashFS, seg int64) Config {
	return Config{Dir: "/data/wal", FS: fsys, SegmentBytes: seg, Logger: testLogger(t)}
}

func lastSeg(t *testing.T, cfg Config) string {
	segs := segFiles(t, cfg.FS, cfg.Dir)
	require.NotEmpty(t, segs)
	return filepath.Join(cfg.Dir, segs[len(segs)-1])
}

func TestCrashLosesOnlyUnsynced(t *testing.T) {
	fsys := vfs.NewCrashable()
	cfg := memCfg(t, fsys, 1024)
	l, err := Open(cfg)
	require.NoError(t, err)
	appendN(t, l, 1, 40) // several segments
	require.NoError(t, l.Append(rec(41, "never synced")))
	fsys.Crash()
	l, err = Open(cfg)
	require.NoError(t, err)
	assert.Equal(t, seq(1, 40), zxids(all(t, l)))
	assert.Equal(t, uint64(40), l.LastZxid())
	appendN(t, l, 41, 45)
	fsys.Crash()
	l, err = Open(cfg)
	require.NoError(t, err)
	assert.Equal(t, seq(1, 45), zxids(all(t, l)))
	require.NoError(t, l.Close())
}

func TestTornTailCut(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		appendN(t, l, 1, 10)
		require.NoError(t, l.Close())
		name := lastSeg(t, cfg)
		b := readFile(t, cfg.FS, name)
		end := recordOffset(t, b, 10) + recHeaderSize + int64(len(payload(10)))

		// a record of 11 whose data never made it
		torn := appendRecord(nil, 11, []byte("the eleventh record"))
		patch(t, cfg.FS, name, end, torn[:len(torn)-5])
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 10), zxids(all(t, l)))
		appendN(t, l, 11, 12)
		require.NoError(t, l.Close())
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 12), zxids(all(t, l)))
		require.NoError(t, l.Close())

		// a whole record with a wrong checksum, then garbage that is no record
		b = readFile(t, cfg.FS, name)
		end = recordOffset(t, b, 12) + recHeaderSize + int64(len(payload(12)))
		bad := appendRecord(nil, 13, []byte("thirteen"))
		bad[len(bad)-1] ^= 0xff
		bad = append(bad, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3)
		patch(t, cfg.FS, name, end, bad)
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 12), zxids(all(t, l)))
		require.NoError(t, l.Close())
		b = readFile(t, cfg.FS, name)
		assert.True(t, allZero(b[end:]), "the cut tail is zeroed on disk")
	})
}

func TestZeroFilledTail(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		appendN(t, l, 1, 10)
		require.NoError(t, l.Close())
		name := lastSeg(t, cfg)
		b := readFile(t, cfg.FS, name)
		assert.Equal(t, cfg.SegmentBytes, int64(len(b)), "preallocated")
		// the last record's pages never reached the disk: its tail is zeros
		off := recordOffset(t, b, 10)
		patch(t, cfg.FS, name, off+6, make([]byte, 20))
		l, err = Open(cfg)
		require.NoError(t, err)
		assert.Equal(t, seq(1, 9), zxids(all(t, l)))
		appendN(t, l, 10, 11)
		require.NoError(t, l.Close())
	})
}

func TestCorruptRecordInMiddle(t *testing.T) {
	eachFS(t, func(t *testing.T, cfg Config) {
		l, err := Open(cfg)
		require.NoError(t, err)
		appendN(t, l, 1, 10)
		require.NoError(t, l.Close())
		name := lastSeg(t, cfg)
		b := readFile(t, cfg.FS, name)
		off := recordOffset(t, b, 5)
		patch(t, cfg.FS, name, off+recHeaderSize+1, []byte{b[off+recHeaderSize+1] ^ 0x01})
		_, err = Open(cfg)
		require.ErrorIs(t, err, ErrCorrupt)
		var ce *CorruptError
		require.True(t, errors.As(err, &ce))
		assert.Equal(t, name, ce.File)
		assert.Equal(t, off, ce.Offset)
		assert.Contains(t, err.Error(), name)
		t.Log(err)

		// a zeroed record header hides the rest: still refused
		patch(t, cfg.FS, name, off, make([]byte, recHeaderSize))
		_, err = Open(cfg)
		require.ErrorIs(t, err, ErrCorrupt)
		t.Log(err)
	})
}

func TestCorruptNonLastSegment(t *testing.T) {
	fsys := vfs.NewCrashable()
	cfg := memCfg(t, fsys, 512)
	l, err := Open(cfg)
	require.NoError(t, err)
	appendN(t, l, 1, 60)
	require.NoError(t, l.Close())
	segs := segFiles(t, fsys, cfg.Dir)
	require.Greater(t, len(segs), 2)
	first := filepath.Join(cfg.Dir, segs[0])
	next, _ := parseSegName(segs[1])
	b := readFile(t, fsys, first)
	off := recordOffset(t, b, next-1) // its very last record: nothing valid follows in this file

	t.Run("checksum", func(t *testing.T) {
		s := fsys.Survivor(nil)
		patch(t, s, first, off+recHeaderSize, []byte{0xff})
		_, err := Open(memCfg(t, s, 512))
		require.ErrorIs(t, err, ErrCorrupt)
		t.Log(err)
	})
	t.Run("zeroed", func(t *testing.T) {
		s := fsys.Survivor(nil)
		patch(t, s, first, off, make([]byte, recHeaderSize))
		_, err := Open(memCfg(t, s, 512))
		require.ErrorIs(t, err, ErrCorrupt, "the chain to the next segment breaks")
		t.Log(err)
	})
	t.Run("header", func(t *testing.T) {
		s := fsys.Survivor(nil)
		patch(t, s, first, 9, []byte{0x7f})
		_, err := Open(memCfg(t, s, 512))
		require.ErrorIs(t, err, ErrCorrupt)
		t.Log(err)
	})
	t.Run("missing middle segment", func(t *testing.T) {
		s := fsys.Survivor(nil)
		require.NoError(t, s.Remove(filepath.Join(cfg.Dir, segs[1])))
		_, err := Open(memCfg(t, s, 512))
		require.ErrorIs(t, err, ErrCorrupt)
		t.Log(err)
	})
	t.Run("out of order", func(t *testing.T) {
		s := fsys.Survivor(nil)
		// rewrite record next-1 with a valid checksum but zxid 1
		r := appendRecord(nil, 1, payload(next-1))
		patch(t, s, first, off, r)
		_, err := Open(memCfg(t, s, 512))
		require.ErrorIs(t, err, ErrCorrupt)
		t.Log(err)
	})
}

func TestTornNewSegmentRemoved(t *testing.T) {
	fsys := vfs.NewCrashable()
	cfg := memCfg(t, fsys, 512)
	l, err := Open(cfg)
	require.NoError(t, err)
	appendN(t, l, 1, 10)
	require.NoError(t, l.Close())
	// a segment created, preallocated, its directory entry durable, nothing else
	name := filepath.Join(cfg.Dir, segName(11))
	writeFile(t, fsys, name, make([]byte, 512))
	require.NoError(t, fsys.SyncDir(cfg.Dir))
	l, err = Open(cfg)
	require.NoError(t, err)
	assert.Equal(t, seq(1, 10), zxids(all(t, l)))
	_, err = fsys.Stat(name)
	assert.Error(t, err, "removed")
	appendN(t, l, 11, 40)
	require.NoError(t, l.Close())

	// a torn header, and a valid record after it: refuse
	name = lastSeg(t, cfg)
	patch(t, fsys, name, 0, []byte("ZW\x00\x00"))
	_, err = Open(cfg)
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestFsyncFailureIsSticky(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpSync, vfs.OpWrite, vfs.OpSyncDir, vfs.OpCreate, vfs.OpPreallocate} {
		t.Run(op.String(), func(t *testing.T) {
			fsys := vfs.NewCrashable()
			cfg := memCfg(t, fsys, 256)
			l, err := Open(cfg)
			require.NoError(t, err)
			appendN(t, l, 1, 3)
			fsys.Inject(vfs.Fault{Op: op, Count: 1}) // fails once only
			var syncErr error
			for z := uint64(4); z < 40 && syncErr == nil; z++ {
				require.NoError(t, l.Append(rec(z, "x")))
				syncErr = l.Sync()
			}
			require.ErrorIs(t, syncErr, ErrFailed)
			require.ErrorIs(t, syncErr, vfs.ErrInjected, "the cause is wrapped")
			// the fault is spent, but the Log must not believe a retry
			assert.ErrorIs(t, l.Sync(), ErrFailed)
			assert.ErrorIs(t, l.Append(rec(100, "y")), ErrFailed)
			assert.ErrorIs(t, l.TruncateAfter(1), ErrFailed)
			assert.NoError(t, l.Close())

			fsys.Crash()
			l, err = Open(cfg)
			require.NoError(t, err)
			got := zxids(all(t, l))
			require.GreaterOrEqual(t, len(got), 3)
			assert.Equal(t, seq(1, uint64(len(got))), got)
			appendN(t, l, uint64(len(got))+1, uint64(len(got))+3)
			require.NoError(t, l.Close())
		})
	}
}

func TestRenameOfSegmentNeedsSyncDir(t *testing.T) {
	// A new segment whose directory entry was never synced vanishes with
	// everything in it, so a Sync that rolls must sync the directory.
	fsys := vfs.NewCrashable()
	cfg := memCfg(t, fsys, 256)
	l, err := Open(cfg)
	require.NoError(t, err)
	appendN(t, l, 1, 5)
	n := len(segFiles(t, fsys, cfg.Dir))
	fsys.Inject(vfs.Fault{Op: vfs.OpSyncDir, Count: 1})
	var z uint64 = 6
	for ; len(segFiles(t, fsys, cfg.Dir)) == n; z++ {
		require.NoError(t, l.Append(rec(z, "fill")))
		if err := l.Sync(); err != nil {
			require.ErrorIs(t, err, ErrFailed, "the roll's SyncDir failed")
			break
		}
	}
	fsys.Crash()
	l, err = Open(cfg)
	require.NoError(t, err)
	assert.Len(t, segFiles(t, fsys, cfg.Dir), n, "the new segment was never durable")
	require.NoError(t, l.Close())
}

func TestFindValidBudget(t *testing.T) {
	// every offset claims a long record with a high zxid: the scan must stop
	b := make([]byte, 1<<20)
	for i := 0; i+16 <= len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], 0x000f0000)
	}
	_, _, found, _, err := findValid(bytesReaderAt(b), 0, int64(len(b)), 0)
	assert.False(t, found)
	assert.ErrorIs(t, err, errUnverifiable)
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("eof")
	}
	return copy(p, b[off:]), nil
}
