package rooms

import "testing"

func TestDirectRooms(t *testing.T) {
	id := DirectID("ann", "bob")
	if id != DirectID("bob", "ann") || !ValidID(id) || !IsDirectID(id) || id == DirectID("ann", "bobb") || DirectID("an", "nbob") == DirectID("ann", "bob") {
		t.Fatalf("DirectID: %q", id)
	}
	r, ok := NewRoom(DirectSpec("ann", "bob"))
	if !ok || !r.Direct || !r.Private || r.ID != id || r.Name != id || r.CreatedBy != "ann" || len(r.Members) != 1 || r.Members[0] != "bob" {
		t.Fatalf("direct room %+v %v", r, ok)
	}
	if !r.Allows("ann") || !r.Allows("bob") || r.Allows("carol") || r.Allows("") {
		t.Fatal("a direct room admits its two users only")
	}
	if r.Peer("ann") != "bob" || r.Peer("bob") != "ann" || r.Role("ann") != "" {
		t.Fatalf("peers and roles of %+v", r)
	}
	if _, err := r.Apply(Change{Action: ChangeBan, User: "bob"}); err == nil {
		t.Fatal("a direct room took a ban")
	}
	self, ok := NewRoom(DirectSpec("ann", "ann"))
	if !ok || len(self.Members) != 0 || self.ID != DirectID("ann", "ann") || !self.Allows("ann") || self.Peer("ann") != "ann" {
		t.Fatalf("a note to oneself: %+v %v", self, ok)
	}
	// forged: another id, a third member, a public one, and the id of a
	// direct room for any other room
	for _, spec := range []Spec{
		{ID: DirectID("ann", "carol"), Name: DirectID("ann", "carol"), CreatedBy: "ann", Members: []string{"bob"}, Direct: true},
		{ID: id, Name: id, CreatedBy: "ann", Members: []string{"bob", "carol"}, Direct: true},
		{ID: id, Name: "chat", CreatedBy: "ann", Members: []string{"bob"}, Direct: true},
		{ID: id, Name: "lobby", CreatedBy: "ann"},
		{ID: "dm-x", Name: "lobby"},
	} {
		if r, ok := NewRoom(spec); ok {
			t.Errorf("NewRoom(%+v) = %+v, want refused", spec, r)
		}
	}
	all := []Room{r, {ID: "x", CreatedBy: "ann", Origin: "o"}, {ID: "y", CreatedBy: "bob", Direct: true, Origin: "o"}}
	if total, byUser, byOrigin := Count(all, "ann", "o"); total != 1 || byUser != 1 || byOrigin != 1 {
		t.Fatalf("Count: %d %d %d, want the one room that is not direct", total, byUser, byOrigin)
	}
	if total, byUser, byOrigin := CountDirect(all, "ann", "o"); total != 2 || byUser != 1 || byOrigin != 1 {
		t.Fatalf("CountDirect: %d %d %d", total, byUser, byOrigin)
	}
}
