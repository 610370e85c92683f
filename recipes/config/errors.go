package config

import "errors"

// Sentinel errors. Compare with errors.Is; the methods wrap them with the
// key or path concerned.
var (
	// ErrNotFound: the key holds no value. Returned by Store.Get,
	// Store.GetBytes, Cache.Get and Cache.GetBytes.
	ErrNotFound = errors.New("config: key not found")

	// ErrConflict: a compare-and-set did not hold: the key was not at the
	// version the call required (AnyVersion aside), existed when
	// CreateOnly required it absent, or was absent when a version was
	// required. Nothing was written. Returned by Store.Put, Store.Delete,
	// Store.PutAll, Store.Apply and Store.Push.
	ErrConflict = errors.New("config: version conflict")

	// ErrBadKey: a key is not a relative path of valid znode names
	// ("db/url": no leading or trailing slash, no empty, "." or ".."
	// element), or a prefix or counter path is not a valid absolute path.
	// Returned by every call that takes a key or path, before anything is
	// sent.
	ErrBadKey = errors.New("config: bad key")

	// ErrEmptyValue: a value encoded to zero bytes. An empty znode is a
	// directory, not a key (see the package doc), so Put refuses it.
	// Returned by Store.Put, Store.PutAll, Store.Diff and Store.Push.
	ErrEmptyValue = errors.New("config: value encodes to zero bytes")

	// ErrCodec: the codec could not encode or decode a value; it wraps
	// the codec's own error. Returned by the calls that encode (Put,
	// PutAll, Diff, Push) or decode (Get, Cache.Get, Change.Decode).
	ErrCodec = errors.New("config: codec")

	// ErrBadVersion: a version argument is neither AnyVersion, CreateOnly
	// nor a version >= 0, or it makes no sense for the call (CreateOnly
	// on a delete). Returned by Store.Put, Store.Delete, Store.PutAll and
	// Counter.CompareAndSet before anything is sent.
	ErrBadVersion = errors.New("config: bad version argument")

	// ErrIndeterminate: a write's reply was lost (connection loss, the
	// session ending, or ctx ending while the request was in flight) and
	// the call could not tell from the server whether it was applied. It
	// may or may not have been; it wraps the error that lost the reply.
	// Returned by Counter.Add and Counter.CompareAndSet (see Counter for
	// when), and by Store.PutAll, Store.Apply and Store.Push when the
	// state after a lost reply is neither theirs nor the one they started
	// from.
	ErrIndeterminate = errors.New("config: outcome unknown after a lost reply")

	// ErrCounterData: the counter's znode holds data that is neither a
	// decimal integer nor the counter's JSON record. Returned by Counter
	// methods.
	ErrCounterData = errors.New("config: counter node holds foreign data")

	// ErrOverflow: Counter.Add would overflow int64. Nothing was written.
	ErrOverflow = errors.New("config: counter overflow")

	// ErrClosed: the Cache was closed. Cache.Err returns it after Close.
	ErrClosed = errors.New("config: cache closed")
)
