package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/zabkit/zabkit/internal/vfs"
)

// Defaults for Config.
const (
	DefaultSegmentBytes   = 64 << 20
	DefaultMaxRecordBytes = 16 << 20
	// maxSpare bounds the append buffer kept between batches.
	maxSpare = 4 << 20
)

// Config configures a Log.
type Config struct {
	// Dir holds the segment files; created if missing.
	Dir string
	// FS is the filesystem; nil means vfs.OS().
	FS vfs.FS
	// SegmentBytes is the size a segment is preallocated to; a segment is
	// rolled when the next record would not fit. 0 means 64 MiB. A record
	// larger than a whole segment gets a segment of its own. On a
	// vfs.CrashFS (which keeps files in memory, twice) use a small value
	// such as 64 KiB.
	SegmentBytes int64
	// MaxRecordBytes bounds Record.Data in Append. 0 means 16 MiB; at most
	// MaxRecordLimit.
	MaxRecordBytes int
	// Logger receives warnings (a torn tail cut) and errors; nil discards.
	Logger *slog.Logger
}

// Record is one log entry: an opaque payload ordered by its zxid.
type Record struct {
	Zxid uint64
	Data []byte
}

// segment is one segment file as the Log knows it.
type segment struct {
	base uint64 // zxid of its first record (its name)
	last uint64 // zxid of its last durable record; 0 while it has none
	end  int64  // offset just past its last durable record
	path string
}

type pendRec struct {
	zxid uint64
	end  int // offset in the append buffer just past this record
}

// Log is the transaction log: an append-only sequence of records with
// strictly increasing zxids, in preallocated segment files.
//
// Append, LastZxid and SyncedZxid may be called from any goroutine and never
// wait for I/O. Sync, TruncateAfter and Close serialize with each other;
// Append may run while a Sync is writing (the records join the next batch).
// Replay may run concurrently with Append and Sync and sees the records
// durable when it starts. TruncateAfter must not race with Append (ZAB's
// single log owner calls both).
type Log struct {
	cfg    Config
	fs     vfs.FS
	logger *slog.Logger

	// syncMu serializes the writer (Sync, TruncateAfter, Close) and guards
	// the fields below it.
	syncMu    sync.Mutex
	f         vfs.File // active segment; nil when there is none yet
	fpath     string
	fsize     int64  // preallocated size of f
	woff      int64  // next write offset in f
	zeroed    int64  // [0, zeroed) of f has been written (data or real zeros)
	wlast     uint64 // zxid of the last record written to a segment
	spareBuf  []byte
	spareRecs []pendRec
	scratch   []byte

	// segMu keeps segment files in place while Replay reads them: Replay
	// holds it shared, PurgeThrough and TruncateAfter exclusively.
	segMu sync.RWMutex

	mu struct {
		sync.Mutex
		segs   []segment // oldest first; the last one is active
		buf    []byte    // encoded records appended since the last Sync
		recs   []pendRec
		last   uint64 // last zxid appended
		synced uint64 // last zxid made durable
		err    error  // sticky, wraps ErrFailed
		closed bool
	}
}

// Open opens the log in cfg.Dir, creating the directory if needed, and
// recovers it: every segment is read and checked; a torn or zero-filled
// tail of the last segment is cut (durably, before Open returns); a damaged
// record anywhere else, or one followed by any valid record, yields a
// *CorruptError (errors.Is ErrCorrupt). Other failures are I/O errors from
// the filesystem or ErrBadConfig.
func Open(cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: Dir is empty", ErrBadConfig)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS()
	}
	if cfg.SegmentBytes == 0 {
		cfg.SegmentBytes = DefaultSegmentBytes
	}
	if cfg.SegmentBytes < headerSize+recHeaderSize {
		return nil, fmt.Errorf("%w: SegmentBytes %d below %d", ErrBadConfig, cfg.SegmentBytes, headerSize+recHeaderSize)
	}
	if cfg.MaxRecordBytes == 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.MaxRecordBytes < 0 || cfg.MaxRecordBytes > MaxRecordLimit {
		return nil, fmt.Errorf("%w: MaxRecordBytes %d outside [1, %d]", ErrBadConfig, cfg.MaxRecordBytes, MaxRecordLimit)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{cfg: cfg, fs: cfg.FS, logger: cfg.Logger}
	if err := vfs.MkdirAllSync(l.fs, cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", cfg.Dir, err)
	}
	if err := l.recover(); err != nil {
		if l.f != nil {
			_ = l.f.Close()
		}
		return nil, err
	}
	l.logger.Info("wal opened", "dir", cfg.Dir, "segments", len(l.mu.segs), "zxid", hexZxid(l.wlast))
	return l, nil
}

