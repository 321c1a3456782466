package dag

import (
	"bytes"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Every encoding in this package is RFC 8949 core deterministic CBOR, made by
// fxamacker/cbor with CoreDetEncOptions from Go structs with integer map keys.
// Decoding is strict: limits on sizes and nesting, no duplicate keys, no
// indefinite lengths, no tags, no unknown fields, valid UTF-8; then the value
// is re-encoded and must reproduce the input byte for byte, which rejects
// every other non-canonical form (unsorted keys, non-minimal integers,
// explicit zero/empty fields that the canonical form omits, ...).
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxCBORDepth + 8, // the library's minimum is 4; depth is re-checked by canonical re-encoding
		MaxArrayElements:  maxCBORItems,
		MaxMapPairs:       maxCBORItems,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// decodeCanonical decodes b into v strictly and checks that b is the
// canonical encoding of v. max bounds len(b).
func decodeCanonical(what string, b []byte, v any, max int) error {
	if err := decodeStrict(what, b, v, max); err != nil {
		return err
	}
	re, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("decoding %s: re-encoding: %v: %w", what, err, ErrMalformed)
	}
	if !bytes.Equal(re, b) {
		return fmt.Errorf("decoding %s: %w", what, ErrNonCanonical)
	}
	return nil
}

// decodeStrict is decodeCanonical without the re-encoding that proves b
// canonical: for bytes already proven so, such as a node read back from
// the store whose bytes hash to the ID it was applied under.
func decodeStrict(what string, b []byte, v any, max int) error {
	if len(b) > max {
		return fmt.Errorf("decoding %s: %d bytes, limit %d: %w", what, len(b), max, ErrTooLarge)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		kind := ErrMalformed
		switch err.(type) {
		case *cbor.ExtraneousDataError, *cbor.DupMapKeyError, *cbor.IndefiniteLengthError:
			kind = ErrNonCanonical
		case *cbor.MaxArrayElementsError, *cbor.MaxMapPairsError, *cbor.MaxNestedLevelError:
			kind = ErrTooLarge
		}
		return fmt.Errorf("decoding %s: %v: %w", what, err, kind)
	}
	return nil
}
