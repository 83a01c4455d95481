// Package httpapi is the REST API of chatrelay: rooms (create, list, get,
// delete), their history and members, and server push into a room or to a
// user. Every answer, errors included, is JSON; errors are
// {"error":"..."} with the matching status code (and "code" and "key",
// the config key of the limit, when a limit refused the request).
//
// Endpoints (mount the handler at /api/):
//
//	POST   /api/rooms                  {"name","private","members","owner"} → 201 room (429 over a limit)
//	GET    /api/rooms                  ?limit=N&cursor=C → 200 {"rooms","next"} (private rooms: members only)
//	GET    /api/rooms/{id}             → 200 room + "online"
//	DELETE /api/rooms/{id}             → 204 (owner or API key)
//	GET    /api/rooms/{id}/messages    ?limit=N&before=OFFSET → 200 {"messages","next"}
//	GET    /api/rooms/{id}/members     → 200 {"roomId","members"} (online now)
//	GET    /api/rooms/{id}/access      → 200 {"roomId","private","owner","members"}
//	PUT    /api/rooms/{id}/access      {"members"} → 200 as GET (owner or API key)
//	POST   /api/rooms/{id}/messages    {"message","type","sender"} → 201 {"id"} once stored (API key; 503 not_stored)
//	PUT    /api/rooms/{id}/read        {"offset"} → 200 {"roomId","offset"} (signed-in user)
//	GET    /api/rooms/{id}/reads       → 200 {"roomId","members","positions"} (signed-in user)
//	POST   /api/users/{name}/messages  {"message","sender"} → 202 {"id"} (API key)
//	GET    /api/openapi.json           → 200 this list as an OpenAPI 3.1 document (openapi.yaml)
//	GET    /api/asyncapi.json          → 200 the STOMP interface as an AsyncAPI 3.0 document (asyncapi.yaml)
//
// NewTutorial serves the Spring tutorials' routes (GET /chat/rooms, POST
// /chat/room, GET /chat/room/{id} by default) as aliases of the room
// endpoints, answering the tutorials' {"roomId","name"} (tutorial.go).
//
// The API key travels as "Authorization: Bearer <key>". Server push always
// needs it: with no key configured, push answers 401. Users identify
// themselves as over STOMP: "Authorization: Basic" with login:passcode, or
// "Authorization: Bearer <jwt>" in jwt mode. A private room, its history,
// presence and access list answer only its owner, its members and the API
// key (401 without credentials, 403 for others). Deleting a room, or
// changing who may use it, takes its owner or the API key, whether or not
// a key is configured.
package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"chatrelay/internal/moderation"
	"chatrelay/internal/readstate"
	"chatrelay/internal/revision"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// DefaultPublishTimeout is the default of Options.PublishTimeout: how
// long a push waits for the broker.
const DefaultPublishTimeout = 10 * time.Second

// MaxBodyBytes limits every request body: the API never decodes a longer
// one (config.MaxBodyCeiling, the largest http.max_body_bytes, is this).
const MaxBodyBytes = 64 << 10

// Publisher publishes server push messages. It has the relay's signature:
// onAccepted is called once, with nil when the broker has accepted the
// message and with an error when it will not be delivered (also when
// Publish itself fails).
type Publisher interface {
	Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error
}

// RoomConfirmer publishes a room message until it is seen stored (a
// confirm.Confirmer).
type RoomConfirmer interface {
	// Store publishes body, the JSON of a room message with id msgID,
	// and returns nil once it is seen stored, an error wrapping
	// confirm.ErrNotStored when it was not within Timeout, or ctx's
	// error.
	Store(ctx context.Context, roomID, msgID string, body []byte) error
	// Timeout is how long a message may stay unseen in all.
	Timeout() time.Duration
}

// Presence tells who is online in a room across replicas.
type Presence interface {
	// Members returns the users online in roomID.
	Members(roomID string) []string
}