func hexZxid(z uint64) string { return fmt.Sprintf("%#x", z) }

// Append adds records to the log after the last one. They are buffered in
// memory (Data is copied) and reach the disk with the next Sync; nothing is
// durable before Sync returns nil. Either every record is appended or none:
// zxids must be strictly increasing and above LastZxid (else ErrOrder, zxid
// 0 never fits), and each Data at most Config.MaxRecordBytes (else
// ErrTooLarge). After a failure it returns the sticky ErrFailed; after
// Close, ErrClosed.
func (l *Log) Append(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	last := l.mu.last
	n := 0
	for _, r := range recs {
		if r.Zxid <= last {
			return fmt.Errorf("%w: zxid %#x after %#x", ErrOrder, r.Zxid, last)
		}
		if len(r.Data) > l.cfg.MaxRecordBytes {
			return fmt.Errorf("%w: zxid %#x has %d bytes, limit %d", ErrTooLarge, r.Zxid, len(r.Data), l.cfg.MaxRecordBytes)
		}
		last = r.Zxid
		n += recHeaderSize + len(r.Data)
	}
	l.mu.buf = slices.Grow(l.mu.buf, n)
	for _, r := range recs {
		l.mu.buf = appendRecord(l.mu.buf, r.Zxid, r.Data)
		l.mu.recs = append(l.mu.recs, pendRec{zxid: r.Zxid, end: len(l.mu.buf)})
	}
	l.mu.last = last
	return nil
}

func (l *Log) usableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.err
}

// Sync writes every record appended so far in one write and makes it
// durable with one fdatasync (group commit: the caller batches). Rolling to
// a new segment fsyncs the old one first and the directory after. When Sync
// returns nil, every record appended before the call is durable, and
// SyncedZxid says exactly how far (records appended while Sync runs may be
// included). With nothing buffered it returns at once. On a write or fsync
// failure the Log turns failed for good (ErrFailed wrapping the cause); see
// ErrFailed.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	buf, recs := l.mu.buf, l.mu.recs
	if len(recs) == 0 {
		l.mu.Unlock()
		return nil
	}
	l.mu.buf, l.mu.recs = l.spareBuf[:0], l.spareRecs[:0]
	l.mu.Unlock()

	if err := l.write(buf, recs); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.mu.synced = recs[len(recs)-1].zxid
	l.mu.Unlock()
	if cap(buf) <= maxSpare {
		l.spareBuf, l.spareRecs = buf[:0], recs[:0]
	} else {
		l.spareBuf, l.spareRecs = nil, nil
	}
	return nil
}

// fail makes the Log failed for good and returns the sticky error.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err == nil {
		l.mu.err = fmt.Errorf("%w: %w", ErrFailed, err)
		l.logger.Error("wal failed, refusing writes", "err", err)
	}
	return l.mu.err
}

// write puts encoded records into segments, rolling as needed, and makes
// them durable. Caller holds syncMu.
func (l *Log) write(buf []byte, recs []pendRec) error {
	runStart, recStart := 0, 0
	created := false
	for i, r := range recs {
		size := int64(r.end - recStart)
		hasRecs := l.f != nil && (l.woff > headerSize || recStart > runStart)
		if l.f == nil || (hasRecs && l.woff+int64(recStart-runStart)+size > l.cfg.SegmentBytes) {
			if l.f != nil {
				// Roll: the old segment is complete and durable before the
				// new one exists, so Open may treat every segment but the
				// last as fully synced.
				if recStart > runStart {
					if err := l.writeRun(buf[runStart:recStart], recs[i-1].zxid); err != nil {
						return err
					}
				}
				if err := l.f.Sync(); err != nil {
					return err
				}
				l.markDurable()
				err := l.f.Close()
				l.f = nil
				if err != nil {
					return err
				}
			}
			if err := l.createSegment(r.zxid); err != nil {
				return err
			}
			created = true
			runStart = recStart
		}
		recStart = r.end
	}
	if err := l.writeRun(buf[runStart:], recs[len(recs)-1].zxid); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	if created {
		// A new segment's directory entry must be durable too, or its
		// records vanish with it.
		if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
			return err
		}
	}
	l.markDurable()
	return nil
}

// writeRun writes encoded records at the write offset; last is the zxid of
// the last of them.
func (l *Log) writeRun(p []byte, last uint64) error {
	if len(p) == 0 {
		return nil
	}
	if err := l.writeAt(p); err != nil {
		return err
	}
	l.wlast = last
	return nil
}

