package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the whole HTTP API
// (adapters/httpapi/openapi.json), as GET /openapi.json serves it. A test
// checks that it describes every route the Server registers and that the
// API tests' responses validate against it.
//
//go:embed openapi.json
var OpenAPI []byte

// openapi: GET /openapi.json, without the API token.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(OpenAPI)
}
