package suitest

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// Address is a Sui address or object ID: 32 bytes.
type Address [32]byte

// String is the canonical form: 0x and 64 lowercase hex digits.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// MarshalText makes Address a JSON map key in the state file.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText accepts what ParseAddress accepts.
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAddress accepts 0x followed by 1 to 64 hex digits (short forms
// such as 0x2 are left-padded with zeros, as Sui does).
func ParseAddress(s string) (Address, error) {
	var a Address
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) == 0 || len(h) > 64 {
		return a, fmt.Errorf("suitest: address %q: want 0x and 1 to 64 hex digits", s)
	}
	if len(h)%2 == 1 {
		h = "0" + h
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return a, fmt.Errorf("suitest: address %q: %w", s, err)
	}
	copy(a[32-len(b):], b)
	return a, nil
}

// Digest is a 32-byte transaction, object or chain digest.
type Digest [32]byte

// String is the base58 form the API uses.
func (d Digest) String() string { return base58.Encode(d[:]) }

// MarshalText stores digests as base58 in the state file.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses base58.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDigest parses the base58 form of a 32-byte digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := base58.Decode(s)
	if err != nil {
		return d, fmt.Errorf("suitest: digest %q: %w", s, err)
	}
	if len(b) != 32 {
		return d, fmt.Errorf("suitest: digest %q is %d bytes, want 32", s, len(b))
	}
	copy(d[:], b)
	return d, nil
}

// addrTwo is the Sui framework package.
var addrTwo = mustAddr("0x2")

func mustAddr(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// TypeTag kinds, in BCS variant order.
const (
	tagBool = iota
	tagU8
	tagU64
	tagU128
	tagAddress
	tagSigner
	tagVector
	tagStruct
	tagU16
	tagU32
	tagU256
	numTags
)

var primNames = [...]string{
	tagBool: "bool", tagU8: "u8", tagU64: "u64", tagU128: "u128", tagAddress: "address",
	tagSigner: "signer", tagU16: "u16", tagU32: "u32", tagU256: "u256",
}

// maxTypeDepth bounds type nesting, in decoding and parsing alike.
const maxTypeDepth = 16

// TypeTag is a Move type.
type TypeTag struct {
	Kind   uint8
	Elem   *TypeTag   // vector element
	Struct *StructTag // struct
}

// StructTag names a Move struct with its type arguments.
type StructTag struct {
	Address Address
	Module  string
	Name    string
	Params  []TypeTag
}

// String renders the type with full 64-hex-digit addresses, the form the
// gRPC API uses in object types.
func (t TypeTag) String() string {
	switch t.Kind {
	case tagVector:
		if t.Elem == nil {
			return "vector<?>"
		}
		return "vector<" + t.Elem.String() + ">"
	case tagStruct:
		if t.Struct == nil {
			return "?"
		}
		return t.Struct.String()
	default:
		if int(t.Kind) < len(primNames) && primNames[t.Kind] != "" {
			return primNames[t.Kind]
		}
		return fmt.Sprintf("typetag(%d)", t.Kind)
	}
}

func (s StructTag) String() string {
	var b strings.Builder
	b.WriteString(s.Address.String())
	b.WriteString("::")
	b.WriteString(s.Module)
	b.WriteString("::")
	b.WriteString(s.Name)
	if len(s.Params) > 0 {
		b.WriteByte('<')
		for i, p := range s.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.String())
		}
		b.WriteByte('>')
	}
	return b.String()
}

// structType makes a struct TypeTag.
func structType(addr Address, module, name string, params ...TypeTag) TypeTag {
	return TypeTag{Kind: tagStruct, Struct: &StructTag{Address: addr, Module: module, Name: name, Params: params}}
}

// sameType compares two type tags structurally.
func sameType(a, b TypeTag) bool { return a.String() == b.String() }

// ParseType parses a Move type such as "0x2::coin::Coin<0x2::sui::SUI>"
// or "vector<u8>". Addresses may be short.
func ParseType(s string) (TypeTag, error) {
	p := typeParser{s: s}
	t := p.parse(0)
	p.space()
	if p.err == nil && p.i != len(p.s) {
		p.err = fmt.Errorf("unexpected %q", p.s[p.i:])
	}
	if p.err != nil {
		return TypeTag{}, fmt.Errorf("suitest: type %q: %w", s, p.err)
	}
	return t, nil
}

type typeParser struct {
	s   string
	i   int
	err error
}

func (p *typeParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *typeParser) ident() string {
	p.space()
	j := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			p.i++
			continue
		}
		break
	}
	if j == p.i && p.err == nil {
		p.err = fmt.Errorf("identifier expected at offset %d", j)
	}
	return p.s[j:p.i]
}

func (p *typeParser) expect(tok string) {
	p.space()
	if p.err == nil && !strings.HasPrefix(p.s[p.i:], tok) {
		p.err = fmt.Errorf("%q expected at offset %d", tok, p.i)
		return
	}
	p.i += len(tok)
}

func (p *typeParser) parse(depth int) TypeTag {
	if depth > maxTypeDepth {
		p.err = fmt.Errorf("nested deeper than %d", maxTypeDepth)
		return TypeTag{}
	}
	word := p.ident()
	if p.err != nil {
		return TypeTag{}
	}
	for k, n := range primNames {
		if n != "" && n == word {
			return TypeTag{Kind: uint8(k)}
		}
	}
	if word == "vector" {
		p.expect("<")
		e := p.parse(depth + 1)
		p.expect(">")
		return TypeTag{Kind: tagVector, Elem: &e}
	}
	addr, err := ParseAddress(word)
	if err != nil {
		p.err = err
		return TypeTag{}
	}
	p.expect("::")
	mod := p.ident()
	p.expect("::")
	name := p.ident()
	st := &StructTag{Address: addr, Module: mod, Name: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '<' {
		p.i++
		for p.err == nil {
			st.Params = append(st.Params, p.parse(depth+1))
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			p.expect(">")
			break
		}
	}
	return TypeTag{Kind: tagStruct, Struct: st}
}

func decodeTypeTag(r *reader, depth int) TypeTag {
	if depth > maxTypeDepth {
		r.failf("type nested deeper than %d", maxTypeDepth)
		return TypeTag{}
	}
	k := uint8(r.variant("TypeTag", numTags))
	t := TypeTag{Kind: k}
	switch k {
	case tagVector:
		e := decodeTypeTag(r, depth+1)
		t.Elem = &e
	case tagStruct:
		st := &StructTag{Address: r.addr(), Module: r.str(), Name: r.str()}
		n := r.length()
		for i := 0; i < n && r.err == nil; i++ {
			st.Params = append(st.Params, decodeTypeTag(r, depth+1))
		}
		t.Struct = st
	}
	return t
}

func encodeTypeTag(w *writer, t TypeTag) {
	w.uleb(uint32(t.Kind))
	switch t.Kind {
	case tagVector:
		encodeTypeTag(w, *t.Elem)
	case tagStruct:
		w.addr(t.Struct.Address)
		w.str(t.Struct.Module)
		w.str(t.Struct.Name)
		w.uleb(uint32(len(t.Struct.Params)))
		for _, p := range t.Struct.Params {
			encodeTypeTag(w, p)
		}
	}
}
