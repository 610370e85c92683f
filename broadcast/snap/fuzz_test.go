package snap

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/internal/vfs"
)

func snapshotBytes(t testing.TB, zxid uint64, payload []byte) []byte {
	fsys := vfs.NewCrashable()
	s, err := Open("/s", fsys, nil)
	require.NoError(t, err)
	require.NoError(t, s.Write(zxid, body(payload)))
	f, err := fsys.Open("/s/" + fileName(zxid))
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// FuzzSnapLoad stores arbitrary bytes as snapshot 5: Load must never panic
// or allocate beyond a bound, fail with ErrCorrupt unless the file is
// exactly a valid snapshot, and then hand over exactly its payload.
func FuzzSnapLoad(f *testing.F) {
	good := snapshotBytes(f, 5, []byte("the tree at zxid five"))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:20])
	f.Add([]byte{})
	f.Add(snapshotBytes(f, 5, nil))
	f.Add(snapshotBytes(f, 6, []byte("wrong zxid")))
	flip := bytes.Clone(good)
	flip[18] ^= 1
	f.Add(flip)
	huge := bytes.Clone(good)
	copy(huge[len(huge)-8:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(huge)

	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := vfs.NewCrashable()
		require.NoError(t, fsys.MkdirAll("/s", 0o755))
		w, err := fsys.Create("/s/" + fileName(5))
		require.NoError(t, err)
		_, err = w.Write(b)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		s, err := Open("/s", fsys, nil)
		require.NoError(t, err)

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		var got []byte
		z, err := s.Load(func(zxid uint64, r io.Reader) error {
			var err error
			got, err = io.ReadAll(r)
			return err
		})
		runtime.ReadMemStats(&ms)
		require.LessOrEqual(t, ms.TotalAlloc-before, uint64(4<<20+4*len(b)), "allocation bound")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Equal(t, uint64(5), z)
		require.Equal(t, b[headerSize:len(b)-trailerSize], got)
	})
}
