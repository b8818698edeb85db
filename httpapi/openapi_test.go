package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// Ensure that the document is an OpenAPI 3.1 document whose every part
// holds together: every $ref resolves, every schema is valid JSON Schema
// 2020-12 without misspelt keywords, every path parameter is declared and
// every example is valid against its schema.
func TestOpenAPI_Document(t *testing.T) {
	spec := loadSpec(t)
	doc := spec.doc
	if !regexp.MustCompile(`^3\.1\.[0-9]+$`).MatchString(doc.OpenAPI) {
		t.Errorf("openapi is %q, want 3.1.x", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("info needs a title and a version")
	}
	checkRefs(t, spec, "#", spec.generic)

	var schemaPtrs []string
	for name := range doc.Components.Schemas {
		schemaPtrs = append(schemaPtrs, pointer("components", "schemas", name))
	}
	// Each example is checked against the schema beside it.
	type example struct{ where, schema string }
	var examples []example
	content := func(ptr string, c map[string]*oaMediaType) {
		for mt, m := range c {
			if len(m.Schema) == 0 {
				// OpenAPI 3.1 describes raw bytes by leaving the schema out.
				if mt == "application/json" {
					t.Errorf("%s: media type %s has no schema", ptr, mt)
				}
				continue
			}
			sp := ptr + pointer("content", mt, "schema")[1:]
			schemaPtrs = append(schemaPtrs, sp)
			for name, ex := range m.Examples {
				if len(ex.Value) == 0 {
					t.Errorf("%s: example %q has no value", sp, name)
					continue
				}
				examples = append(examples, example{ptr + pointer("content", mt, "examples", name, "value")[1:], sp})
			}
		}
	}
	headers := func(ptr string, hs map[string]*oaHeader) {
		for name, h := range hs {
			hp := ptr + pointer("headers", name)[1:]
			h, hp, err := spec.header(h, hp)
			if err != nil {
				t.Error(err)
				continue
			}
			if len(h.Schema) == 0 {
				t.Errorf("%s: no schema", hp)
				continue
			}
			schemaPtrs = append(schemaPtrs, hp+"/schema")
		}
	}
	for name, r := range doc.Components.Responses {
		ptr := pointer("components", "responses", name)
		if r.Description == "" {
			t.Errorf("%s: a response needs a description", ptr)
		}
		content(ptr, r.Content)
		headers(ptr, r.Headers)
	}
	for name, rb := range doc.Components.RequestBodies {
		content(pointer("components", "requestBodies", name), rb.Content)
	}

	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for _, o := range spec.operations() {
		op := o.op
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", o)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s have the same operationId %q", o, other, op.OperationID)
		}
		ids[op.OperationID] = o.String()
		if op.Summary == "" {
			t.Errorf("%s has no summary", o)
		}
		for _, tag := range op.Tags {
			if !tags[tag] {
				t.Errorf("%s: tag %q is not declared in tags", o, tag)
			}
		}
		if op.Security != nil {
			checkSecurity(t, spec, o.String(), *op.Security)
		}

		params, ptrs, err := spec.parameters(o)
		if err != nil {
			t.Error(err)
			continue
		}
		declared := map[string]bool{}
		seen := map[string]bool{}
		for i, p := range params {
			key := p.In + " " + p.Name
			if seen[key] {
				t.Errorf("%s: parameter %s is declared twice", o, key)
			}
			seen[key] = true
			switch p.In {
			case "path":
				declared[p.Name] = true
				if !p.Required {
					t.Errorf("%s: path parameter %q must be required", o, p.Name)
				}
			case "query", "header", "cookie":
			default:
				t.Errorf("%s: parameter %q is in %q", o, p.Name, p.In)
			}
			if len(p.Schema) == 0 {
				t.Errorf("%s: parameter %q has no schema", o, p.Name)
				continue
			}
			schemaPtrs = append(schemaPtrs, ptrs[i]+"/schema")
			for name := range p.Examples {
				examples = append(examples, example{ptrs[i] + pointer("examples", name, "value")[1:], ptrs[i] + "/schema"})
			}
		}
		want := map[string]bool{}
		for _, name := range pathParams(o.path) {
			want[name] = true
		}
		if !maps.Equal(declared, want) {
			t.Errorf("%s: path parameters declared %v, the template has %v", o, slices.Sorted(maps.Keys(declared)), slices.Sorted(maps.Keys(want)))
		}

		// Request bodies of components were collected above.
		if rb, ptr, err := spec.requestBody(o); err != nil {
			t.Error(err)
		} else if rb != nil && o.op.RequestBody.Ref == "" {
			content(ptr, rb.Content)
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s documents no responses", o)
		}
		for status, r := range op.Responses {
			if _, err := strconv.Atoi(status); err != nil && status != "default" {
				t.Errorf("%s: response key %q is not a status", o, status)
			}
			if r.Ref != "" {
				if _, _, err := spec.response(o, status); err != nil {
					t.Error(err)
				}
				continue
			}
			ptr := o.ptr("responses", status)
			if r.Description == "" {
				t.Errorf("%s: a response needs a description", ptr)
			}
			content(ptr, r.Content)
			headers(ptr, r.Headers)
		}
	}
	checkSecurity(t, spec, "the document", doc.Security)

	slices.Sort(schemaPtrs)
	for _, ptr := range slices.Compact(schemaPtrs) {
		v, err := spec.at(ptr)
		if err != nil {
			t.Error(err)
			continue
		}
		checkKeywords(t, ptr, v)
		if _, err := spec.schema(ptr); err != nil {
			t.Errorf("schema %s: %v", ptr, err)
		}
	}
	if len(examples) == 0 {
		t.Fatal("the document has no examples")
	}
	for _, ex := range examples {
		v, err := spec.at(ex.where)
		if err != nil {
			t.Error(err)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := spec.validate(ex.schema, b); err != nil {
			t.Errorf("example %s does not match its schema: %v", ex.where, err)
		}
	}
}

