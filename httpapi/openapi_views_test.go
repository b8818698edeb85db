package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonFields lists the JSON names of a struct's fields as encoding/json
// sees them (embedded structs promoted), and those without omitempty.
func jsonFields(typ reflect.Type) (all, always map[string]bool) {
	all, always = map[string]bool{}, map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			a, r := jsonFields(f.Type)
			maps.Copy(all, a)
			maps.Copy(always, r)
			continue
		}
		if name == "" {
			name = f.Name
		}
		all[name] = true
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			always[name] = true
		}
	}
	return all, always
}

// schemaTypes pairs each component schema with the Go type that reads or
// writes it. answer marks the views the server writes: their required
// properties are exactly the fields always written.
var schemaTypes = []struct {
	schema string
	value  any
	answer bool
}{
	{"Receipt", receiptView{}, true},
	{"BatchReceipt", batchView{}, true},
	{"BatchItem", batchItem{}, true},
	{"JobSummary", summaryView{}, true},
	{"Job", jobView{}, true},
	{"AttemptError", attemptErrorView{}, true},
	{"Page", pageView{}, true},
	{"QueueStats", statsView{}, true},
	{"Counts", countsView{}, true},
	{"Limits", limitsView{}, true},
	{"Overrides", overridesView{}, true},
	{"Queues", queuesView{}, true},
	{"LeaseAnswer", leaseView{}, true},
	{"LeasedJob", leasedJobView{}, true},
	{"ProgressAnswer", progressView{}, true},
	{"Status", statusView{}, true},
	{"Error", errorBody{}, true},
	{"ErrorDetail", errorDetail{}, true},
	{"Submission", jobFields{}, false},
	{"SubmitRequest", submitBody{}, false},
	{"LeaseRequest", leaseBody{}, false},
	{"AckRequest", ackBody{}, false},
	{"NackRequest", nackBody{}, false},
	{"ExtendRequest", extendBody{}, false},
	{"ProgressRequest", progressBody{}, false},
	{"ReleaseRequest", releaseBody{}, false},
	{"QueuePatch", patchBody{}, false},
	{"Empty", struct{}{}, false},
}

// Ensure that each schema names exactly the JSON fields of its Go type, and
// that the schemas of answers require exactly the fields always written;
// and that every view and body type of the package has a schema.
func TestOpenAPI_ViewsMatchSchemas(t *testing.T) {
	spec := loadSpec(t)
	typed := map[string]bool{}
	for _, st := range schemaTypes {
		typ := reflect.TypeOf(st.value)
		typed[typ.Name()] = true
		fields, always := jsonFields(typ)
		props, required, err := spec.properties(pointer("components", "schemas", st.schema))
		if err != nil {
			t.Errorf("%s: %v", st.schema, err)
			continue
		}
		if !maps.Equal(fields, props) {
			t.Errorf("schema %s has properties %v; %v has fields %v", st.schema, slices.Sorted(maps.Keys(props)), typ, slices.Sorted(maps.Keys(fields)))
		}
		for name := range required {
			if !props[name] {
				t.Errorf("schema %s requires %q, which it does not describe", st.schema, name)
			}
		}
		if st.answer && !maps.Equal(required, always) {
			t.Errorf("schema %s requires %v; %v always writes %v", st.schema, slices.Sorted(maps.Keys(required)), typ, slices.Sorted(maps.Keys(always)))
		}
	}
	// A new view or body type must be described before it is answered or read.
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				if _, isStruct := ts.Type.(*ast.StructType); isStruct && (strings.HasSuffix(ts.Name.Name, "View") || strings.HasSuffix(ts.Name.Name, "Body")) && !typed[ts.Name.Name] {
					t.Errorf("%s: type %s has no schema in openapi.json (add it, and a line to schemaTypes)", fset.Position(ts.Pos()), ts.Name.Name)
				}
			}
		}
	}
}
