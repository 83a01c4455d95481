package config

import (
	"strings"
	"testing"
)

func TestTutorialSettings(t *testing.T) {
	for _, tt := range []struct {
		sw, auth string
		want     bool
	}{
		{SwitchAuto, AuthNone, true}, {SwitchAuto, AuthStatic, false}, {SwitchAuto, AuthJWT, false},
		{SwitchOn, AuthJWT, true}, {SwitchOff, AuthNone, false},
	} {
		if got := On(tt.sw, tt.auth); got != tt.want {
			t.Errorf("On(%s, %s) = %v", tt.sw, tt.auth, got)
		}
	}
	t.Setenv("CHATRELAY_TUTORIAL_MODE", "off")
	t.Setenv("CHATRELAY_ROOMS_SYSTEM_LANGUAGE", "en")
	c, err := Load("")
	if err != nil || c.Tutorial.Mode != SwitchOff || c.Rooms.SystemLanguage != "en" || len(c.Tutorial.RESTAliases) != 3 {
		t.Fatalf("%+v %+v %v", c.Tutorial, c.Rooms.SystemLanguage, err)
	}
}

func TestInvalidTutorialSettingsAreRefused(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_TUTORIAL_MODE", "yes"},
		{"CHATRELAY_TUTORIAL_CREATE_ROOMS", "true"},
		{"CHATRELAY_ROOMS_SYSTEM_LANGUAGE", "fr"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
	}
	for _, bad := range []RESTAlias{
		{"GET /chat/rooms", "delete"},
		{"PUT /chat/room", RESTCreate},
		{"GET /chat/room", RESTCreate},
		{"GET /chat/room", RESTGet},
		{"GET /chat/room/{id}", RESTList},
		{"GET /api/rooms", RESTList},
		{"GET /", RESTList},
		{"/chat/rooms", RESTList},
	} {
		c := Defaults()
		c.Tutorial.RESTAliases = []RESTAlias{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tutorial.rest_aliases") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
