package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

var testNow = time.Date(2024, 5, 1, 12, 0, 0, 7, time.FixedZone("KST", 9*3600))

const testKey = "s3cret-key"

// fakeStore is an in-memory rooms.Store.
type fakeStore struct {
	mu         sync.Mutex
	rooms      []rooms.Room
	msgs       map[string][]rooms.Message // oldest first
	nextID     int
	createErr  error
	historyErr error
	lastLimit  int
	panicList  bool
	onMiss     func(id string) // called, unlocked, when Get finds nothing
	opens      int             // Open calls
	openErr    error           // Open's answer for a known room
}

func newFakeStore() *fakeStore { return &fakeStore{msgs: map[string][]rooms.Message{}} }

func (s *fakeStore) Create(_ context.Context, spec rooms.Spec) (rooms.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.createErr != nil {
		return rooms.Room{}, s.createErr
	}
	r, ok := rooms.NewRoom(spec)
	if !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	for _, x := range s.rooms {
		if x.Name == r.Name {
			return rooms.Room{}, rooms.ErrDuplicateName
		}
	}
	s.nextID++
	r.ID, r.CreatedAt, r.Seq = strconv.Itoa(s.nextID), testNow.UTC(), int64(s.nextID)
	s.msgs[r.ID] = []rooms.Message{}
	s.rooms = append(s.rooms, r)
	return r, nil
}

func (s *fakeStore) SetMembers(_ context.Context, id string, members []string) (rooms.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rooms {
		if r.ID != id {
			continue
		}
		var ok bool
		if r.Members, ok = rooms.CleanMembers(r.Owner(), members); !ok || !r.Private {
			return rooms.Room{}, rooms.ErrInvalid
		}
		s.rooms[i] = r
		return r, nil
	}
	return rooms.Room{}, rooms.ErrNotFound
}

func (s *fakeStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rooms {
		if r.ID == id {
			s.rooms = append(s.rooms[:i], s.rooms[i+1:]...)
			delete(s.msgs, id)
			return nil
		}
	}
	return rooms.ErrNotFound
}

func (s *fakeStore) Get(id string) (rooms.Room, bool) {
	s.mu.Lock()
	for _, r := range s.rooms {
		if r.ID == id {
			s.mu.Unlock()
			return r, true
		}
	}
	onMiss := s.onMiss
	s.mu.Unlock()
	if onMiss != nil {
		onMiss(id)
	}
	return rooms.Room{}, false
}

// Open counts the call; an unknown room is not found.
func (s *fakeStore) Open(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	for _, r := range s.rooms {
		if r.ID == id {
			return s.openErr
		}
	}
	return rooms.ErrNotFound
}

func (s *fakeStore) List() []rooms.Room {
	if s.panicList {
		panic("store exploded")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rooms.Room(nil), s.rooms...)
}

func (s *fakeStore) Page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	if s.panicList {
		panic("store exploded")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return rooms.PageOf(len(s.rooms), func(i int) rooms.Room { return s.rooms[i] }, after, limit, keep)
}

func (s *fakeStore) History(_ context.Context, id string, before int64, limit int) ([]rooms.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastLimit = limit
	if s.historyErr != nil {
		return nil, s.historyErr
	}
	all, ok := s.msgs[id]
	if !ok {
		return nil, rooms.ErrNotFound
	}
	var out []rooms.Message
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if before < 0 || all[i].Offset < before {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func (s *fakeStore) Follow(context.Context, string, rooms.Start, func(rooms.Message, []byte)) (func(), error) {
	return nil, errors.New("fakeStore: Follow not supported")
}

func (s *fakeStore) Close() error { return nil }

// addRoom adds a room with n messages at offsets 0..n-1.
func (s *fakeStore) addRoom(t *testing.T, name string, n int) rooms.Room {
	t.Helper()
	r, err := s.Create(context.Background(), rooms.Spec{Name: name, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := []rooms.Message{}
	for i := range n {
		msgs = append(msgs, rooms.Message{Post: rooms.Post{ID: "m" + strconv.Itoa(i), RoomID: r.ID, Type: rooms.Talk,
			Sender: "alice", Message: "line " + strconv.Itoa(i), SentAt: testNow.UTC()}, Offset: int64(i)})
	}
	s.msgs[r.ID] = msgs
	return r
}

// publication is one call to fakePublisher.Publish.
type publication struct {
	dest    string
	headers stomp.Headers
	body    []byte
}

// fakePublisher records publications and answers like the relay: refuse
// makes Publish fail (after calling onAccepted with it), reject is the
// broker's verdict, silent never gives one, async gives it later from
// another goroutine.
type fakePublisher struct {
	mu     sync.Mutex
	got    []publication
	refuse error
	reject error
	silent bool
	async  bool
}

func (p *fakePublisher) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse != nil {
		onAccepted(p.refuse)
		return p.refuse
	}
	p.got = append(p.got, publication{dest, h, body})
	switch {
	case p.silent:
	case p.async:
		// The goroutine ends after its one callback.
		go onAccepted(p.reject)
	default:
		onAccepted(p.reject)
	}
	return nil
}

func (p *fakePublisher) publications() []publication {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]publication(nil), p.got...)
}

// fakePresence answers Members from a fixed table, unsorted on purpose.
type fakePresence map[string][]string

func (f fakePresence) Members(roomID string) []string { return f[roomID] }

// env is one API under test with its fakes.
type env struct {
	store *fakeStore
	pub   *fakePublisher
	h     http.Handler
}

// newEnv builds an API; edit adjusts the options first.
func newEnv(edit func(*Options)) *env {
	e := &env{store: newFakeStore(), pub: &fakePublisher{}}
	opts := Options{
		Store:     e.store,
		Publisher: e.pub,
		Presence:  fakePresence{"1": {"carol", "alice"}},
		APIKey:    testKey,
		Now:       func() time.Time { return testNow },
		NewID:     func() string { return "msg-1" },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&opts)
	}
	e.h = New(opts)
	return e
}

// answer is a recorded response with its JSON body decoded.
type answer struct {
	status int
	header http.Header
	raw    string
	json   any
}

// field returns a top-level field of an object answer.
func (a answer) field(name string) any {
	m, _ := a.json.(map[string]any)
	return m[name]
}

// do sends a request; auth, when not empty, is the Authorization header.
// Every answer but 204 must be JSON.
func (e *env) do(t *testing.T, method, path, body, auth string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Code == http.StatusNoContent {
		if a.raw != "" {
			t.Errorf("%s %s: 204 with body %q", method, path, a.raw)
		}
		return a
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, body %q", method, path, ct, a.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.json); err != nil {
		t.Errorf("%s %s: body %q is not JSON: %v", method, path, a.raw, err)
	}
	if rec.Code >= 400 {
		if msg, _ := a.field("error").(string); msg == "" {
			t.Errorf("%s %s: error answer %q has no error text", method, path, a.raw)
		}
	}
	return a
}

// sortedKeys is for stable failure messages.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