// writeAt writes p at the write offset, first filling the preallocated
// space ahead with real zeros a chunk at a time (see zeroChunk).
func (l *Log) writeAt(p []byte) error {
	end := l.woff + int64(len(p))
	if end > l.zeroed && l.zeroed < l.fsize {
		target := min((end+zeroChunk-1)/zeroChunk*zeroChunk, l.fsize)
		for l.zeroed < target {
			n := min(target-l.zeroed, zeroChunk)
			if _, err := l.f.WriteAt(zeroPage[:n], l.zeroed); err != nil {
				return err
			}
			l.zeroed += n
		}
	}
	if _, err := l.f.WriteAt(p, l.woff); err != nil {
		return err
	}
	l.woff = end
	l.zeroed = max(l.zeroed, end)
	return nil
}

// markDurable records that the active segment is durable up to woff.
func (l *Log) markDurable() {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.mu.segs[len(l.mu.segs)-1]
	s.end = l.woff
	s.last = l.wlast
}

// createSegment creates, preallocates and heads a new active segment whose
// first record will be base.
func (l *Log) createSegment(base uint64) error {
	path := filepath.Join(l.cfg.Dir, segName(base))
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := f.Preallocate(l.cfg.SegmentBytes); err != nil {
		_ = f.Close()
		return err
	}
	l.f, l.fpath, l.fsize, l.woff, l.zeroed = f, path, l.cfg.SegmentBytes, 0, 0
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, segment{base: base, end: headerSize, path: path})
	l.mu.Unlock()
	var h [headerSize]byte
	segHeader{base: base, prev: l.wlast}.encode(h[:])
	return l.writeAt(h[:])
}

// LastZxid returns the zxid of the last record appended (durable or not),
// or 0 for an empty log.
func (l *Log) LastZxid() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.last
}

// SyncedZxid returns the zxid of the last record known durable, or 0.
func (l *Log) SyncedZxid() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.synced
}