// checkRefs requires every $ref in the document to point at something in it.
func checkRefs(t *testing.T, spec *openapiSpec, ptr string, v any) {
	t.Helper()
	switch c := v.(type) {
	case map[string]any:
		if ref, ok := c["$ref"].(string); ok {
			if _, err := spec.at(ref); err != nil {
				t.Errorf("%s: $ref %q: %v", ptr, ref, err)
			}
		}
		for k, e := range c {
			checkRefs(t, spec, ptr+pointer(k)[1:], e)
		}
	case []any:
		for i, e := range c {
			checkRefs(t, spec, ptr+"/"+strconv.Itoa(i), e)
		}
	}
}

// checkSecurity requires every security requirement to name a scheme.
func checkSecurity(t *testing.T, spec *openapiSpec, where string, reqs []map[string][]string) {
	t.Helper()
	for _, req := range reqs {
		for name := range req {
			if spec.doc.Components.SecuritySchemes[name] == nil {
				t.Errorf("%s: security scheme %q is not declared", where, name)
			}
		}
	}
}

// schemaKeywords are the keywords of JSON Schema 2020-12 and of the OpenAPI
// 3.1 dialect. An unknown keyword is ignored by validators, so a misspelt
// "requried" or "additionalproperties" would silently loosen a schema.
var schemaKeywords = map[string]bool{
	"$schema": true, "$id": true, "$ref": true, "$anchor": true, "$dynamicRef": true, "$dynamicAnchor": true,
	"$defs": true, "$comment": true, "$vocabulary": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true,
	"dependentSchemas": true, "prefixItems": true, "items": true, "contains": true, "properties": true,
	"patternProperties": true, "additionalProperties": true, "propertyNames": true,
	"unevaluatedItems": true, "unevaluatedProperties": true,
	"type": true, "enum": true, "const": true, "multipleOf": true, "maximum": true, "exclusiveMaximum": true,
	"minimum": true, "exclusiveMinimum": true, "maxLength": true, "minLength": true, "pattern": true,
	"maxItems": true, "minItems": true, "uniqueItems": true, "maxContains": true, "minContains": true,
	"maxProperties": true, "minProperties": true, "required": true, "dependentRequired": true,
	"title": true, "description": true, "default": true, "deprecated": true, "readOnly": true,
	"writeOnly": true, "examples": true, "format": true,
	"contentEncoding": true, "contentMediaType": true, "contentSchema": true,
	"discriminator": true, "xml": true, "externalDocs": true, "example": true,
}

