package wal

import (
	"encoding/binary"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/internal/vfs"
)

// segmentBytes builds a real segment with the writer: records first..last.
func segmentBytes(t testing.TB, first, last uint64, seg int64) []byte {
	fsys := vfs.NewCrashable()
	l, err := Open(Config{Dir: "/s", FS: fsys, SegmentBytes: seg})
	require.NoError(t, err)
	for z := first; z <= last; z++ {
		require.NoError(t, l.Append(Record{Zxid: z, Data: payload(z)}))
	}
	require.NoError(t, l.Sync())
	require.NoError(t, l.Close())
	f, err := fsys.Open(filepath.Join("/s", segName(first)))
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

// FuzzWALOpen writes arbitrary bytes as a segment (the only one, or the one
// after a valid segment, by the first byte) and opens the log: Open must
// never panic, allocate beyond a bound set by the input size, or fail with
// anything but ErrCorrupt; what it accepts must replay in order and take
// appends.
func FuzzWALOpen(f *testing.F) {
	good := segmentBytes(f, 1, 8, 512)
	f.Add(append([]byte{0}, good...))
	f.Add(append([]byte{0}, good[:300]...))
	f.Add(append([]byte{0}, good[:headerSize]...))
	f.Add([]byte{0})
	f.Add(make([]byte, 600))
	flip := append([]byte{0}, good...)
	flip[1+headerSize+20] ^= 1
	f.Add(flip)
	huge := append([]byte{0}, good[:headerSize]...)
	huge = binary.BigEndian.AppendUint32(huge, 0xffffffff)
	huge = append(huge, make([]byte, 40)...)
	f.Add(huge)
	second := segmentBytes(f, 4, 9, 512)
	f.Add(append([]byte{1}, second...))
	f.Add(append([]byte{1}, second[:100]...))

	prefix := segmentBytes(f, 1, 3, 512)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		fsys := vfs.NewCrashable()
		require.NoError(t, fsys.MkdirAll("/w", 0o755))
		name := segName(1)
		if b[0]&1 == 1 {
			writeFile(t, fsys, "/w/"+segName(1), prefix)
			name = segName(4)
		}
		writeFile(t, fsys, "/w/"+name, b[1:])

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		l, err := Open(Config{Dir: "/w", FS: fsys, SegmentBytes: 512})
		runtime.ReadMemStats(&ms)
		require.LessOrEqual(t, ms.TotalAlloc-before, uint64(4<<20+16*len(b)), "allocation bound")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		recs := all(t, l)
		for i := 1; i < len(recs); i++ {
			require.Greater(t, recs[i].Zxid, recs[i-1].Zxid)
		}
		last := l.LastZxid()
		if len(recs) > 0 {
			require.Equal(t, recs[len(recs)-1].Zxid, last)
		}
		if last == ^uint64(0) {
			require.NoError(t, l.Close())
			return
		}
		require.NoError(t, l.Append(Record{Zxid: last + 1, Data: []byte("next")}))
		require.NoError(t, l.Close())
		l, err = Open(Config{Dir: "/w", FS: fsys, SegmentBytes: 512})
		require.NoError(t, err, "reopening what Open accepted")
		again := all(t, l)
		require.Equal(t, len(recs)+1, len(again))
		require.Equal(t, last+1, again[len(again)-1].Zxid)
		require.NoError(t, l.Close())
	})
}
