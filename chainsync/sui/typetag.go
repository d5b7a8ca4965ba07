package sui

import (
	"fmt"
	"strings"
)

// TypeTag is a Move type, as transactions name type arguments and objects
// name their types.
type TypeTag struct {
	Kind   TypeKind
	Elem   *TypeTag   // for KindVector
	Struct *StructTag // for KindStruct
}

// TypeKind is a TypeTag's variant, numbered as BCS numbers them.
type TypeKind uint8

const (
	KindBool TypeKind = iota
	KindU8
	KindU64
	KindU128
	KindAddress
	KindSigner
	KindVector
	KindStruct
	KindU16
	KindU32
	KindU256
)

var primitiveTypes = map[string]TypeKind{
	"bool": KindBool, "u8": KindU8, "u16": KindU16, "u32": KindU32, "u64": KindU64,
	"u128": KindU128, "u256": KindU256, "address": KindAddress, "signer": KindSigner,
}

// StructTag is a struct type: address::module::Name<params>.
type StructTag struct {
	Address    Address
	Module     string
	Name       string
	TypeParams []TypeTag
}

// ParseTypeTag reads a Move type such as "u64", "vector<u8>" or
// "0x2::coin::Coin<0x…::wal::WAL>".
func ParseTypeTag(s string) (TypeTag, error) {
	p := typeParser{s: s}
	t := p.parse()
	if p.err == nil && strings.TrimSpace(p.s[p.pos:]) != "" {
		p.err = fmt.Errorf("unexpected %q", p.s[p.pos:])
	}
	if p.err != nil {
		return TypeTag{}, fmt.Errorf("sui: type %q: %w", s, p.err)
	}
	return t, nil
}

// MustTypeTag is ParseTypeTag for constants; it panics on a bad string.
func MustTypeTag(s string) TypeTag {
	t, err := ParseTypeTag(s)
	if err != nil {
		panic(err)
	}
	return t
}

// StructType returns the struct type addr::module::name<params>.
func StructType(addr Address, module, name string, params ...TypeTag) TypeTag {
	return TypeTag{Kind: KindStruct, Struct: &StructTag{Address: addr, Module: module, Name: name, TypeParams: params}}
}

type typeParser struct {
	s   string
	pos int
	err error
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

// word reads up to the next delimiter of the type grammar.
func (p *typeParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune("<>, :", rune(p.s[p.pos])) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *typeParser) expect(tok string) {
	p.skipSpace()
	if p.err == nil && !strings.HasPrefix(p.s[p.pos:], tok) {
		p.err = fmt.Errorf("expected %q at offset %d", tok, p.pos)
	}
	p.pos += len(tok)
}

func (p *typeParser) parse() TypeTag {
	if p.err != nil {
		return TypeTag{}
	}
	w := p.word()
	if k, ok := primitiveTypes[w]; ok {
		return TypeTag{Kind: k}
	}
	if w == "vector" {
		p.expect("<")
		elem := p.parse()
		p.expect(">")
		return TypeTag{Kind: KindVector, Elem: &elem}
	}
	addr, err := ParseAddress(w)
	if err != nil {
		p.err = fmt.Errorf("%q is neither a primitive type nor an address", w)
		return TypeTag{}
	}
	p.expect("::")
	module := p.word()
	p.expect("::")
	name := p.word()
	if module == "" || name == "" {
		p.err = fmt.Errorf("empty module or struct name at offset %d", p.pos)
	}
	st := &StructTag{Address: addr, Module: module, Name: name}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '<' {
		p.pos++
		for p.err == nil {
			st.TypeParams = append(st.TypeParams, p.parse())
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			p.expect(">")
			break
		}
	}
	return TypeTag{Kind: KindStruct, Struct: st}
}

// String writes the type with full 64-digit addresses, the form gRPC
// returns in object types.
func (t TypeTag) String() string {
	switch t.Kind {
	case KindVector:
		return "vector<" + t.Elem.String() + ">"
	case KindStruct:
		var b strings.Builder
		b.WriteString(t.Struct.Address.String() + "::" + t.Struct.Module + "::" + t.Struct.Name)
		if len(t.Struct.TypeParams) > 0 {
			b.WriteByte('<')
			for i, p := range t.Struct.TypeParams {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(p.String())
			}
			b.WriteByte('>')
		}
		return b.String()
	}
	for name, k := range primitiveTypes {
		if k == t.Kind {
			return name
		}
	}
	return fmt.Sprintf("TypeTag(%d)", t.Kind)
}

// Equal reports whether t and u are the same type.
func (t TypeTag) Equal(u TypeTag) bool { return t.String() == u.String() }

func (w *bcsWriter) typeTag(t TypeTag) {
	w.uleb128(uint64(t.Kind))
	switch t.Kind {
	case KindVector:
		w.typeTag(*t.Elem)
	case KindStruct:
		w.fixed(t.Struct.Address[:])
		w.str(t.Struct.Module)
		w.str(t.Struct.Name)
		w.uleb128(uint64(len(t.Struct.TypeParams)))
		for _, p := range t.Struct.TypeParams {
			w.typeTag(p)
		}
	}
}

// maxTypeDepth bounds type nesting read from untrusted bytes.
const maxTypeDepth = 16

func (r *bcsReader) typeTag(depth int) TypeTag {
	if depth > maxTypeDepth {
		r.fail(fmt.Errorf("sui: bcs: type nested deeper than %d", maxTypeDepth))
		return TypeTag{}
	}
	k := TypeKind(r.variant("TypeTag", uint64(KindU256)+1))
	t := TypeTag{Kind: k}
	switch k {
	case KindVector:
		e := r.typeTag(depth + 1)
		t.Elem = &e
	case KindStruct:
		st := &StructTag{Address: r.address(), Module: r.str(), Name: r.str()}
		n := r.length(1)
		for range n {
			st.TypeParams = append(st.TypeParams, r.typeTag(depth+1))
		}
		t.Struct = st
	}
	return t
}
