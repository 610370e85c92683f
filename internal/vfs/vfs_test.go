package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Both implementations must behave the same for everything but crashes.
func eachFS(t *testing.T, fn func(t *testing.T, fsys FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, OS(), t.TempDir()) })
	t.Run("crash", func(t *testing.T) { fn(t, NewCrashable(), "/data") })
}

func TestFileOps(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys FS, dir string) {
		require.NoError(t, fsys.MkdirAll(dir, 0o755))
		name := filepath.Join(dir, "f")
		f, err := fsys.Create(name)
		require.NoError(t, err)
		n, err := f.Write([]byte("hello"))
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		_, err = f.WriteAt([]byte("HE"), 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("!"), 7) // leaves a zero-filled gap
		require.NoError(t, err)
		require.NoError(t, f.Sync())

		buf := make([]byte, 8)
		n, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		assert.Equal(t, 8, n)
		assert.Equal(t, []byte("HEllo\x00\x00!"), buf)
		n, err = f.ReadAt(buf, 6)
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, 2, n)

		require.NoError(t, f.Preallocate(100))
		st, err := f.Stat()
		require.NoError(t, err)
		assert.Equal(t, int64(100), st.Size())
		n, err = f.ReadAt(buf, 92)
		require.NoError(t, err)
		assert.Equal(t, make([]byte, 8), buf[:n])
		require.NoError(t, f.Preallocate(10)) // never shrinks
		st, _ = f.Stat()
		assert.Equal(t, int64(100), st.Size())

		require.NoError(t, f.Truncate(3))
		st, _ = f.Stat()
		assert.Equal(t, int64(3), st.Size())
		require.NoError(t, f.Truncate(6)) // regrown bytes are zero
		n, _ = f.ReadAt(buf, 0)
		assert.Equal(t, []byte("HEl\x00\x00\x00"), buf[:n])
		require.NoError(t, f.Close())

		r, err := fsys.Open(name)
		require.NoError(t, err)
		all, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, []byte("HEl\x00\x00\x00"), all)
		_, err = r.Write([]byte("x"))
		assert.Error(t, err, "read-only handle")
		require.NoError(t, r.Close())

		_, err = fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		assert.ErrorIs(t, err, fs.ErrExist)
		_, err = fsys.Open(filepath.Join(dir, "missing"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = fsys.Stat(filepath.Join(dir, "missing"))
		assert.ErrorIs(t, err, fs.ErrNotExist)

		a, err := fsys.OpenFile(filepath.Join(dir, "a"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		require.NoError(t, err)
		_, err = a.Write([]byte("12"))
		require.NoError(t, err)
		_, err = a.Write([]byte("34"))
		require.NoError(t, err)
		require.NoError(t, a.Close())
		st, err = fsys.Stat(filepath.Join(dir, "a"))
		require.NoError(t, err)
		assert.Equal(t, int64(4), st.Size())
		assert.False(t, st.IsDir())
	})
}

func TestDirOps(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys FS, dir string) {
		sub := filepath.Join(dir, "x", "y")
		require.NoError(t, MkdirAllSync(fsys, sub, 0o755))
		require.NoError(t, MkdirAllSync(fsys, sub, 0o755)) // idempotent
		st, err := fsys.Stat(sub)
		require.NoError(t, err)
		assert.True(t, st.IsDir())
		for _, n := range []string{"c", "a", "b"} {
			f, err := fsys.Create(filepath.Join(sub, n))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
		names, err := fsys.ReadDir(sub)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c"}, names)
		require.NoError(t, fsys.Rename(filepath.Join(sub, "a"), filepath.Join(sub, "c")))
		require.NoError(t, fsys.Remove(filepath.Join(sub, "b")))
		require.NoError(t, fsys.SyncDir(sub))
		names, err = fsys.ReadDir(sub)
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, names)
		assert.Error(t, fsys.Remove(filepath.Join(dir, "x")), "not empty")
		assert.ErrorIs(t, fsys.Remove(filepath.Join(sub, "zz")), fs.ErrNotExist)
		assert.ErrorIs(t, fsys.Rename(filepath.Join(sub, "zz"), filepath.Join(sub, "q")), fs.ErrNotExist)
		_, err = fsys.ReadDir(filepath.Join(dir, "nope"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}

func readAll(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func TestCrashDropsUnsyncedData(t *testing.T) {
	c := NewCrashable()
	require.NoError(t, MkdirAllSync(c, "/d", 0o755))
	f, err := c.Create("/d/f")
	require.NoError(t, err)
	_, _ = f.Write([]byte("synced"))
	require.NoError(t, f.Sync())
	require.NoError(t, c.SyncDir("/d"))
	_, _ = f.Write([]byte("-lost"))
	require.NoError(t, f.Truncate(3)) // an unsynced truncate is lost too
	_, _ = f.WriteAt([]byte("XYZ"), 0)

	c.Crash()
	assert.Equal(t, []byte("synced"), readAll(t, c, "/d/f"))
	_, err = f.Write([]byte("x"))
	assert.ErrorIs(t, err, ErrCrashed)
	assert.NoError(t, f.Close(), "closing a stale handle is harmless")
}

func TestCrashDirEntriesRevert(t *testing.T) {
	c := NewCrashable()
	require.NoError(t, MkdirAllSync(c, "/d", 0o755))
	mk := func(name, data string) {
		f, err := c.Create(name)
		require.NoError(t, err)
		_, err = f.Write([]byte(data))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	mk("/d/old", "old")
	mk("/d/gone", "gone")
	require.NoError(t, c.SyncDir("/d"))

	mk("/d/new", "new")                                  // created, data synced, entry not
	require.NoError(t, c.Rename("/d/old", "/d/renamed")) // not durable before SyncDir
	require.NoError(t, c.Remove("/d/gone"))
	require.NoError(t, c.MkdirAll("/d/sub", 0o755))

	s := c.Survivor(nil)
	names, err := s.ReadDir("/d")
	require.NoError(t, err)
	assert.Equal(t, []string{"gone", "old"}, names)
	assert.Equal(t, []byte("old"), readAll(t, s, "/d/old"))

	require.NoError(t, c.SyncDir("/d"))
	c.Crash()
	names, err = c.ReadDir("/d")
	require.NoError(t, err)
	assert.Equal(t, []string{"new", "renamed", "sub"}, names)
	assert.Equal(t, []byte("old"), readAll(t, c, "/d/renamed"))
}

func TestCrashUnsyncedDirectoryVanishes(t *testing.T) {
	c := NewCrashable()
	require.NoError(t, c.MkdirAll("/a/b", 0o755))
	c.Crash()
	_, err := c.Stat("/a")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, MkdirAllSync(c, "/a/b", 0o755))
	c.Crash()
	st, err := c.Stat("/a/b")
	require.NoError(t, err)
	assert.True(t, st.IsDir())
}

func TestCrashTornKeepsPrefix(t *testing.T) {
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	sawPartial := false
	for range 50 {
		c := NewCrashable()
		f, err := c.Create("/f")
		require.NoError(t, err)
		_, _ = f.Write([]byte("abc"))
		require.NoError(t, f.Sync())
		require.NoError(t, c.SyncDir("/"))
		_, _ = f.Write([]byte("defghij"))
		c.CrashTorn(rng)
		got := readAll(t, c, "/f")
		require.GreaterOrEqual(t, len(got), 3)
		assert.Equal(t, []byte("abcdefghij")[:len(got)], got, "a prefix survives")
		if len(got) > 3 && len(got) < 10 {
			sawPartial = true
		}
	}
	assert.True(t, sawPartial)
}

func TestCrashTornDirOpsPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	seen := map[string]bool{}
	for range 60 {
		c := NewCrashable()
		for _, n := range []string{"/a", "/b", "/c"} {
			f, err := c.Create(n)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
		c.CrashTorn(rng)
		names, err := c.ReadDir("/")
		require.NoError(t, err)
		k := len(names)
		assert.Equal(t, []string{"a", "b", "c"}[:k], names, "creates survive in order")
		seen[string(rune('0'+k))] = true
	}
	assert.Len(t, seen, 4, "every prefix length shows up")
}

func TestInjectFaults(t *testing.T) {
	c := NewCrashable()
	f, err := c.Create("/f")
	require.NoError(t, err)
	c.Inject(Fault{Op: OpWrite, After: 2, Count: 1})
	for i := range 4 {
		_, err := f.Write([]byte{byte('0' + i)})
		if i == 2 {
			require.ErrorIs(t, err, ErrInjected)
		} else {
			require.NoError(t, err, i)
		}
	}
	assert.Equal(t, []byte("013"), readAll(t, c, "/f"), "the failed write changed nothing")

	c.Inject(Fault{Op: OpSync, After: 1}) // sticky from the second sync on
	require.NoError(t, f.Sync())
	for range 3 {
		assert.ErrorIs(t, f.Sync(), ErrInjected)
	}
	c.ClearFaults()
	require.NoError(t, f.Sync())

	c.Inject(Fault{Op: OpRename})
	assert.ErrorIs(t, c.Rename("/f", "/g"), ErrInjected)
	_, err = c.Stat("/f")
	assert.NoError(t, err)

	c.ClearFaults()
	before := c.Ops(OpAny)
	c.Inject(Fault{Op: OpAny, After: 1})
	require.NoError(t, c.SyncDir("/"))
	assert.ErrorIs(t, c.MkdirAll("/x", 0o755), ErrInjected)
	assert.ErrorIs(t, f.Truncate(0), ErrInjected)
	assert.ErrorIs(t, f.Preallocate(10), ErrInjected)
	_, err = c.Create("/new")
	assert.ErrorIs(t, err, ErrInjected)
	assert.Equal(t, before+5, c.Ops(OpAny))
	assert.True(t, errors.Is(c.Remove("/f"), ErrInjected))
	assert.Equal(t, "preallocate", OpPreallocate.String())
}

func TestSurvivorLeavesOriginal(t *testing.T) {
	c := NewCrashable()
	f, err := c.Create("/f")
	require.NoError(t, err)
	_, _ = f.Write([]byte("x"))
	s := c.Survivor(nil)
	_, err = s.Stat("/f")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = f.Write([]byte("y"))
	require.NoError(t, err, "original handles keep working")
	assert.Equal(t, []byte("xy"), readAll(t, c, "/f"))
}

func TestHandleAfterClose(t *testing.T) {
	c := NewCrashable()
	f, err := c.Create("/f")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = f.Write([]byte("x"))
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, f.Close(), ErrClosed)
}

func TestCrashTornTruncateIsAtomic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for range 40 {
		c := NewCrashable()
		f, err := c.Create("/f")
		require.NoError(t, err)
		_, _ = f.Write([]byte("0123456789"))
		require.NoError(t, f.Sync())
		require.NoError(t, c.SyncDir("/"))
		require.NoError(t, f.Truncate(4))
		require.NoError(t, f.Preallocate(10))
		_, _ = f.WriteAt([]byte("ab"), 4)
		c.CrashTorn(rng)
		got := string(readAll(t, c, "/f"))
		assert.Contains(t, []string{"0123456789", "0123", "0123\x00\x00\x00\x00\x00\x00", "0123a\x00\x00\x00\x00\x00", "0123ab\x00\x00\x00\x00"}, got)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys FS, dir string) {
		require.NoError(t, MkdirAllSync(fsys, dir, 0o755))
		name := filepath.Join(dir, "currentEpoch")
		_, err := ReadFile(fsys, name)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		require.NoError(t, WriteFileAtomic(fsys, name, []byte("1")))
		require.NoError(t, WriteFileAtomic(fsys, name, []byte("22")))
		b, err := ReadFile(fsys, name)
		require.NoError(t, err)
		assert.Equal(t, []byte("22"), b)
		names, err := fsys.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, []string{"currentEpoch"}, names)
	})
}

func TestWriteFileAtomicCrash(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 0; n < 8; n++ {
		for range 5 {
			c := NewCrashable()
			require.NoError(t, WriteFileAtomic(c, "/e", []byte("old")))
			c.Inject(Fault{Op: OpAny, After: n})
			werr := WriteFileAtomic(c, "/e", []byte("new!"))
			c.ClearFaults()
			c.CrashTorn(rng)
			b, err := ReadFile(c, "/e")
			require.NoError(t, err)
			assert.Contains(t, []string{"old", "new!"}, string(b), "fault after %d", n)
			if werr == nil {
				assert.Equal(t, "new!", string(b))
			}
		}
	}
}