// checkKeywords walks a schema and its subschemas for unknown keywords.
func checkKeywords(t *testing.T, ptr string, v any) {
	t.Helper()
	sch, ok := v.(map[string]any)
	if !ok {
		return // true, false
	}
	for k, sub := range sch {
		if !schemaKeywords[k] && !strings.HasPrefix(k, "x-") {
			t.Errorf("%s: %q is not a JSON Schema 2020-12 or OpenAPI keyword", ptr, k)
		}
		switch k {
		case "properties", "patternProperties", "$defs", "dependentSchemas":
			m, _ := sub.(map[string]any)
			for name, s := range m {
				checkKeywords(t, ptr+pointer(k, name)[1:], s)
			}
		case "allOf", "anyOf", "oneOf", "prefixItems":
			list, _ := sub.([]any)
			for i, s := range list {
				checkKeywords(t, ptr+"/"+k+"/"+strconv.Itoa(i), s)
			}
		case "not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
			"unevaluatedItems", "unevaluatedProperties", "contentSchema":
			checkKeywords(t, ptr+"/"+k, sub)
		}
	}
}

// routeSet lists the routes of the route table as "METHOD template".
func routeSet(t *testing.T, s *Server) map[string]bool {
	t.Helper()
	routes := map[string]bool{}
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s takes every method; the document needs them listed: %w", tmpl, err)
		}
		for _, m := range methods {
			routes[m+" "+tmpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

// Ensure that every route of the route table is documented with each of its
// methods, and that the document describes no route that is not served.
func TestOpenAPI_RoutesMatchDocument(t *testing.T) {
	spec := loadSpec(t)
	// Every optional route switched on.
	routes := routeSet(t, New(nil, Options{Metrics: http.NotFoundHandler()}))
	if len(routes) == 0 {
		t.Fatal("the route table is empty")
	}
	documented := map[string]bool{}
	for _, o := range spec.operations() {
		documented[o.String()] = true
	}
	for r := range routes {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routes[d] {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
}

// Ensure that each operation's x-roles are the roles that the route table lets
// use the route, admin included.
func TestOpenAPI_RolesMatchRouteRoles(t *testing.T) {
	spec := loadSpec(t)
	for _, o := range spec.operations() {
		set := rolesOf(o.method, o.path)
		var want []string
		for _, r := range []Role{RoleSubmit, RoleWork, RoleAdmin} {
			if set&roleBits[r] != 0 {
				want = append(want, string(r))
			}
		}
		got := slices.Sorted(slices.Values(o.op.Roles))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: x-roles %v, the route table allows %v", o, got, want)
		}
	}
}

// Ensure that the operations documented as callable without a token (an
// empty security requirement) are exactly those on the default open paths.
func TestOpenAPI_OpenPathsAreAnonymous(t *testing.T) {
	spec := loadSpec(t)
	open := map[string]bool{}
	for _, p := range DefaultOpenPaths() {
		open[p] = true
	}
	anonymousPaths := map[string]bool{}
	for _, o := range spec.operations() {
		reqs := spec.doc.Security
		if o.op.Security != nil {
			reqs = *o.op.Security
		}
		anonymous := slices.ContainsFunc(reqs, func(r map[string][]string) bool { return len(r) == 0 })
		if anonymous != open[o.path] {
			t.Errorf("%s: anonymous in the document is %v, on the default open paths %v", o, anonymous, open[o.path])
		}
		if anonymous {
			anonymousPaths[o.path] = true
		}
	}
	if !maps.Equal(anonymousPaths, open) {
		t.Errorf("open paths with a documented operation: %v, want %v", slices.Sorted(maps.Keys(anonymousPaths)), slices.Sorted(maps.Keys(open)))
	}
}
