package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/tree"
)

// Store is a configuration service under one znode prefix: typed values
// under relative keys, read and written with compare-and-set on the
// znode's version, watched, mirrored by a Cache, and pushed atomically.
// A Store holds no state besides its settings and is safe for concurrent
// use; several Stores may share a Conn and a prefix.
type Store struct {
	conn  recipes.Conn
	root  string
	codec Codec
}

// Option configures NewStore.
type Option func(*Store)

// WithCodec sets the Codec values are encoded with (default JSON). A nil
// codec keeps the default.
func WithCodec(c Codec) Option {
	return func(s *Store) {
		if c != nil {
			s.codec = c
		}
	}
}

// NewStore returns a Store for the keys under prefix, an absolute znode
// path ("/config/app"; "/" for the whole tree). Nothing is sent: the
// prefix is created with the first Put. It fails with ErrBadKey if prefix
// is not a valid path.
func NewStore(conn recipes.Conn, prefix string, opts ...Option) (*Store, error) {
	if err := checkRoot(prefix); err != nil {
		return nil, err
	}
	s := &Store{conn: conn, root: prefix, codec: JSON}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Prefix returns the store's prefix.
func (s *Store) Prefix() string { return s.root }

// Path returns the znode path key maps to, or ErrBadKey.
func (s *Store) Path(key string) (string, error) { return s.path(key) }

// Codec returns the store's codec.
func (s *Store) Codec() Codec { return s.codec }

// Get decodes key's value into v (a pointer) and returns its Stat, whose
// Version is what Put and Delete compare against. It reads from the
// server the client is connected to, which may lag other clients' writes
// (never this client's own); call Conn.Sync first for a read that sees
// every write completed before it. It fails with ErrNotFound, ErrBadKey,
// ErrCodec (v is then as the codec left it) or the client's errors.
func (s *Store) Get(ctx context.Context, key string, v any) (tree.Stat, error) {
	data, st, err := s.GetBytes(ctx, key)
	if err != nil {
		return st, err
	}
	return st, decode(s.codec, key, data, v)
}

// GetBytes is Get without decoding: it returns key's raw data.
func (s *Store) GetBytes(ctx context.Context, key string) ([]byte, tree.Stat, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, tree.Stat{}, err
	}
	data, st, err := s.conn.Get(ctx, p)
	switch {
	case errors.Is(err, tree.ErrNoNode):
		return nil, tree.Stat{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	case err != nil:
		return nil, tree.Stat{}, fmt.Errorf("config: get %q: %w", key, err)
	case len(data) == 0:
		return nil, tree.Stat{}, fmt.Errorf("%w: %q (a directory)", ErrNotFound, key)
	}
	return data, st, nil
}

// Put encodes v and stores it at key if the key's version is version:
// AnyVersion stores whatever the key holds (creating it if absent),
// CreateOnly only if the key is absent, a version >= 0 only if the key
// exists at exactly that version. Missing parents are created (as empty
// persistent znodes: directories). It returns the key's new Stat.
//
// It fails with ErrConflict (the condition did not hold; nothing was
// written), ErrBadKey, ErrBadVersion, ErrCodec, ErrEmptyValue, or the
// client's errors. After a lost reply (ErrConnectionLoss) Put reads the key
// back: if it holds Put's bytes (at version+1 for a version >= 0) the put
// counts as done (even if another client wrote the same bytes); if the key
// is still as it was, Put writes again; otherwise it returns an error
// wrapping ErrIndeterminate. If ctx ends while a request is in flight, Put
// returns ctx.Err() and the write may have been applied, as with the
// client.
func (s *Store) Put(ctx context.Context, key string, v any, version int32) (tree.Stat, error) {
	data, err := encode(s.codec, key, v)
	if err != nil {
		return tree.Stat{}, err
	}
	return s.PutBytes(ctx, key, data, version)
}

// PutBytes is Put with raw data instead of a value to encode.
func (s *Store) PutBytes(ctx context.Context, key string, data []byte, version int32) (tree.Stat, error) {
	p, err := s.path(key)
	if err != nil {
		return tree.Stat{}, err
	}
	if err := checkVersion(version); err != nil {
		return tree.Stat{}, err
	}
	if len(data) == 0 {
		return tree.Stat{}, fmt.Errorf("%w: key %q", ErrEmptyValue, key)
	}
	// The fast path: one request when the key (or, for CreateOnly, its
	// parent) is there. Anything else goes through commit, which handles
	// directories, missing parents and lost replies.
	if version == CreateOnly {
		var res []client.MultiResult
		res, err = s.conn.Multi(ctx, client.CreateOp(p, data, tree.ModePersistent))
		if err == nil && len(res) == 1 {
			return res[0].Stat, nil
		}
	} else {
		var st tree.Stat
		st, err = s.conn.Set(ctx, p, data, version)
		if err == nil {
			return st, nil
		}
		if version >= 0 && (errors.Is(err, tree.ErrBadVersion) || errors.Is(err, tree.ErrNoNode)) {
			return tree.Stat{}, fmt.Errorf("%w: key %q: %w", ErrConflict, key, err)
		}
	}
	lost := errors.Is(err, client.ErrConnectionLoss)
	if !lost && !errors.Is(err, tree.ErrNoNode) && !errors.Is(err, tree.ErrNodeExists) {
		return tree.Stat{}, fmt.Errorf("config: put %q: %w", key, err)
	}
	ops := []op{{kind: opPut, key: key, path: p, data: data, version: version}}
	stats, err := s.commit(ctx, ops, lost)
	if err != nil {
		return tree.Stat{}, err
	}
	return stats[0], nil
}

// Delete removes key if its version is version (AnyVersion: any). A key
// whose znode has children (keys below it) becomes a directory: its data is
// cleared. Directories left empty by the delete are removed too, in the
// same multi. Deleting an absent key with AnyVersion does nothing and
// returns nil.
//
// It fails with ErrConflict (the key is not at version, or absent when a
// version >= 0 was given), ErrBadKey, ErrBadVersion (CreateOnly), or the
// client's errors. After a lost reply it reads back and counts an absent
// key as deleted.
func (s *Store) Delete(ctx context.Context, key string, version int32) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := checkVersion(version); err != nil {
		return err
	}
	if version == CreateOnly {
		return fmt.Errorf("%w: CreateOnly on a delete", ErrBadVersion)
	}
	_, err = s.commit(ctx, []op{{kind: opDelete, key: key, path: p, version: version}}, false)
	return err
}

// List returns the keys at and below key ("" for the whole store), sorted.
// Directories (empty znodes) are not keys. The listing is not a snapshot:
// each znode is read at its own moment. It fails with ErrBadKey or the
// client's errors (it retries after ErrConnectionLoss).
func (s *Store) List(ctx context.Context, key string) ([]string, error) {
	root, err := s.subtree(key)
	if err != nil {
		return nil, err
	}
	var v *treeView
	for {
		v, err = walk(ctx, s.conn, root, false)
		if !errors.Is(err, client.ErrConnectionLoss) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("config: list %q: %w", key, err)
	}
	var keys []string
	for p, n := range v.nodes {
		if k, ok := s.key(p); ok && n.stat.DataLength > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// recipeFinal reports whether err ends every retry: the session or client
// is gone.
func recipeFinal(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed)
}

// sameBytes reports whether a and b are equal.
func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }
