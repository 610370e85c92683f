package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/internal/mpsafe"
)

// EncodePeerStatus returns the msgpack body of st, for
// ConnectResponse.Status. It fails only if st cannot be encoded.
func EncodePeerStatus(st *PeerStatus) ([]byte, error) {
	b, err := msgpack.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding peer status: %w", ErrMarshalling, err)
	}
	return b, nil
}

// DecodePeerStatus decodes a ConnectResponse.Status body into st, after
// checking it for hostile lengths. It returns an error wrapping
// ErrMarshalling for a malformed body.
func DecodePeerStatus(b []byte, st *PeerStatus) error {
	*st = PeerStatus{}
	if err := mpsafe.Check(b); err != nil {
		return fmt.Errorf("%w: peer status: %w", ErrMarshalling, err)
	}
	if err := msgpack.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%w: peer status: %w", ErrMarshalling, err)
	}
	return nil
}
