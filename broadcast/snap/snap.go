package snap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/zabkit/zabkit/internal/vfs"
)

const (
	magic       = "ZSNP"
	endMagic    = "ZEND"
	version     = 1
	headerSize  = 16
	trailerSize = 16
	prefix      = "snapshot."
	tmpSuffix   = ".tmp"
	bufSize     = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func fileName(zxid uint64) string { return fmt.Sprintf("%s%016x", prefix, zxid) }

func parseName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, prefix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	z, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || fileName(z) != name {
		return 0, false
	}
	return z, true
}

// Store is a directory of snapshot files. Its methods are safe for
// concurrent use; Writes are serialized with each other.
type Store struct {
	dir     string
	fs      vfs.FS
	logger  *slog.Logger
	writeMu sync.Mutex
}

// Open opens the snapshot directory dir on fsys (nil: vfs.OS()), creating
// it if needed, and removes temporary files left by a Write that never
// finished. logger may be nil. It returns filesystem errors.
func Open(dir string, fsys vfs.FS, logger *slog.Logger) (*Store, error) {
	if fsys == nil {
		fsys = vfs.OS()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, fs: fsys, logger: logger}
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return nil, fmt.Errorf("snap: create %s: %w", dir, err)
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list %s: %w", dir, err)
	}
	removed := false
	for _, name := range names {
		if strings.HasPrefix(name, prefix) && strings.HasSuffix(name, tmpSuffix) {
			path := filepath.Join(dir, name)
			if err := fsys.Remove(path); err != nil {
				return nil, fmt.Errorf("snap: remove leftover %s: %w", path, err)
			}
			logger.Warn("snap removed leftover temp file", "file", path)
			removed = true
		}
	}
	if removed {
		if err := fsys.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("snap: sync %s: %w", dir, err)
		}
	}
	return s, nil
}

// Write stores a snapshot of state at zxid: body writes the payload to w
// (buffered; the payload is checksummed as it streams). The file is written
// as snapshot.<zxid>.tmp, fsynced, renamed to snapshot.<zxid> and the
// directory fsynced, so the snapshot either exists complete after a crash
// or not at all. An existing snapshot at the same zxid is replaced. On any
// error, including body's (returned wrapped), the temp file is removed and
// older snapshots are untouched.
func (s *Store) Write(zxid uint64, body func(w io.Writer) error) (err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	final := filepath.Join(s.dir, fileName(zxid))
	tmp := final + tmpSuffix
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("snap: create %s: %w", tmp, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = s.fs.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, bufSize)
	crc := crc32.New(castagnoli)
	var hdr [headerSize]byte
	copy(hdr[:], magic)
	hdr[4] = version
	binary.BigEndian.PutUint64(hdr[8:], zxid)
	_, _ = crc.Write(hdr[:])
	if _, err := bw.Write(hdr[:]); err != nil {
		return fmt.Errorf("snap: write %s: %w", tmp, err)
	}
	w := &sumWriter{w: bw, h: crc}
	if err := body(w); err != nil {
		return fmt.Errorf("snap: body of %s: %w", final, err)
	}
	if w.err != nil {
		return fmt.Errorf("snap: write %s: %w", tmp, w.err)
	}
	var tr [trailerSize]byte
	binary.BigEndian.PutUint32(tr[0:], crc.Sum32())
	copy(tr[4:], endMagic)
	binary.BigEndian.PutUint64(tr[8:], uint64(w.n))
	if _, err := bw.Write(tr[:]); err != nil {
		return fmt.Errorf("snap: write %s: %w", tmp, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("snap: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snap: sync %s: %w", tmp, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("snap: close %s: %w", tmp, err)
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		return fmt.Errorf("snap: rename %s: %w", tmp, err)
	}
	// Until the directory is synced the rename may be undone by a crash.
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync %s: %w", s.dir, err)
	}
	s.logger.Info("snap written", "file", final, "zxid", fmt.Sprintf("%#x", zxid), "bytes", w.n)
	return nil
}

// sumWriter feeds the checksum and counts, and remembers the first error
// so a body that ignores errors cannot produce a short snapshot.
type sumWriter struct {
	w   io.Writer
	h   hash.Hash32
	n   int64
	err error
}

func (s *sumWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	_, _ = s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		s.err = err
	}
	return n, err
}

// List returns the zxids of the snapshot files present, oldest first.
// Temporary files are not listed; validity is not checked.
func (s *Store) List() ([]uint64, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list %s: %w", s.dir, err)
	}
	var zs []uint64
	for _, n := range names {
		if z, ok := parseName(n); ok {
			zs = append(zs, z)
		}
	}
	slices.Sort(zs)
	return zs, nil
}

