package httpapi

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"net/http"
)

// Operations a TutorialRoute may alias.
const (
	// TutorialList answers a JSON array of the rooms the caller may see,
	// oldest first: [{"roomId","name"},...].
	TutorialList = "list"
	// TutorialCreate creates a public room named by the form or query
	// value "name" or a JSON body {"name"}, exactly as POST /api/rooms
	// does (same checks, same rooms.create limits, same errors), and
	// answers 200 {"roomId","name"}.
	TutorialCreate = "create"
	// TutorialGet answers {"roomId","name"} of the room its {id}
	// segment names (404 unknown, 401/403 private).
	TutorialGet = "get"
)

// TutorialRoute serves a Spring-tutorial REST route ("GET /chat/rooms")
// as an alias of a room API operation.
type TutorialRoute struct {
	// Pattern is "METHOD /path"; a {id} segment names the room.
	Pattern string
	// Op is TutorialList, TutorialCreate or TutorialGet.
	Op string
}

// tutorialRoom is a room as the Spring tutorials' ChatRoom encodes it.
type tutorialRoom struct {
	RoomID string `json:"roomId"`
	Name   string `json:"name"`
}

// NewTutorial returns the handler of the Spring-tutorial REST routes,
// aliases of the room API with opts (give it the same Options, Limiter
// included, as New's), and the patterns to mount it at, one per route.
func NewTutorial(opts Options, routes []TutorialRoute) (http.Handler, []string, error) {
	if opts.Store == nil {
		return nil, nil, fmt.Errorf("httpapi: Options.Store is required")
	}
	a := &api{opts: opts.withDefaults(), mux: http.NewServeMux()}
	if opts.APIKey != "" {
		sum := sha256.Sum256([]byte(opts.APIKey))
		a.keySum = &sum
	}
	ops := map[string]handlerFunc{TutorialList: a.tutorialList, TutorialCreate: a.tutorialCreate, TutorialGet: a.tutorialGet}
	patterns := make([]string, 0, len(routes))
	for _, rt := range routes {
		h, ok := ops[rt.Op]
		if !ok {
			return nil, nil, fmt.Errorf("httpapi: tutorial route %q: unknown operation %q", rt.Pattern, rt.Op)
		}
		if err := register(a, rt.Pattern, h); err != nil {
			return nil, nil, err
		}
		patterns = append(patterns, rt.Pattern)
	}
	return a, patterns, nil
}

// register adds pattern to a's mux, turning the mux's panic on a bad or
// conflicting pattern into an error.
func register(a *api, pattern string, h handlerFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("httpapi: tutorial route %q: %v", pattern, p)
		}
	}()
	a.handle(pattern, h)
	return nil
}

// tutorialList answers the rooms the caller may see: [{"roomId","name"}].
func (a *api) tutorialList(w http.ResponseWriter, r *http.Request) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	out := []tutorialRoom{}
	for _, room := range a.opts.Store.List() {
		if c.canSee(room) {
			out = append(out, tutorialRoom{RoomID: room.ID, Name: room.Name})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// tutorialGet answers the room {id}: {"roomId","name"}.
func (a *api) tutorialGet(w http.ResponseWriter, r *http.Request) error {
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tutorialRoom{RoomID: room.ID, Name: room.Name})
	return nil
}

// tutorialCreate creates a public room from a form-encoded (or query)
// "name", or a JSON {"name"}, as POST /api/rooms does.
func (a *api) tutorialCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	if c.anonymous() && a.opts.VerifiedUsers {
		return errorf(http.StatusUnauthorized, "sign in to create a room")
	}
	name, err := tutorialName(w, r)
	if err != nil {
		return err
	}
	room, err := a.create(r, c, createRequest{Name: &name})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/rooms/"+room.ID)
	writeJSON(w, http.StatusOK, tutorialRoom{RoomID: room.ID, Name: room.Name})
	return nil
}

// tutorialName reads the "name" of a tutorial creation: a JSON body's
// when the request says application/json, else the form's or the query's
// (Spring's @RequestParam reads both).
func tutorialName(w http.ResponseWriter, r *http.Request) (string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var req struct {
			Name *string `json:"name"`
		}
		if err := decodeBody(w, r, &req); err != nil {
			return "", err
		}
		if req.Name == nil {
			return "", errorf(http.StatusBadRequest, "name is required")
		}
		return *req.Name, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return "", errorf(http.StatusBadRequest, "body is larger than %d bytes", MaxBodyBytes)
		}
		return "", errorf(http.StatusBadRequest, "body is not a valid form: %v", err)
	}
	return r.Form.Get("name"), nil
}
