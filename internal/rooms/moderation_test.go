package rooms

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestApply(t *testing.T) {
	base := Room{ID: "r", CreatedBy: "ann", Moderators: []string{"carol", "frank"}}
	for _, tc := range []struct {
		name    string
		ch      Change
		want    Room
		invalid bool
	}{
		{"ban", Change{Action: ChangeBan, User: "bob"}, Room{ID: "r", CreatedBy: "ann", Moderators: base.Moderators, Banned: []string{"bob"}}, false},
		{"ban takes a moderator's role", Change{Action: ChangeBan, User: "carol"}, Room{ID: "r", CreatedBy: "ann", Moderators: []string{"frank"}, Banned: []string{"carol"}}, false},
		{"unban of nobody", Change{Action: ChangeUnban, User: "bob"}, base, false},
		{"mute", Change{Action: ChangeMute, User: " dave "}, Room{ID: "r", CreatedBy: "ann", Moderators: base.Moderators, Muted: []string{"dave"}}, false},
		{"moderators", Change{Action: ChangeModerators, Moderators: []string{"zed", "ann", "zed", " "}}, Room{ID: "r", CreatedBy: "ann", Moderators: []string{"zed"}}, false},
		{"no moderators", Change{Action: ChangeModerators}, Room{ID: "r", CreatedBy: "ann"}, false},
		{"the owner", Change{Action: ChangeBan, User: "ann"}, Room{}, true},
		{"nobody", Change{Action: ChangeMute, User: " "}, Room{}, true},
		{"unknown action", Change{Action: "smite", User: "bob"}, Room{}, true},
	} {
		got, err := base.Apply(tc.ch)
		if tc.invalid {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	if !reflect.DeepEqual(base.Moderators, []string{"carol", "frank"}) {
		t.Fatalf("Apply changed the shared list: %v", base.Moderators)
	}
}

// TestApplyKeepsListsSortedAndShared: bans in any order give a sorted
// list; a room holding a list is never changed by a later Apply on a copy.
func TestApplyKeepsListsSortedAndShared(t *testing.T) {
	r := Room{ID: "r", CreatedBy: "ann"}
	var err error
	for _, u := range []string{"m", "c", "x", "a", "c"} {
		if r, err = r.Apply(Change{Action: ChangeBan, User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"a", "c", "m", "x"}; !reflect.DeepEqual(r.Banned, want) {
		t.Fatalf("banned %v, want %v", r.Banned, want)
	}
	kept := r
	if _, err := r.Apply(Change{Action: ChangeBan, User: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(Change{Action: ChangeUnban, User: "a"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "c", "m", "x"}; !reflect.DeepEqual(kept.Banned, want) {
		t.Fatalf("a later Apply changed a kept room: %v", kept.Banned)
	}
}

func TestApplyBounds(t *testing.T) {
	r := Room{ID: "r", CreatedBy: "ann"}
	for i := range MaxSanctioned {
		r.Muted = append(r.Muted, fmt.Sprintf("u%06d", i))
	}
	if _, err := r.Apply(Change{Action: ChangeMute, User: "z"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mute beyond %d: %v, want ErrInvalid", MaxSanctioned, err)
	}
	if _, err := r.Apply(Change{Action: ChangeMute, User: "u000001"}); err != nil {
		t.Fatalf("muting a muted user at the bound: %v", err)
	}
	mods := make([]string, MaxModerators+1)
	for i := range mods {
		mods[i] = fmt.Sprintf("m%d", i)
	}
	if _, err := r.Apply(Change{Action: ChangeModerators, Moderators: mods}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%d moderators: %v, want ErrInvalid", len(mods), err)
	}
	if _, err := r.Apply(Change{Action: ChangeModerators, Moderators: mods[:MaxModerators]}); err != nil {
		t.Fatalf("%d moderators: %v", MaxModerators, err)
	}
}

func TestRolesAndSanctions(t *testing.T) {
	pub := Room{ID: "p", CreatedBy: "ann", Moderators: []string{"carol"}, Banned: []string{"bob"}, Muted: []string{"dave"}}
	priv := Room{ID: "q", CreatedBy: "ann", Private: true, Members: []string{"bob", "erin"}, Moderators: []string{"erin", "gone"}, Banned: []string{"bob"}}
	for _, tc := range []struct {
		room                  Room
		user                  string
		role                  string
		allows, mute, maySend bool
	}{
		{pub, "ann", RoleOwner, true, false, true},
		{pub, "carol", RoleModerator, true, false, true},
		{pub, "bob", "", false, false, false},
		{pub, "dave", "", true, true, false},
		{pub, "", "", true, false, true},
		{priv, "bob", "", false, false, false},
		{priv, "erin", RoleModerator, true, false, true},
		{priv, "gone", "", false, false, false}, // a moderator no longer a member
		{priv, "", "", false, false, false},
	} {
		if got := tc.room.Role(tc.user); got != tc.role {
			t.Errorf("%s: role of %q is %q, want %q", tc.room.ID, tc.user, got, tc.role)
		}
		if got := tc.room.Allows(tc.user); got != tc.allows {
			t.Errorf("%s: Allows(%q) = %v", tc.room.ID, tc.user, got)
		}
		if got := tc.room.IsMuted(tc.user); got != tc.mute {
			t.Errorf("%s: IsMuted(%q) = %v", tc.room.ID, tc.user, got)
		}
		if got := tc.room.MaySend(tc.user); got != tc.maySend {
			t.Errorf("%s: MaySend(%q) = %v", tc.room.ID, tc.user, got)
		}
	}
}
