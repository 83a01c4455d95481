package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadOpenAPI parses and validates the served document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIDocumentsEveryRoute: every route New and NewTutorial (with
// the default aliases) register is an operation of the document, and
// every /api operation of the document is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	a := New(Options{Store: newFakeStore()}).(*api)
	tut, _, err := NewTutorial(Options{Store: newFakeStore()}, []TutorialRoute{
		{Pattern: "GET /chat/rooms", Op: TutorialList},
		{Pattern: "POST /chat/room", Op: TutorialCreate},
		{Pattern: "GET /chat/room/{id}", Op: TutorialGet},
	})
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, p := range append(append([]string{}, a.patterns...), tut.(*api).patterns...) {
		registered[p] = true
		method, path, _ := strings.Cut(p, " ")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %q is not in openapi.yaml", p)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if strings.HasPrefix(path, "/api/") && !registered[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which no route serves", method, path)
			}
		}
	}
	if len(registered) < 20 {
		t.Fatalf("only %d routes registered", len(registered))
	}
}

// TestOpenAPIServed: GET /api/openapi.json answers the document.
func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Options{Store: newFakeStore()}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	var doc map[string]any
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("GET /api/openapi.json: %d %q %.100s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
