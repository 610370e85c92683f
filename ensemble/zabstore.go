package ensemble

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zabkit/zabkit/broadcast"
	"github.com/zabkit/zabkit/broadcast/snap"
	"github.com/zabkit/zabkit/broadcast/wal"
	"github.com/zabkit/zabkit/internal/vfs"
	"github.com/zabkit/zabkit/tree"
)

// Epoch files in the data directory, named as ZooKeeper names them.
const (
	acceptedEpochFile = "acceptedEpoch"
	currentEpochFile  = "currentEpoch"
)

// zabStorage is the durable state a ZAB peer starts from: the epoch files,
// the newest snapshot and the log after it. It implements
// broadcast.Storage; the driver keeps it current by persisting every Ready
// before Advance.
type zabStorage struct {
	fs      vfs.FS
	dir     string
	snaps   *snap.Store
	hard    broadcast.HardState
	entries []broadcast.Entry // the log after the snapshot, read at start
}

// InitialState implements broadcast.Storage.
func (z *zabStorage) InitialState() (broadcast.HardState, []broadcast.Entry, error) {
	ents := z.entries
	z.entries = nil // NewPeer keeps them; do not pin a second copy
	return z.hard, ents, nil
}

// Snapshot implements broadcast.Storage: the newest snapshot file, read
// whole (the leader sends it to a follower too far behind).
func (z *zabStorage) Snapshot() (broadcast.Snapshot, error) {
	var out broadcast.Snapshot
	zx, err := z.snaps.Load(func(zxid uint64, r io.Reader) error {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		out = broadcast.Snapshot{Zxid: broadcast.Zxid(zxid), Data: buf.Bytes()}
		return nil
	})
	if errors.Is(err, snap.ErrNoSnapshot) {
		return broadcast.Snapshot{}, nil
	}
	if err != nil {
		return broadcast.Snapshot{}, err
	}
	out.Zxid = broadcast.Zxid(zx)
	return out, nil
}

// readEpoch reads one epoch file; a missing file is epoch 0. A leftover
// temp file from a crash during WriteFileAtomic is ignored (the rename did
// not happen, so the old value stands: ZOOKEEPER-2307).
func readEpoch(fsys vfs.FS, dir, name string) (uint64, error) {
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ensemble: reading %s: %w", name, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s holds %q", ErrCorruptTxn, name, b)
	}
	return v, nil
}

// writeEpoch makes an epoch file durable: temp file, fsync, rename, fsync
// the directory.
func writeEpoch(fsys vfs.FS, dir, name string, v uint64) error {
	if err := vfs.WriteFileAtomic(fsys, filepath.Join(dir, name), []byte(strconv.FormatUint(v, 10)+"\n")); err != nil {
		return fmt.Errorf("ensemble: writing %s: %w", name, err)
	}
	return nil
}

// recoverZab loads what a ZAB peer starts from: the newest valid snapshot
// becomes the tree; the log after it is handed to the protocol core
// unapplied, since a txn in the log may never have been committed (it is
// delivered, and applied, only once the new leader's sync says it is). The
// tree therefore only ever holds committed txns (ZOOKEEPER-2845).
func (s *Server) recoverZab() (*zabStorage, error) {
	t, snapZxid, err := s.loadSnapshot()
	if err != nil {
		return nil, err
	}
	l, err := wal.Open(wal.Config{Dir: filepath.Join(s.cfg.DataDir, "log"), FS: s.cfg.FS,
		SegmentBytes: s.walSegmentBytes, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("ensemble: opening txn log: %w", err)
	}
	s.wal = l
	st := &zabStorage{fs: s.cfg.FS, dir: s.cfg.DataDir, snaps: s.snaps}
	prev := tree.Zxid(snapZxid)
	err = l.Replay(snapZxid, func(rec wal.Record) error {
		z := tree.Zxid(rec.Zxid)
		if !follows(prev, z) {
			return fmt.Errorf("%w: after %v the log has %v", ErrLogGap, prev, z)
		}
		prev = z
		// Replay reuses its buffer: keep a copy.
		st.entries = append(st.entries, broadcast.Entry{Zxid: broadcast.Zxid(z), Data: slices.Clone(rec.Data)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ensemble: reading txn log: %w", err)
	}
	if snapZxid == 0 && len(st.entries) > 0 && st.entries[0].Zxid.Counter() != 1 {
		// A log but no snapshot to start it: refuse rather than guess
		// (ZOOKEEPER-2325).
		return nil, fmt.Errorf("%w: no snapshot and the log starts at %v", ErrLogGap, st.entries[0].Zxid)
	}
	if st.hard.AcceptedEpoch, err = readEpoch(s.cfg.FS, s.cfg.DataDir, acceptedEpochFile); err != nil {
		return nil, err
	}
	if st.hard.CurrentEpoch, err = readEpoch(s.cfg.FS, s.cfg.DataDir, currentEpochFile); err != nil {
		return nil, err
	}
	st.hard.Committed = broadcast.Zxid(snapZxid)
	s.installTree(t, snapZxid)
	s.log.Info("recovered", "zxid", t.LastZxid(), "snapshot", tree.Zxid(snapZxid), "log", len(st.entries),
		"acceptedepoch", st.hard.AcceptedEpoch, "currentepoch", st.hard.CurrentEpoch, "nodes", t.NodeCount())
	return st, nil
}

// follows reports whether z may come right after prev in a ZAB log: the
// next counter of the same epoch, or the first txn of a later epoch.
func follows(prev, z tree.Zxid) bool {
	if z.Epoch() == prev.Epoch() {
		return z == prev+1
	}
	return z.Epoch() > prev.Epoch() && z.Counter() == 1
}
