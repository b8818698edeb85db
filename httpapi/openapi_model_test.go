package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The subset of OpenAPI 3.1 that openapi.json uses. It is decoded strictly,
// so that a misspelt key, or a key where the specification has none, fails
// the tests instead of being ignored by every tool that reads the document.
// A field the document needs and this model lacks is added here after a
// look at the specification (https://spec.openapis.org/oas/v3.1.1).
type oaDocument struct {
	OpenAPI    string                 `json:"openapi"`
	Info       oaInfo                 `json:"info"`
	Servers    []oaServer             `json:"servers"`
	Security   []map[string][]string  `json:"security"`
	Tags       []oaTag                `json:"tags"`
	Paths      map[string]*oaPathItem `json:"paths"`
	Components oaComponents           `json:"components"`
}

type oaInfo struct {
	Title       string     `json:"title"`
	Version     string     `json:"version"`
	Summary     string     `json:"summary"`
	Description string     `json:"description"`
	License     *oaLicense `json:"license"`
}

type oaLicense struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	Identifier string `json:"identifier"`
}

type oaServer struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type oaPathItem struct {
	Summary     string         `json:"summary"`
	Description string         `json:"description"`
	Parameters  []*oaParameter `json:"parameters"`
	Get         *oaOperation   `json:"get"`
	Put         *oaOperation   `json:"put"`
	Post        *oaOperation   `json:"post"`
	Delete      *oaOperation   `json:"delete"`
	Options     *oaOperation   `json:"options"`
	Head        *oaOperation   `json:"head"`
	Patch       *oaOperation   `json:"patch"`
	Trace       *oaOperation   `json:"trace"`
}

// operations returns the path's operations by HTTP method.
func (p *oaPathItem) operations() map[string]*oaOperation {
	ops := map[string]*oaOperation{}
	for method, op := range map[string]*oaOperation{
		http.MethodGet: p.Get, http.MethodPut: p.Put, http.MethodPost: p.Post, http.MethodDelete: p.Delete,
		http.MethodOptions: p.Options, http.MethodHead: p.Head, http.MethodPatch: p.Patch, http.MethodTrace: p.Trace,
	} {
		if op != nil {
			ops[method] = op
		}
	}
	return ops
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Roles       []string               `json:"x-roles"`
	Parameters  []*oaParameter         `json:"parameters"`
	RequestBody *oaRequestBody         `json:"requestBody"`
	Responses   map[string]*oaResponse `json:"responses"`
	Security    *[]map[string][]string `json:"security"`
}

type oaParameter struct {
	Ref         string                `json:"$ref"`
	Name        string                `json:"name"`
	In          string                `json:"in"`
	Description string                `json:"description"`
	Required    bool                  `json:"required"`
	Schema      json.RawMessage       `json:"schema"`
	Examples    map[string]*oaExample `json:"examples"`
}

type oaRequestBody struct {
	Ref         string                  `json:"$ref"`
	Description string                  `json:"description"`
	Required    bool                    `json:"required"`
	Content     map[string]*oaMediaType `json:"content"`
}

type oaMediaType struct {
	Schema   json.RawMessage       `json:"schema"`
	Examples map[string]*oaExample `json:"examples"`
}

type oaResponse struct {
	Ref         string                  `json:"$ref"`
	Description string                  `json:"description"`
	Headers     map[string]*oaHeader    `json:"headers"`
	Content     map[string]*oaMediaType `json:"content"`
}

type oaHeader struct {
	Ref         string          `json:"$ref"`
	Description string          `json:"description"`
	Required    bool            `json:"required"`
	Schema      json.RawMessage `json:"schema"`
}

type oaExample struct {
	Summary     string          `json:"summary"`
	Description string          `json:"description"`
	Value       json.RawMessage `json:"value"`
}

type oaComponents struct {
	SecuritySchemes map[string]*oaSecurityScheme `json:"securitySchemes"`
	Parameters      map[string]*oaParameter      `json:"parameters"`
	Headers         map[string]*oaHeader         `json:"headers"`
	RequestBodies   map[string]*oaRequestBody    `json:"requestBodies"`
	Responses       map[string]*oaResponse       `json:"responses"`
	Schemas         map[string]json.RawMessage   `json:"schemas"`
}

type oaSecurityScheme struct {
	Type        string `json:"type"`
	Scheme      string `json:"scheme"`
	Description string `json:"description"`
}

