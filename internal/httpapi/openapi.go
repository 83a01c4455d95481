package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
)

// openapiYAML is the API's OpenAPI 3.1 document, written by hand next to
// the handlers it describes; openapi_test.go checks that it is valid,
// that every route is in it, and (internal/apicheck, in the server's
// tests) that every request and answer of the REST tests agrees with it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the API's OpenAPI document as JSON, as GET
// /api/openapi.json serves it.
var OpenAPI = sync.OnceValue(func() []byte {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		panic(fmt.Sprintf("httpapi: openapi.yaml: %v", err)) // embedded: a test catches it
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("httpapi: openapi.yaml as JSON: %v", err))
	}
	return b
})

// openapi handles GET /api/openapi.json.
func (a *api) openapi(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(OpenAPI())
	return nil
}