// Options configure the API. Store is required; zero values of the others
// take defaults.
type Options struct {
	// Store keeps the rooms and their history.
	Store rooms.Store
	// Publisher carries server push to the broker; without one push
	// answers 503.
	Publisher Publisher
	// Confirm, when set, carries pushes into rooms instead of
	// Publisher: a push is answered 201 only once the message is seen
	// stored in the room's history, and 503 (code not_stored) when that
	// does not happen within the Confirmer's timeout. Without it a room
	// push is answered 202 once the broker accepted it.
	Confirm RoomConfirmer
	// Presence counts members; without one every room has none online.
	Presence Presence
	// APIKey guards server push and may do anything a room owner may,
	// in any room. Empty: push is refused (401), and only owners delete
	// or change their rooms.
	APIKey string
	// Identify tells users from their credentials (Basic or a bearer
	// token); without it every caller but the API key is anonymous and
	// private rooms can be neither created nor read.
	Identify Identify
	// ValidUser checks member names of private rooms (default: any
	// non-empty name).
	ValidUser func(string) bool
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// NewID returns a new message id (default a random UUID).
	NewID func() string
	// MaxMessageBytes limits a pushed message's text (default
	// rooms.DefaultMaxMessageBytes).
	MaxMessageBytes int
	// Attachments says which attachment URLs a room push accepts
	// (rooms.ParseAttachments; https only by default).
	Attachments rooms.AttachmentRules
	// PublishTimeout bounds the wait for the broker to accept a push
	// (default 10 s).
	PublishTimeout time.Duration
	// RoomWait bounds how long a request naming a room this replica does
	// not know waits for it: a room created through another replica
	// reaches this one's registry within milliseconds, and a client
	// behind a load balancer must be able to read what it just created
	// (default 0: no wait).
	RoomWait time.Duration
	// Limiter bounds room creation; nil creates without bounds (tests of
	// other things: the server always sets one).
	Limiter *roomlimit.Limiter
	// VerifiedUsers says user names are checked (auth.mode static or
	// jwt): creating a room then needs a signed-in user or the API key,
	// and a user's creations count against the user's limits only. Without
	// it (auth.mode none, where any name can be claimed) the client's
	// address limits apply to every creation.
	VerifiedUsers bool
	// ListMaxBytes bounds the JSON of one GET /api/rooms page (0: only
	// its room count is bounded).
	ListMaxBytes int
	// Sync, when set, brings the store's view up to every replica's
	// changes before a list is answered (rooms.Syncer, see
	// roomlist.Fresh); nil for a store whose view cannot lag.
	Sync func(ctx context.Context) error
	// Moderation carries out kicks, bans, mutes and moderator changes
	// (nil: those endpoints answer 503).
	Moderation *moderation.Service
	// Revision edits and deletes messages (nil: those endpoints answer
	// 503).
	Revision *revision.Service
	// Reads sets and shows read positions (nil: those endpoints answer
	// 503); Summaries adds unread counts and last messages to room lists
	// (nil: none).
	Reads     *readstate.Marker
	Summaries *readstate.Summarizer
	// Logger receives server-side failures (default slog.Default()).
	Logger *slog.Logger
	// Replica describes this replica for GET /api/admin/rooms (nil: no
	// name, no connections).
	Replica func() ReplicaView
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = uuid.NewString
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = rooms.DefaultMaxMessageBytes
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// api is the http.Handler New returns.
type api struct {
	opts   Options
	keySum *[sha256.Size]byte // SHA-256 of APIKey; nil when none is set
	mux    *http.ServeMux
	// patterns are the routes registered, in order (openapi_test.go
	// checks each is documented)
	patterns []string
}

// New returns the API's handler; mount it at /api/ (it matches full
// paths). It panics without a Store.
func New(opts Options) http.Handler {
	if opts.Store == nil {
		panic("httpapi: Options.Store is required")
	}
	a := &api{opts: opts.withDefaults(), mux: http.NewServeMux()}
	if opts.APIKey != "" {
		sum := sha256.Sum256([]byte(opts.APIKey))
		a.keySum = &sum
	}
	a.handle("POST /api/rooms", a.createRoom)
	a.handle("GET /api/rooms", a.listRooms)
	a.handle("GET /api/rooms/{id}", a.getRoom)
	a.handle("DELETE /api/rooms/{id}", a.deleteRoom)
	a.handle("GET /api/rooms/{id}/messages", a.history)
	a.handle("GET /api/rooms/{id}/members", a.members)
	a.handle("GET /api/rooms/{id}/access", a.getAccess)
	a.handle("PUT /api/rooms/{id}/access", a.setAccess)
	a.handle("POST /api/rooms/{id}/messages", a.pushToRoom)
	a.handle("GET /api/rooms/{id}/moderation", a.getModeration)
	a.handle("POST /api/rooms/{id}/moderation", a.moderate)
	a.handle("PUT /api/rooms/{id}/moderators", a.setModerators)
	a.handle("PUT /api/rooms/{id}/messages/{offset}", a.editMessage)
	a.handle("DELETE /api/rooms/{id}/messages/{offset}", a.deleteMessage)
	a.handle("PUT /api/rooms/{id}/read", a.setRead)
	a.handle("GET /api/rooms/{id}/reads", a.getReads)
	a.handle("POST /api/users/{name}/messages", a.pushToUser)
	a.handle("GET /api/admin/rooms", a.adminRooms)
	a.handle("GET /api/openapi.json", a.openapi)
	a.handle("GET /api/asyncapi.json", a.asyncapi)
	return a
}

// handlerFunc is an endpoint: it writes its answer, or returns an error
// that handle turns into a JSON error answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern, answering its errors in JSON: an
// *httpError as itself, anything else as a logged 500.
func (a *api) handle(pattern string, h handlerFunc) {
	a.patterns = append(a.patterns, pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpError
		if !errors.As(err, &he) {
			a.opts.Logger.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			he = &httpError{status: http.StatusInternalServerError, msg: "internal error"}
		}
		he.write(w)
	})
}

// ServeHTTP implements http.Handler. Requests no pattern matches get a
// JSON 404, or a JSON 405 with Allow when another method would match; a
// panicking endpoint gets a JSON 500.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.opts.Logger.Error("httpapi: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	// Let the mux tell 404 from 405, then answer in JSON.
	rec := &statusRecorder{header: http.Header{}}
	a.mux.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeError(w, rec.status, "method not allowed")
	case http.StatusNotFound, 0:
		writeError(w, http.StatusNotFound, "not found")
	default:
		writeError(w, rec.status, http.StatusText(rec.status))
	}
}

// statusRecorder keeps the status and headers of the mux's own 404 and
// 405 answers and drops their text body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}
