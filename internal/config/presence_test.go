package config

import (
	"testing"
	"time"
)

func TestPresenceAnnounceSettings(t *testing.T) {
	d := Defaults().Rooms.Presence
	if d.MaxBroadcastMembers != 200 || d.LeaveGrace != 5*time.Second || d.EnterWindow != 30*time.Second ||
		d.UserRate != 0.5 || d.UserBurst != 10 {
		t.Fatalf("defaults: %+v", d)
	}
	t.Setenv("CHATRELAY_ROOMS_PRESENCE_MAX_BROADCAST_MEMBERS", "50")
	t.Setenv("CHATRELAY_ROOMS_PRESENCE_LEAVE_GRACE", "2s")
	t.Setenv("CHATRELAY_ROOMS_PRESENCE_USER_RATE", "0") // unlimited; burst no longer matters
	t.Setenv("CHATRELAY_ROOMS_PRESENCE_USER_BURST", "0")
	c, err := Load("")
	if err != nil || c.Rooms.Presence.MaxBroadcastMembers != 50 || c.Rooms.Presence.LeaveGrace != 2*time.Second || c.Rooms.Presence.UserRate != 0 {
		t.Fatalf("overrides: %+v %v", c.Rooms.Presence, err)
	}
}

func TestInvalidPresenceSettingsAreRefused(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_ROOMS_PRESENCE_MAX_BROADCAST_MEMBERS", "0"},
		{"CHATRELAY_ROOMS_PRESENCE_LEAVE_GRACE", "0s"},
		{"CHATRELAY_ROOMS_PRESENCE_ENTER_WINDOW", "-1s"},
		{"CHATRELAY_ROOMS_PRESENCE_USER_RATE", "-1"},
		{"CHATRELAY_ROOMS_PRESENCE_USER_BURST", "0"}, // with the default rate
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
	}
}

func TestTypingSettings(t *testing.T) {
	t.Setenv("CHATRELAY_ROOMS_TYPING_TTL", "8s")
	t.Setenv("CHATRELAY_ROOMS_TYPING_MAX_ROOMS_PER_USER", "2")
	c, err := Load("")
	if err != nil || c.Rooms.Typing.TTL != 8*time.Second || c.Rooms.Typing.MaxRoomsPerUser != 2 || c.Rooms.Typing.Refresh != 2*time.Second {
		t.Fatalf("overrides: %+v %v", c.Rooms.Typing, err)
	}
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_ROOMS_TYPING_TTL", "0s"},
		{"CHATRELAY_ROOMS_TYPING_REFRESH", "8s"}, // not shorter than the 8 s TTL set above
		{"CHATRELAY_ROOMS_TYPING_USER_RATE", "0"},
		{"CHATRELAY_ROOMS_TYPING_USER_BURST", "0"},
		{"CHATRELAY_ROOMS_TYPING_MAX_ROOMS_PER_USER", "0"},
		{"CHATRELAY_ROOMS_TYPING_MAX_TRACKED", "-1"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
	}
}