// Replay calls fn, in zxid order, for every durable record with a zxid
// greater than after. r.Data is only valid during the call; copy it to keep
// it. It stops at fn's first error and returns it unchanged. A record that
// no longer reads back intact yields a *CorruptError; after Close,
// ErrClosed. fn must not call PurgeThrough, TruncateAfter or Close.
func (l *Log) Replay(after uint64, fn func(r Record) error) error {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	segs := slices.Clone(l.mu.segs)
	l.mu.Unlock()

	var buf []byte
	prev := uint64(0)
	for _, s := range segs {
		if s.end <= headerSize || s.last <= after {
			continue
		}
		f, err := l.fs.Open(s.path)
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		err = replaySegment(f, s, after, fn, &buf, &prev)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func replaySegment(f vfs.File, s segment, after uint64, fn func(Record) error, buf *[]byte, prev *uint64) error {
	rr := newRecReader(f, headerSize, s.end, *buf)
	defer func() { *buf = rr.buf }()
	for {
		off := rr.off
		z, data, st, reason, err := rr.next()
		if err != nil {
			return fmt.Errorf("wal: replay %s: %w", s.path, err)
		}
		switch st {
		case stBad:
			return corrupt(s.path, off, "%s", reason)
		case stEnd:
			if off != s.end {
				return corrupt(s.path, off, "log ends early, expected records up to offset %d", s.end)
			}
			return nil
		}
		if z <= *prev {
			return corrupt(s.path, off, "zxid %#x not greater than %#x before it", z, *prev)
		}
		*prev = z
		if z <= after {
			continue
		}
		if err := fn(Record{Zxid: z, Data: data}); err != nil {
			return err
		}
	}
}

// TruncateAfter removes every record with a zxid greater than zxid, on
// disk and in the append buffer (ZAB's TRUNC), and returns once the cut is
// durable. Records at or below zxid still buffered are made durable first.
// Afterwards LastZxid is the last record left (0 if none) and appending
// continues after it. The caller keeps ZAB's rule: never truncate below a
// committed transaction or below what the log was purged through. A failure
// turns the Log failed (ErrFailed), as the state on disk is then unknown; a
// record that no longer reads back yields a *CorruptError.
func (l *Log) TruncateAfter(zxid uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.segMu.Lock()
	defer l.segMu.Unlock()

	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	recs := l.mu.recs
	if k := sort.Search(len(recs), func(i int) bool { return recs[i].zxid > zxid }); k < len(recs) {
		end := 0
		if k > 0 {
			end = recs[k-1].end
		}
		l.mu.buf, l.mu.recs = l.mu.buf[:end], recs[:k]
	}
	l.mu.Unlock()

	if err := l.syncLocked(); err != nil {
		return err
	}
	if zxid < l.wlast {
		if err := l.truncateDisk(zxid); err != nil {
			if errors.Is(err, ErrCorrupt) {
				return err
			}
			return l.fail(err)
		}
	}
	l.mu.Lock()
	l.mu.last, l.mu.synced = l.wlast, l.wlast
	l.mu.Unlock()
	return nil
}

// truncateDisk removes whole segments above zxid (newest first), cuts the
// segment that holds zxid just after it, and makes that segment the active
// one with a zero tail. Caller holds syncMu and segMu.
func (l *Log) truncateDisk(zxid uint64) error {
	l.mu.Lock()
	segs := slices.Clone(l.mu.segs)
	l.mu.Unlock()
	setSegs := func() {
		l.mu.Lock()
		l.mu.segs = slices.Clone(segs)
		l.mu.Unlock()
	}

	removed := false
	for len(segs) > 0 && segs[len(segs)-1].base > zxid {
		s := segs[len(segs)-1]
		if l.f != nil && l.fpath == s.path {
			_ = l.f.Close()
			l.f = nil
		}
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		segs = segs[:len(segs)-1]
		setSegs()
		removed = true
	}
	if removed {
		if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
			return err
		}
	}
	if len(segs) == 0 {
		l.wlast = 0
		return nil
	}

	s := &segs[len(segs)-1]
	if l.f != nil && l.fpath != s.path {
		_ = l.f.Close()
		l.f = nil
	}
	if l.f == nil {
		f, err := l.fs.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		l.f, l.fpath = f, s.path
	}
	if s.last > zxid {
		rr := newRecReader(l.f, headerSize, s.end, l.scratch)
		end, last := int64(headerSize), uint64(0)
		for {
			off := rr.off
			z, _, st, reason, err := rr.next()
			if err != nil {
				return err
			}
			if st == stBad {
				return corrupt(s.path, off, "%s", reason)
			}
			if st == stEnd || z > zxid {
				break
			}
			end, last = rr.off, z
		}
		l.scratch = rr.buf
		s.end, s.last = end, last
	}
	size, err := l.resetTail(l.f, s.end)
	if err != nil {
		return err
	}
	l.fsize, l.woff, l.zeroed, l.wlast = size, s.end, s.end, s.last
	setSegs()
	return nil
}

// resetTail cuts f at end, preallocates it back to at least its old size
// (so everything after end reads as zero) and syncs. It returns the new
// size.
func (l *Log) resetTail(f vfs.File, end int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := max(st.Size(), l.cfg.SegmentBytes)
	if err := f.Truncate(end); err != nil {
		return 0, err
	}
	if err := f.Preallocate(size); err != nil {
		return 0, err
	}
	return size, f.Sync()
}

// PurgeThrough removes whole segments whose every record has a zxid at or
// below zxid, oldest first, never the active (last) segment, so LastZxid
// survives. Records above zxid are never removed. It returns the first
// filesystem error (a partial purge leaves a valid log), ErrFailed on a
// failed Log and ErrClosed after Close.
func (l *Log) PurgeThrough(zxid uint64) error {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	k := 0
	for k < len(l.mu.segs)-1 && l.mu.segs[k].last <= zxid {
		k++
	}
	victims := slices.Clone(l.mu.segs[:k])
	l.mu.Unlock()
	if k == 0 {
		return nil
	}
	dropped := 0
	drop := func() {
		l.mu.Lock()
		l.mu.segs = slices.Clone(l.mu.segs[dropped:])
		l.mu.Unlock()
	}
	for _, v := range victims {
		if err := l.fs.Remove(v.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			drop()
			return fmt.Errorf("wal: purge: %w", err)
		}
		dropped++
	}
	drop()
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		return fmt.Errorf("wal: purge: %w", err)
	}
	return nil
}

// Close syncs records still buffered (unless the Log has failed), closes
// the active segment and returns the first error. Later calls return
// ErrClosed; so does every other method but LastZxid and SyncedZxid.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	pending := len(l.mu.recs) > 0 && l.mu.err == nil
	l.mu.Unlock()
	var err error
	if pending {
		err = l.syncLocked()
	}
	l.mu.Lock()
	l.mu.closed = true
	failed := l.mu.err != nil
	l.mu.Unlock()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil && !failed {
			err = cerr
		}
		l.f = nil
	}
	return err
}
