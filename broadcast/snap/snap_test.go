package snap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/internal/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func eachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("disk", func(t *testing.T) { fn(t, vfs.OS(), filepath.Join(t.TempDir(), "snap")) })
	t.Run("mem", func(t *testing.T) { fn(t, vfs.NewCrashable(), "/data/snap") })
}

func body(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

func content(z uint64) []byte { return []byte(fmt.Sprintf("state at %#x", z)) }

// load returns the zxid and payload Load picks.
func load(t *testing.T, s *Store) (uint64, []byte, error) {
	t.Helper()
	var got []byte
	z, err := s.Load(func(zxid uint64, r io.Reader) error {
		b, err := io.ReadAll(r)
		got = b
		return err
	})
	return z, got, err
}

func corruptByte(t *testing.T, fsys vfs.FS, name string, off int64) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	require.NoError(t, err)
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

func TestWriteLoadRetain(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s, err := Open(dir, fsys, nil)
		require.NoError(t, err)
		_, _, err = load(t, s)
		require.ErrorIs(t, err, ErrNoSnapshot)

		for _, z := range []uint64{0x100000005, 0x100000009, 0x200000001} {
			require.NoError(t, s.Write(z, body(content(z))))
		}
		zs, err := s.List()
		require.NoError(t, err)
		assert.Equal(t, []uint64{0x100000005, 0x100000009, 0x200000001}, zs)
		z, got, err := load(t, s)
		require.NoError(t, err)
		assert.Equal(t, uint64(0x200000001), z)
		assert.Equal(t, content(z), got)

		require.NoError(t, s.Write(0x200000001, body([]byte("replaced"))))
		_, got, err = load(t, s)
		require.NoError(t, err)
		assert.Equal(t, []byte("replaced"), got)

		require.ErrorIs(t, s.Retain(0), ErrBadArgument)
		require.NoError(t, s.Retain(2))
		zs, _ = s.List()
		assert.Equal(t, []uint64{0x100000009, 0x200000001}, zs)
		require.NoError(t, s.Retain(5))

		s2, err := Open(dir, fsys, nil)
		require.NoError(t, err)
		z, _, err = load(t, s2)
		require.NoError(t, err)
		assert.Equal(t, uint64(0x200000001), z)
	})
}

func TestLargeAndEmptyPayload(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s, err := Open(dir, fsys, nil)
		require.NoError(t, err)
		require.NoError(t, s.Write(1, body(nil)))
		_, got, err := load(t, s)
		require.NoError(t, err)
		assert.Empty(t, got)

		rng := rand.New(rand.NewPCG(1, 2))
		big := make([]byte, 3<<20+17)
		for i := range big {
			big[i] = byte(rng.Uint32())
		}
		require.NoError(t, s.Write(2, func(w io.Writer) error {
			for off := 0; off < len(big); off += 1000 { // many small writes
				if _, err := w.Write(big[off:min(off+1000, len(big))]); err != nil {
					return err
				}
			}
			return nil
		}))
		z, got, err := load(t, s)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), z)
		assert.True(t, bytes.Equal(big, got))
	})
}

func TestOpenRemovesLeftoverTemp(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s, err := Open(dir, fsys, nil)
		require.NoError(t, err)
		require.NoError(t, s.Write(5, body(content(5))))
		tmp := filepath.Join(dir, fileName(9)+tmpSuffix)
		f, err := fsys.Create(tmp)
		require.NoError(t, err)
		_, _ = f.Write([]byte("half a snapshot"))
		require.NoError(t, f.Close())
		other := filepath.Join(dir, "notes.txt")
		f, err = fsys.Create(other)
		require.NoError(t, err)
		require.NoError(t, f.Close())

		s, err = Open(dir, fsys, nil)
		require.NoError(t, err)
		_, err = fsys.Stat(tmp)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = fsys.Stat(other)
		assert.NoError(t, err, "other files are left alone")
		z, _, err := load(t, s)
		require.NoError(t, err)
		assert.Equal(t, uint64(5), z)
	})
}

func TestCorruptNewestFallsBack(t *testing.T) {
	cases := map[string]func(t *testing.T, fsys vfs.FS, name string){
		"payload bit": func(t *testing.T, fsys vfs.FS, name string) { corruptByte(t, fsys, name, headerSize+3) },
		"header zxid": func(t *testing.T, fsys vfs.FS, name string) { corruptByte(t, fsys, name, 12) },
		"magic":       func(t *testing.T, fsys vfs.FS, name string) { corruptByte(t, fsys, name, 0) },
		"version":     func(t *testing.T, fsys vfs.FS, name string) { corruptByte(t, fsys, name, 4) },
		"trailer crc": func(t *testing.T, fsys vfs.FS, name string) {
			st, err := fsys.Stat(name)
			require.NoError(t, err)
			corruptByte(t, fsys, name, st.Size()-trailerSize)
		},
		"cut short": func(t *testing.T, fsys vfs.FS, name string) {
			f, err := fsys.OpenFile(name, os.O_RDWR, 0)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(headerSize+4))
			require.NoError(t, f.Close())
		},
		"grown": func(t *testing.T, fsys vfs.FS, name string) {
			f, err := fsys.OpenFile(name, os.O_RDWR, 0)
			require.NoError(t, err)
			require.NoError(t, f.Preallocate(4096))
			require.NoError(t, f.Close())
		},
		"empty": func(t *testing.T, fsys vfs.FS, name string) {
			f, err := fsys.OpenFile(name, os.O_RDWR, 0)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(0))
			require.NoError(t, f.Close())
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
				s, err := Open(dir, fsys, nil)
				require.NoError(t, err)
				require.NoError(t, s.Write(10, body(content(10))))
				require.NoError(t, s.Write(20, body(content(20))))
				damage(t, fsys, filepath.Join(dir, fileName(20)))
				calls := 0
				z, err := s.Load(func(zxid uint64, r io.Reader) error {
					calls++
					b, err := io.ReadAll(r)
					require.NoError(t, err)
					assert.Equal(t, content(zxid), b, "fn never sees an unverified payload")
					return nil
				})
				require.NoError(t, err)
				assert.Equal(t, uint64(10), z)
				assert.Equal(t, 1, calls)

				damage(t, fsys, filepath.Join(dir, fileName(10)))
				_, _, err = load(t, s)
				require.ErrorIs(t, err, ErrCorrupt)
				assert.NotErrorIs(t, err, ErrNoSnapshot, "snapshots exist: never start empty")
				t.Log(err)
			})
		})
	}
}

