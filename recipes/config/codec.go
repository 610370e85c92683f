package config

import (
	"encoding/json"
	"fmt"
)

// Codec turns values into znode data and back. Implementations must be
// safe for concurrent use and should be deterministic (the same value gives
// the same bytes), so that Diff sees an unchanged value as unchanged.
type Codec interface {
	// Marshal encodes v. An empty result is refused with ErrEmptyValue.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a pointer.
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json. Maps are written with sorted
// keys, so equal values give equal bytes.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Raw is a Codec that stores bytes as they are: Marshal takes a []byte,
// a string or a json.RawMessage; Unmarshal fills a *[]byte (with a copy),
// a *string or a *json.RawMessage. Other types fail with an error.
var Raw Codec = rawCodec{}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return append([]byte(nil), x...), nil
	case json.RawMessage:
		return append([]byte(nil), x...), nil
	case string:
		return []byte(x), nil
	default:
		return nil, fmt.Errorf("raw codec: cannot encode %T (want []byte or string)", v)
	}
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch x := v.(type) {
	case *[]byte:
		*x = append([]byte(nil), data...)
	case *json.RawMessage:
		*x = append(json.RawMessage(nil), data...)
	case *string:
		*x = string(data)
	default:
		return fmt.Errorf("raw codec: cannot decode into %T (want *[]byte or *string)", v)
	}
	return nil
}

// encode marshals v with c, wrapping failures in ErrCodec and refusing an
// empty encoding with ErrEmptyValue.
func encode(c Codec, key string, v any) ([]byte, error) {
	data, err := c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: encode %q: %w", ErrCodec, key, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: key %q", ErrEmptyValue, key)
	}
	return data, nil
}

// decode unmarshals data into v with c, wrapping failures in ErrCodec.
func decode(c Codec, key string, data []byte, v any) error {
	if err := c.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decode %q: %w", ErrCodec, key, err)
	}
	return nil
}
