package strictjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// shape is what a request body's Go type says of a JSON value: a request
// object with its field names, an array of such objects, or nil for
// anything else (a payload, a result, a scalar).
type shape struct {
	fields map[string]*shape // a request object
	elem   *shape            // an array of request objects
}

var shapes sync.Map // reflect.Type → *shape

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// shapeOf returns the shape of values decoded into t, computed once per
// type.
func shapeOf(t reflect.Type) *shape {
	if t == nil {
		return nil
	}
	if v, ok := shapes.Load(t); ok {
		return v.(*shape)
	}
	sh := buildShape(t)
	shapes.Store(t, sh)
	return sh
}

func buildShape(t reflect.Type) *shape {
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil // decodes itself: a payload, a number, a patch field
	}
	switch t.Kind() {
	case reflect.Pointer:
		return buildShape(t.Elem())
	case reflect.Slice, reflect.Array:
		if elem := buildShape(t.Elem()); elem != nil {
			return &shape{elem: elem}
		}
		return nil
	case reflect.Struct:
		sh := &shape{fields: map[string]*shape{}}
		addFields(sh, t)
		return sh
	}
	return nil
}

// addFields adds the JSON fields of struct t, those of embedded structs
// included, as encoding/json sees them.
func addFields(sh *shape, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(sh, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		sh.fields[name] = buildShape(f.Type)
	}
}
