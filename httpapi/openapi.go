package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openapiJSON is the OpenAPI 3.1 description of this API. It is written by
// hand, for readers first; openapi_test.go holds it to the route table, the
// request types, the views, the role table and the error codes.
//
//go:embed openapi.json
var openapiJSON []byte

// openapi serves the document as it is embedded: it is JSON already, and
// re-encoding it through writeJSON would only reorder its keys.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openapiJSON)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openapiJSON)
}
