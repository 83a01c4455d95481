package memstore

import (
	"errors"
	"testing"

	"chatrelay/internal/rooms"
)

// TestCreateByID: a Spec.ID names the room; a taken or invalid id is
// refused.
func TestCreateByID(t *testing.T) {
	s, _ := newStore(t, 10)
	r, err := s.Create(testCtx(t), rooms.Spec{ID: "1", Name: "1", CreatedBy: "api"})
	if err != nil || r.ID != "1" {
		t.Fatalf("create: %+v %v", r, err)
	}
	if got, ok := s.Get("1"); !ok || got.Name != "1" {
		t.Fatalf("get: %+v %v", got, ok)
	}
	if _, err := s.Create(testCtx(t), rooms.Spec{ID: "1", Name: "another", CreatedBy: "api"}); !errors.Is(err, rooms.ErrDuplicateID) {
		t.Fatalf("taken id: %v", err)
	}
	if _, err := s.Create(testCtx(t), rooms.Spec{ID: "a.b", Name: "x", CreatedBy: "api"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("invalid id: %v", err)
	}
}
