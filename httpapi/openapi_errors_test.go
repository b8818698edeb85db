package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// statusConstants maps net/http's status constant names to their codes,
// from the status texts the names are made of ("Request Entity Too Large"
// is StatusRequestEntityTooLarge).
func statusConstants() map[string]int {
	m := map[string]int{}
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m["Status"+componentName(text)] = code
		}
	}
	return m
}

// componentName is a status text without what is not a letter, the name an
// error response component carries ("Not Found" is NotFound).
func componentName(text string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, text)
}

// sourceCodes scans the package's source for every error code an answer
// can carry: the codes classify assigns (with the status beside them), the
// codes of apiError, codedError and errorDetail literals (with the status
// of the writeJSON call that writes an errorDetail), and the first argument
// of every withCode and invalidf call. An invalidf code's status is
// classify's for ErrInvalid; a withCode code's status comes from the error
// it wraps, which only running the code knows (0 here).
func sourceCodes(t *testing.T) map[string]int {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	statuses := statusConstants()
	codes := map[string]int{}
	fset := token.NewFileSet()
	lit := func(e ast.Expr) (string, bool) {
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(bl.Value)
		return s, err == nil
	}
	status := func(e ast.Expr) int {
		if sel, ok := e.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "http" {
				if code, ok := statuses[sel.Sel.Name]; ok {
					return code
				}
				t.Errorf("http.%s is not a status this test can name", sel.Sel.Name)
			}
		}
		return 0
	}
	note := func(pos token.Pos, code string, st int) {
		if code == "" {
			t.Errorf("%s: an empty error code", fset.Position(pos))
			return
		}
		if prev, ok := codes[code]; ok && prev != 0 && st != 0 && prev != st {
			t.Errorf("%s: code %q is answered with %d here and %d elsewhere", fset.Position(pos), code, st, prev)
		}
		if codes[code] == 0 {
			codes[code] = st
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				// The helpers pass their caller's code on.
				return n.Name.Name != "withCode" && n.Name.Name != "invalidf"
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "writeJSON" && len(n.Args) == 3 {
					st := status(n.Args[1])
					ast.Inspect(n.Args[2], func(m ast.Node) bool {
						if code, ok := detailCode(m, lit); ok {
							note(m.Pos(), code, st)
						}
						return true
					})
					return true
				}
				fn, ok := n.Fun.(*ast.Ident)
				if !ok || len(n.Args) == 0 || (fn.Name != "withCode" && fn.Name != "invalidf") {
					return true
				}
				code, ok := lit(n.Args[0])
				if !ok {
					t.Errorf("%s: %s with a code that is not a string literal: the test cannot list it", fset.Position(n.Pos()), fn.Name)
					return true
				}
				st := 0
				if fn.Name == "invalidf" {
					st = classify(invalidf(code, "probe")).status
				}
				note(n.Pos(), code, st)
			case *ast.CompositeLit:
				if code, ok := detailCode(n, lit); ok {
					note(n.Pos(), code, 0)
					return true
				}
				typ, ok := n.Type.(*ast.Ident)
				if !ok || (typ.Name != "apiError" && typ.Name != "codedError") {
					return true
				}
				var code string
				var st int
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch key, _ := kv.Key.(*ast.Ident); {
					case key == nil:
					case key.Name == "code":
						code, _ = lit(kv.Value)
					case key.Name == "status":
						st = status(kv.Value)
					}
				}
				if code != "" {
					note(n.Pos(), code, st)
				}
			case *ast.AssignStmt:
				if len(n.Lhs) != len(n.Rhs) {
					return true
				}
				var code string
				var st int
				for i, l := range n.Lhs {
					sel, ok := l.(*ast.SelectorExpr)
					if !ok {
						continue
					}
					switch sel.Sel.Name {
					case "code":
						code, _ = lit(n.Rhs[i])
					case "status":
						st = status(n.Rhs[i])
					}
				}
				if code != "" {
					note(n.Pos(), code, st)
				}
			}
			return true
		})
	}
	return codes
}

// detailCode returns the Code of an errorDetail literal.
func detailCode(n ast.Node, lit func(ast.Expr) (string, bool)) (string, bool) {
	cl, ok := n.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	if typ, ok := cl.Type.(*ast.Ident); !ok || typ.Name != "errorDetail" {
		return "", false
	}
	for _, e := range cl.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Code" {
				return lit(kv.Value)
			}
		}
	}
	return "", false
}

// errorResponses returns the code enum of each error response component
// (one whose schema extends Error), by component name.
func errorResponses(t *testing.T, spec *openapiSpec) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, r := range spec.doc.Components.Responses {
		if r.Content["application/json"] == nil {
			continue
		}
		ptr := pointer("components", "responses", name, "content", "application/json", "schema")
		sch, _, err := spec.schemaAt(ptr)
		if err != nil {
			t.Fatal(err)
		}
		allOf, _ := sch["allOf"].([]any)
		if len(allOf) != 1 || allOf[0].(object)["$ref"] != "#/components/schemas/Error" {
			continue
		}
		v, err := spec.at(ptr + "/properties/error/properties/code/enum")
		if err != nil {
			t.Errorf("error response %s narrows no code enum: %v", name, err)
			continue
		}
		for _, c := range v.([]any) {
			out[name] = append(out[name], c.(string))
		}
	}
	return out
}

// Ensure that the document's ErrorCode enum lists exactly the codes the
// package's source can answer, that each error response component is named
// after its status and lists the codes answered with that status, and that
// operations use the component of each error status they document.
func TestOpenAPI_ErrorCodes(t *testing.T) {
	spec := loadSpec(t)
	codes := sourceCodes(t)
	v, err := spec.at("#/components/schemas/ErrorCode/enum")
	if err != nil {
		t.Fatal(err)
	}
	enum := map[string]bool{}
	for _, c := range v.([]any) {
		enum[c.(string)] = true
	}
	for code := range codes {
		if !enum[code] {
			t.Errorf("code %q is answered by the server but missing from ErrorCode", code)
		}
	}
	for code := range enum {
		if _, ok := codes[code]; !ok {
			t.Errorf("ErrorCode lists %q, which no code of the package answers", code)
		}
	}

	byStatus := map[int]string{}
	for name, code := range statusConstants() {
		byStatus[code] = strings.TrimPrefix(name, "Status")
	}
	inResponses := map[string]string{}
	errResponses := errorResponses(t, spec)
	for name, list := range errResponses {
		st := 0
		for code, n := range byStatus {
			if n == name {
				st = code
			}
		}
		if st == 0 {
			t.Errorf("error response %s is not named after a status (BadRequest, NotFound, …)", name)
		}
		for _, code := range list {
			if other, dup := inResponses[code]; dup {
				t.Errorf("code %q is in both %s and %s", code, other, name)
			}
			inResponses[code] = name
			if !enum[code] {
				t.Errorf("error response %s lists %q, which is not in ErrorCode", name, code)
			}
			if want := codes[code]; want != 0 && want != st {
				t.Errorf("code %q is answered with %d, but is listed in %s (%d)", code, want, name, st)
			}
		}
	}
	for code := range enum {
		if _, ok := inResponses[code]; !ok {
			t.Errorf("code %q is in no error response", code)
		}
	}
	for _, o := range spec.operations() {
		for status, r := range o.op.Responses {
			ref, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
			if !ok {
				continue
			}
			st, _ := strconv.Atoi(status)
			if _, isError := errResponses[ref]; isError && byStatus[st] != ref {
				t.Errorf("%s: status %s refers to %s", o, status, ref)
			}
		}
	}
}