// Load hands the newest usable snapshot to fn and returns its zxid. It
// tries snapshots newest first; one is usable when its checksum verifies
// (checked over the whole file before fn sees a byte) and fn returns nil.
// fn must discard whatever it built when it fails, since it may be called
// again with an older snapshot; r is buffered (it is a *bufio.Reader, so
// also an io.ByteReader) and only valid during the call. Load
// returns ErrNoSnapshot when there is no snapshot file at all; when files
// exist but none is usable, an error joining each file's failure (errors.Is
// ErrCorrupt for a bad file, fn's error as returned).
func (s *Store) Load(fn func(zxid uint64, r io.Reader) error) (uint64, error) {
	zs, err := s.List()
	if err != nil {
		return 0, err
	}
	if len(zs) == 0 {
		return 0, ErrNoSnapshot
	}
	var errs []error
	for i := len(zs) - 1; i >= 0; i-- {
		err := s.loadOne(zs[i], fn)
		if err == nil {
			return zs[i], nil
		}
		s.logger.Warn("snap unusable, trying an older one", "zxid", fmt.Sprintf("%#x", zs[i]), "err", err)
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("snap: none of %d snapshots is usable: %w", len(zs), errors.Join(errs...))
}

func (s *Store) loadOne(zxid uint64, fn func(uint64, io.Reader) error) error {
	path := filepath.Join(s.dir, fileName(zxid))
	f, err := s.fs.Open(path)
	if err != nil {
		return fmt.Errorf("snap: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("snap: stat %s: %w", path, err)
	}
	length, err := verify(f, st.Size(), zxid)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, headerSize, length), int(min(bufSize, max(length, 16))))
	if err := fn(zxid, r); err != nil {
		return fmt.Errorf("snap: %s: %w", path, err)
	}
	return nil
}

// verify checks a snapshot file's header, trailer and checksum, reading it
// once in fixed-size chunks, and returns the payload length.
func verify(ra io.ReaderAt, size int64, zxid uint64) (int64, error) {
	bad := func(format string, args ...any) (int64, error) {
		return 0, fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if size < headerSize+trailerSize {
		return bad("%d bytes, shorter than header and trailer", size)
	}
	var hdr [headerSize]byte
	if err := readFullAt(ra, hdr[:], 0); err != nil {
		return 0, err
	}
	switch {
	case string(hdr[:4]) != magic:
		return bad("bad magic")
	case hdr[4] != version:
		return bad("unknown version %d", hdr[4])
	case binary.BigEndian.Uint64(hdr[8:]) != zxid:
		return bad("header says zxid %#x, name says %#x", binary.BigEndian.Uint64(hdr[8:]), zxid)
	}
	var tr [trailerSize]byte
	if err := readFullAt(ra, tr[:], size-trailerSize); err != nil {
		return 0, err
	}
	length := size - headerSize - trailerSize
	if string(tr[4:8]) != endMagic {
		return bad("bad trailer magic (file cut short?)")
	}
	if got := binary.BigEndian.Uint64(tr[8:]); got != uint64(length) {
		return bad("trailer says %d payload bytes, file holds %d", got, length)
	}
	crc := crc32.New(castagnoli)
	buf := make([]byte, min(bufSize, size))
	if _, err := io.CopyBuffer(crc, io.NewSectionReader(ra, 0, size-trailerSize), buf); err != nil {
		return 0, err
	}
	if crc.Sum32() != binary.BigEndian.Uint32(tr[0:]) {
		return bad("checksum mismatch")
	}
	return length, nil
}

// Retain removes all but the newest n snapshots (by zxid) and syncs the
// directory. n below 1 gives ErrBadArgument: removing the last snapshot
// would leave a log that cannot be replayed. Callers that purge the log
// should purge only through the oldest snapshot kept, so that Load may fall
// back to any of them.
func (s *Store) Retain(n int) error {
	if n < 1 {
		return fmt.Errorf("snap: Retain(%d): %w", n, ErrBadArgument)
	}
	zs, err := s.List()
	if err != nil {
		return err
	}
	if len(zs) <= n {
		return nil
	}
	for _, z := range zs[:len(zs)-n] {
		path := filepath.Join(s.dir, fileName(z))
		if err := s.fs.Remove(path); err != nil {
			return fmt.Errorf("snap: remove %s: %w", path, err)
		}
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync %s: %w", s.dir, err)
	}
	return nil
}

// readFullAt reads len(p) bytes at off; io.EOF with a full read is fine.
func readFullAt(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