// openapiSpec is the embedded document, decoded twice: into the model
// above, and as a JSON Schema resource whose schemas compile by pointer.
type openapiSpec struct {
	doc      *oaDocument
	generic  any // the document as encoding/json decodes it into any
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

// specURL names the document for the schema compiler; it is never fetched.
const specURL = "mem:///openapi.json"

// loadSpec decodes the embedded document, failing t on any unknown key.
func loadSpec(t testing.TB) *openapiSpec {
	t.Helper()
	var doc oaDocument
	dec := json.NewDecoder(bytes.NewReader(openapiJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json does not decode strictly into the OpenAPI model of openapi_model_test.go: %v", err)
	}
	var generic any
	if err := json.Unmarshal(openapiJSON, &generic); err != nil {
		t.Fatal(err)
	}
	// encoding/json matches keys without regard to case; OpenAPI does not.
	if err := exactKeys(generic, reflect.TypeOf(doc), "#"); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// OpenAPI 3.1 leaves format assertion to the tool; the views promise
	// RFC 3339 times, so date-time is checked.
	c.AssertFormat()
	if err := c.AddResource(specURL, inst); err != nil {
		t.Fatal(err)
	}
	return &openapiSpec{doc: &doc, generic: generic, compiler: c, compiled: map[string]*jsonschema.Schema{}}
}

// exactKeys requires every key of v to be spelt exactly as the json tag of
// the model's field it decoded into.
func exactKeys(v any, typ reflect.Type, ptr string) error {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == reflect.TypeOf(json.RawMessage(nil)) {
		return nil // schemas and example values: checked on their own
	}
	switch c := v.(type) {
	case map[string]any:
		switch typ.Kind() {
		case reflect.Map:
			for k, e := range c {
				if err := exactKeys(e, typ.Elem(), ptr+pointer(k)[1:]); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			for i := range typ.NumField() {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				fields[name] = typ.Field(i).Type
			}
			for k, e := range c {
				ft, ok := fields[k]
				if !ok {
					return fmt.Errorf("%s: key %q is not spelt as the OpenAPI specification spells it", ptr, k)
				}
				if err := exactKeys(e, ft, ptr+pointer(k)[1:]); err != nil {
					return err
				}
			}
		}
	case []any:
		if typ.Kind() == reflect.Slice {
			for i, e := range c {
				if err := exactKeys(e, typ.Elem(), ptr+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pointer builds the JSON pointer fragment of a location in the document.
func pointer(tokens ...string) string {
	var b strings.Builder
	b.WriteString("#")
	for _, tok := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return b.String()
}

// schema compiles the schema at ptr (a fragment such as
// "#/components/schemas/Job"); compiling checks it against the JSON Schema
// 2020-12 metaschema and resolves its $refs.
func (s *openapiSpec) schema(ptr string) (*jsonschema.Schema, error) {
	if sch, ok := s.compiled[ptr]; ok {
		return sch, nil
	}
	// The fragment is part of a URL: braces of path templates are escaped.
	u := specURL + strings.NewReplacer("{", "%7B", "}", "%7D", " ", "%20").Replace(ptr)
	sch, err := s.compiler.Compile(u)
	if err != nil {
		return nil, err
	}
	s.compiled[ptr] = sch
	return sch, nil
}

// validate checks a JSON text against the schema at ptr.
func (s *openapiSpec) validate(ptr string, doc []byte) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(inst)
}

// at returns the generic value at a JSON pointer fragment.
func (s *openapiSpec) at(ptr string) (any, error) {
	if ptr == "#" {
		return s.generic, nil
	}
	if !strings.HasPrefix(ptr, "#/") {
		return nil, fmt.Errorf("%q is not a pointer into this document", ptr)
	}
	v := s.generic
	for _, tok := range strings.Split(ptr[2:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%s: no %q", ptr, tok)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%s: no index %q", ptr, tok)
			}
			v = c[i]
		default:
			return nil, fmt.Errorf("%s: %q is inside a scalar", ptr, tok)
		}
	}
	return v, nil
}

// operation is one path and method of the document, where it is and what
// it says.
type operation struct {
	path, method string
	op           *oaOperation
	item         *oaPathItem
}

// ptr is the operation's location in the document.
func (o operation) ptr(tokens ...string) string {
	return pointer(append([]string{"paths", o.path, strings.ToLower(o.method)}, tokens...)...)
}

func (o operation) String() string { return o.method + " " + o.path }

// operations lists the document's operations in a stable order.
func (s *openapiSpec) operations() []operation {
	var ops []operation
	for path, item := range s.doc.Paths {
		for method, op := range item.operations() {
			ops = append(ops, operation{path: path, method: method, op: op, item: item})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.String(), b.String()) })
	return ops
}

// find returns the operation of a route.
func (s *openapiSpec) find(method, path string) (operation, bool) {
	item := s.doc.Paths[path]
	if item == nil {
		return operation{}, false
	}
	op := item.operations()[method]
	return operation{path: path, method: method, op: op, item: item}, op != nil
}

// resolve follows a component $ref ("#/components/KIND/NAME") and returns
// the component and its location; without a $ref it returns v at ptr.
func resolve[T any](v *T, ref, ptr, kind string, components map[string]*T) (*T, string, error) {
	if ref == "" {
		return v, ptr, nil
	}
	prefix := "#/components/" + kind + "/"
	name, ok := strings.CutPrefix(ref, prefix)
	if !ok {
		return nil, "", fmt.Errorf("%s: $ref %q does not point into %s", ptr, ref, prefix)
	}
	c := components[name]
	if c == nil {
		return nil, "", fmt.Errorf("%s: $ref %q names no component", ptr, ref)
	}
	return c, ref, nil
}

// response resolves the response of an operation for a status ("200").
func (s *openapiSpec) response(o operation, status string) (*oaResponse, string, error) {
	r := o.op.Responses[status]
	if r == nil {
		return nil, "", fmt.Errorf("%s documents no %s response", o, status)
	}
	return resolve(r, r.Ref, o.ptr("responses", status), "responses", s.doc.Components.Responses)
}

// requestBody resolves the request body of an operation, nil if it has none.
func (s *openapiSpec) requestBody(o operation) (*oaRequestBody, string, error) {
	rb := o.op.RequestBody
	if rb == nil {
		return nil, "", nil
	}
	return resolve(rb, rb.Ref, o.ptr("requestBody"), "requestBodies", s.doc.Components.RequestBodies)
}

// parameters resolves the parameters of an operation, the path's first.
func (s *openapiSpec) parameters(o operation) ([]*oaParameter, []string, error) {
	var params []*oaParameter
	var ptrs []string
	add := func(list []*oaParameter, base func(i int) string) error {
		for i, p := range list {
			rp, ptr, err := resolve(p, p.Ref, base(i), "parameters", s.doc.Components.Parameters)
			if err != nil {
				return err
			}
			params, ptrs = append(params, rp), append(ptrs, ptr)
		}
		return nil
	}
	if err := add(o.item.Parameters, func(i int) string { return pointer("paths", o.path, "parameters", fmt.Sprint(i)) }); err != nil {
		return nil, nil, err
	}
	if err := add(o.op.Parameters, func(i int) string { return o.ptr("parameters", fmt.Sprint(i)) }); err != nil {
		return nil, nil, err
	}
	return params, ptrs, nil
}

// header resolves a response header.
func (s *openapiSpec) header(h *oaHeader, ptr string) (*oaHeader, string, error) {
	return resolve(h, h.Ref, ptr, "headers", s.doc.Components.Headers)
}

// object is a generic JSON object, for reading schemas.
type object = map[string]any

// schemaAt returns the generic schema at ptr, following a top-level $ref.
func (s *openapiSpec) schemaAt(ptr string) (object, string, error) {
	for range 10 {
		v, err := s.at(ptr)
		if err != nil {
			return nil, "", err
		}
		sch, ok := v.(object)
		if !ok {
			return nil, "", fmt.Errorf("%s is not a schema object", ptr)
		}
		ref, ok := sch["$ref"].(string)
		if !ok {
			return sch, ptr, nil
		}
		ptr = ref
	}
	return nil, "", fmt.Errorf("%s: $ref chain too long", ptr)
}

// properties collects the property names and required names of the schema
// at ptr, through $ref, allOf, oneOf and anyOf (whose branches add up: this
// is about which names the schema knows, not which values it accepts).
func (s *openapiSpec) properties(ptr string) (props, required map[string]bool, err error) {
	props, required = map[string]bool{}, map[string]bool{}
	var walk func(ptr string, depth int) error
	walk = func(ptr string, depth int) error {
		if depth > 10 {
			return fmt.Errorf("%s: nested too deep", ptr)
		}
		sch, ptr, err := s.schemaAt(ptr)
		if err != nil {
			return err
		}
		if p, ok := sch["properties"].(object); ok {
			for name := range p {
				props[name] = true
			}
		}
		if r, ok := sch["required"].([]any); ok {
			for _, name := range r {
				required[name.(string)] = true
			}
		}
		for _, kw := range []string{"allOf", "oneOf", "anyOf"} {
			list, _ := sch[kw].([]any)
			for i := range list {
				if err := walk(ptr+"/"+kw+"/"+fmt.Sprint(i), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return props, required, walk(ptr, 0)
}

// pathParams returns the {names} of a path template.
func pathParams(template string) []string {
	var names []string
	for rest := template; ; {
		_, after, ok := strings.Cut(rest, "{")
		if !ok {
			return names
		}
		name, tail, _ := strings.Cut(after, "}")
		names = append(names, name)
		rest = tail
	}
}
