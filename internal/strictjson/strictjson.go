// Package strictjson refuses the JSON that encoding/json reads too kindly:
// an object with the same key twice (encoding/json keeps the last) or with
// keys that differ only in case (encoding/json matches struct fields
// case-insensitively, so "RESULT_CODE" can stand in for "result_code").
// For a gateway's answer or a cash register's request both are ambiguous,
// and an ambiguous answer about money is no answer.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// ErrAmbiguous is wrapped by every error Check reports about a key.
var ErrAmbiguous = errors.New("ambiguous JSON")

// Unmarshal is json.Unmarshal after Check.
func Unmarshal(data []byte, v any) error {
	if err := Check(data, v); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// Check reads data as the JSON of a value of v's type (v is typically the
// pointer that will be decoded into) and reports an error wrapping
// ErrAmbiguous for the first object that repeats a key, repeats it in
// another case, or names a struct field in a case other than the field's
// own. Syntax errors are returned as encoding/json reports them. Keys that
// match no field are not Check's concern: the caller decides whether
// unknown fields are allowed.
func Check(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var t reflect.Type
	if v != nil {
		t = reflect.TypeOf(v)
	}
	return walk(dec, t, "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// deref strips pointers; a type that decodes itself (json.Unmarshaler)
// is treated as opaque: only duplicates are checked inside it.
func deref(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
			t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

func walk(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	t = deref(t)
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = structFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := make(map[string]string)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			where := path + "." + key
			f := fold(key)
			if prev, dup := seen[f]; dup {
				if prev == key {
					return fmt.Errorf("%w: key %q appears twice in %s", ErrAmbiguous, key, orTop(path))
				}
				return fmt.Errorf("%w: keys %q and %q differ only in case in %s", ErrAmbiguous, prev, key, orTop(path))
			}
			seen[f] = key
			sub := elem
			if fields != nil {
				if ft, exact := fields[key]; exact {
					sub = ft
				} else {
					for name := range fields {
						if fold(name) == f {
							return fmt.Errorf("%w: key %q must be spelled %q", ErrAmbiguous, where[1:], name)
						}
					}
				}
			}
			if err := walk(dec, sub, where); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walk(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

func orTop(path string) string {
	if path == "" {
		return "the top-level object"
	}
	return path[1:]
}

// structFields returns the JSON names of t's fields as encoding/json sees
// them (tags, untagged exported fields, embedded structs' fields).
func structFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range structFields(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// fold maps s to one representative of its case-insensitive class, the
// same classes encoding/json's field matching uses (simple Unicode
// folding: "K", "k" and the Kelvin sign are one).
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}
