package transport

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/broadcast"
)

// fill sets v, and everything inside it, to non-zero values that differ
// from field to field. It fails the test on a kind it does not know, so a
// field of a new shape added to broadcast.Message is noticed.
func fill(t testing.TB, v reflect.Value, seed *uint64) {
	t.Helper()
	*seed++
	switch v.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		// Alternate small and wide values to exercise every encoding.
		x := *seed
		if x%2 == 0 {
			x = x<<40 | x
		}
		v.SetUint(x) // reflect truncates to the field's width
		if v.Uint() == 0 {
			v.SetUint(1)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), seed)
		}
	case reflect.Slice:
		n := 3
		s := reflect.MakeSlice(v.Type(), n, n)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			for i := range n {
				s.Index(i).SetUint(uint64(byte(*seed) + byte(i) + 1))
			}
		} else {
			for i := range n {
				fill(t, s.Index(i), seed)
			}
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), seed)
		v.Set(p)
	default:
		t.Fatalf("fill: no support for kind %s (%s): teach the codec and this test the new field", v.Kind(), v.Type())
	}
}

// fullMessage returns a Message with every field set.
func fullMessage(t testing.TB) broadcast.Message {
	var m broadcast.Message
	seed := uint64(0)
	fill(t, reflect.ValueOf(&m).Elem(), &seed)
	m.Type = broadcast.MsgNewLeader // valid values for the enums
	m.State = broadcast.StateObserving
	return m
}

func roundTrip(t *testing.T, m *broadcast.Message) broadcast.Message {
	t.Helper()
	b, err := AppendMessage(nil, m)
	require.NoError(t, err)
	var got broadcast.Message
	require.NoError(t, DecodeMessage(b, &got))
	return got
}

func TestEveryMessageFieldRoundTrips(t *testing.T) {
	m := fullMessage(t)
	typ := reflect.TypeOf(m)
	full := reflect.ValueOf(m)
	for i := range typ.NumField() {
		require.Falsef(t, full.Field(i).IsZero(), "field %s was not filled", typ.Field(i).Name)
	}
	assert.Equal(t, m, roundTrip(t, &m), "every field at once")

	// Each field alone, so that one field cannot stand in for another.
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			one := broadcast.Message{Type: broadcast.MsgPing}
			reflect.ValueOf(&one).Elem().Field(i).Set(full.Field(i))
			assert.Equal(t, one, roundTrip(t, &one))
		})
	}
}

func TestCodecEdgeValues(t *testing.T) {
	for _, m := range []broadcast.Message{
		{Type: broadcast.MsgAck, From: 1, To: 2, Zxid: broadcast.MakeZxid(1, 1)},
		{Type: broadcast.MsgPingResp, From: ^uint64(0), To: 1 << 32, Round: 0xffff, Session: 0x10000, Epoch: 0xff, Commit: 0x100},
		{Type: broadcast.MsgProposal, Entries: []broadcast.Entry{{Zxid: 5}, {Zxid: 6, Data: bytes.Repeat([]byte{7}, 70000)}}},
		{Type: broadcast.MsgNewLeader, Snapshot: &broadcast.Snapshot{}},
		{Type: broadcast.MsgAckEpoch, Epochs: make([]broadcast.Zxid, 70000)},
	} {
		assert.Equal(t, m, roundTrip(t, &m))
	}
}

func TestEmptyListsDecodeAsNil(t *testing.T) {
	m := broadcast.Message{Type: broadcast.MsgVote, Epochs: []broadcast.Zxid{}, Entries: []broadcast.Entry{}}
	got := roundTrip(t, &m)
	assert.Nil(t, got.Epochs)
	assert.Nil(t, got.Entries)
}

func TestDecodedDataDoesNotAliasTheBody(t *testing.T) {
	m := broadcast.Message{
		Type:     broadcast.MsgNewLeader,
		Entries:  []broadcast.Entry{{Zxid: 1, Data: []byte("one")}, {Zxid: 2, Data: []byte("two")}},
		Snapshot: &broadcast.Snapshot{Zxid: 3, Data: []byte("snap")},
	}
	b, err := AppendMessage(nil, &m)
	require.NoError(t, err)
	var got broadcast.Message
	require.NoError(t, DecodeMessage(b, &got))
	clear(b)
	assert.Equal(t, m, got)
	// Appending to one entry's data must not overwrite the next one's.
	_ = append(got.Entries[0].Data, 'X')
	assert.Equal(t, []byte("two"), got.Entries[1].Data)
}

func TestDecodeRejects(t *testing.T) {
	valid, err := AppendMessage(nil, &broadcast.Message{Type: broadcast.MsgAck, From: 1, To: 2})
	require.NoError(t, err)
	hdr := 3 // 18 fields: an array16 header
	require.Equal(t, byte(0xdc), valid[0])
	patch := func(i int, v byte) []byte {
		b := bytes.Clone(valid)
		b[hdr+i] = v
		return b
	}
	cases := map[string][]byte{
		"empty":          {},
		"not an array":   {0x01},
		"short array":    {0x91, 0x01},
		"version 2":      patch(0, 2),
		"type 0":         patch(1, 0),
		"type 127":       patch(1, 0x7f),
		"bad bool":       patch(11, 0x01),
		"negative int":   patch(2, 0xff),
		"trailing bytes": append(bytes.Clone(valid), 0),
		"huge claim":     {0xdd, 0x7f, 0xff, 0xff, 0xff},
		"bad entries":    append(bytes.Clone(valid[:len(valid)-2]), 0x91, 0xc0),
		"bad snapshot":   append(bytes.Clone(valid[:len(valid)-1]), 0x93, 0x01, 0xc4, 0x00, 0x01),
		"state 9":        patch(8, 9),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var m broadcast.Message
			err := DecodeMessage(b, &m)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, broadcast.Message{}, m, "m is left zero")
		})
	}
}

func TestAppendMessageDoesNotAllocate(t *testing.T) {
	m := proposal(128)
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = AppendMessage(buf[:0], &m)
		if err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestDecodeProposalAllocations(t *testing.T) {
	m := proposal(128)
	b, err := AppendMessage(nil, &m)
	require.NoError(t, err)
	var got broadcast.Message
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeMessage(b, &got); err != nil {
			t.Fatal(err)
		}
	})
	// The Entries slice and the data copy.
	assert.LessOrEqual(t, allocs, 2.0)

	// The reader's path: a new Message per packet, sharing its allocation
	// with the single Entry, and the data copy.
	var sunk *broadcast.Message
	allocs = testing.AllocsPerRun(100, func() {
		if sunk, err = decodePacket(b, false); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0)
	assert.Equal(t, m, *sunk)
}

func proposal(size int) broadcast.Message {
	return broadcast.Message{
		Type: broadcast.MsgProposal, From: 1, To: 2, Session: 0x1234_5678_9abc,
		Epoch: 7, Zxid: broadcast.MakeZxid(7, 41), Commit: broadcast.MakeZxid(7, 39),
		Entries: []broadcast.Entry{{Zxid: broadcast.MakeZxid(7, 42), Data: bytes.Repeat([]byte{'x'}, size)}},
	}
}

func ack() broadcast.Message {
	return broadcast.Message{Type: broadcast.MsgAck, From: 2, To: 1, Session: 0x1234_5678_9abc, Epoch: 7, Zxid: broadcast.MakeZxid(7, 42)}
}