func TestLoadFallsBackWhenFnFails(t *testing.T) {
	fsys := vfs.NewCrashable()
	s, err := Open("/s", fsys, nil)
	require.NoError(t, err)
	for _, z := range []uint64{1, 2, 3} {
		require.NoError(t, s.Write(z, body(content(z))))
	}
	reject := errors.New("cannot decode")
	var seen []uint64
	z, err := s.Load(func(zxid uint64, r io.Reader) error {
		seen = append(seen, zxid)
		if zxid > 1 {
			return reject
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), z)
	assert.Equal(t, []uint64{3, 2, 1}, seen)

	_, err = s.Load(func(uint64, io.Reader) error { return reject })
	require.ErrorIs(t, err, reject)
	assert.NotErrorIs(t, err, ErrNoSnapshot)
}

func TestBodyErrorLeavesNothing(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s, err := Open(dir, fsys, nil)
		require.NoError(t, err)
		require.NoError(t, s.Write(1, body(content(1))))
		boom := errors.New("boom")
		err = s.Write(2, func(w io.Writer) error {
			_, _ = w.Write([]byte("partial"))
			return boom
		})
		require.ErrorIs(t, err, boom)
		names, err := fsys.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, []string{fileName(1)}, names)
	})
}

func TestRenameNotDurableBeforeSyncDir(t *testing.T) {
	fsys := vfs.NewCrashable()
	s, err := Open("/s", fsys, nil)
	require.NoError(t, err)
	require.NoError(t, s.Write(1, body(content(1))))

	fsys.Inject(vfs.Fault{Op: vfs.OpSyncDir, Count: 1})
	require.ErrorIs(t, s.Write(2, body(content(2))), vfs.ErrInjected)
	fsys.Crash()
	s, err = Open("/s", fsys, nil)
	require.NoError(t, err)
	zs, err := s.List()
	require.NoError(t, err)
	assert.Equal(t, []uint64{1}, zs, "the rename was never made durable")

	require.NoError(t, s.Write(2, body(content(2))))
	fsys.Crash()
	s, err = Open("/s", fsys, nil)
	require.NoError(t, err)
	z, got, err := load(t, s)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), z)
	assert.Equal(t, content(2), got)
}

func TestWriteFaults(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			fsys := vfs.NewCrashable()
			s, err := Open("/s", fsys, nil)
			require.NoError(t, err)
			require.NoError(t, s.Write(1, body(content(1))))
			fsys.Inject(vfs.Fault{Op: op, Count: 1})
			err = s.Write(2, body(content(2)))
			require.ErrorIs(t, err, vfs.ErrInjected)
			names, err := fsys.ReadDir("/s")
			require.NoError(t, err)
			for _, n := range names {
				assert.NotContains(t, n, tmpSuffix, "temp file removed after a failed Write")
			}
		})
	}
}

// TestCrashDuringWrite cuts the power at every point of a Write (by failing
// the Nth operation, then crashing with torn writes): afterwards Load
// returns the old or the new snapshot, intact, and never anything else.
func TestCrashDuringWrite(t *testing.T) {
	seed := uint64(42)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for n := 0; n < 12; n++ {
		for range 5 {
			fsys := vfs.NewCrashable()
			s, err := Open("/s", fsys, nil)
			require.NoError(t, err)
			require.NoError(t, s.Write(1, body(content(1))))
			fsys.Inject(vfs.Fault{Op: vfs.OpAny, After: n})
			werr := s.Write(2, body(bytes.Repeat(content(2), 100)))
			fsys.ClearFaults()
			fsys.CrashTorn(rng)
			s, err = Open("/s", fsys, nil)
			require.NoError(t, err)
			z, got, err := load(t, s)
			require.NoError(t, err, "after fault %d", n)
			switch z {
			case 1:
				assert.Equal(t, content(1), got)
			case 2:
				assert.Equal(t, bytes.Repeat(content(2), 100), got)
			default:
				t.Fatalf("zxid %d", z)
			}
			if werr == nil {
				assert.Equal(t, uint64(2), z, "a completed Write survives")
			}
			names, _ := fsys.ReadDir("/s")
			for _, nm := range names {
				assert.NotContains(t, nm, tmpSuffix)
			}
		}
	}
}

func TestParseName(t *testing.T) {
	z, ok := parseName("snapshot.00000001000000ff")
	assert.True(t, ok)
	assert.Equal(t, uint64(0x1000000ff), z)
	for _, bad := range []string{"snapshot.1", "snapshot.00000001000000FF", "snapshot.00000001000000ff.tmp", "snap.00000001000000ff", "snapshot.000000010000000g"} {
		_, ok := parseName(bad)
		assert.False(t, ok, bad)
	}
}
