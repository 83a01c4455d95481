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

// asyncapiYAML is the AsyncAPI 3.0 document of the STOMP interface:
// destinations, /app routes, payloads and the room headers
// (internal/apispec checks it with @asyncapi/parser, against the
// destination policy's defaults and the router's routes, and its schemas
// against the Go types).
//
//go:embed asyncapi.yaml
var asyncapiYAML []byte

// OpenAPI returns the API's OpenAPI document as JSON, as GET
// /api/openapi.json serves it.
var OpenAPI = sync.OnceValue(func() []byte { return yamlToJSON("openapi.yaml", openapiYAML) })

// AsyncAPI returns the STOMP interface's AsyncAPI document as JSON, as
// GET /api/asyncapi.json serves it.
var AsyncAPI = sync.OnceValue(func() []byte { return yamlToJSON("asyncapi.yaml", asyncapiYAML) })

// yamlToJSON converts an embedded YAML document.
func yamlToJSON(name string, src []byte) []byte {
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		panic(fmt.Sprintf("httpapi: %s: %v", name, err)) // embedded: a test catches it
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("httpapi: %s as JSON: %v", name, err))
	}
	return b
}

// serveDocument answers doc, a JSON document.
func serveDocument(w http.ResponseWriter, doc []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

// openapi handles GET /api/openapi.json.
func (a *api) openapi(w http.ResponseWriter, _ *http.Request) error {
	serveDocument(w, OpenAPI())
	return nil
}

// asyncapi handles GET /api/asyncapi.json.
func (a *api) asyncapi(w http.ResponseWriter, _ *http.Request) error {
	serveDocument(w, AsyncAPI())
	return nil
}
