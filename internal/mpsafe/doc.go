// Package mpsafe checks a msgpack body for hostile length claims before it is
// decoded.
//
// msgpack decoders allocate what a length field claims: a 5-byte body can
// claim an array of 2^31 elements. Check walks a body once, without
// allocating, and rejects any array, map, str, bin or ext whose claimed length
// cannot fit in the bytes that are left, nesting deeper than a bound, a
// truncated value, a reserved type byte, and trailing bytes after the value.
// Every decoder in zabkit that reads bytes from a socket or a file calls Check
// first and then decodes into a typed struct.
//
// It imports nothing from zabkit and may be imported by any package.
package mpsafe
