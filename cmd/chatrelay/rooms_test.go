package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatrelay/internal/httpapi"
)

// fakeReplica answers GET /api/admin/rooms for API key k.
func fakeReplica(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/admin/rooms" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, `{"error":"missing or wrong API key"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(httpapi.AdminView{
			Replica: httpapi.ReplicaView{ID: "web-1:8080", Connections: []httpapi.BrokerConnection{}},
			Rooms:   []httpapi.AdminRoom{{ID: "aaaa", Name: "채팅방", Stream: "room.chaetingbang.aaaa", Online: 2}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// emptyConfig writes a config file with defaults only.
func emptyConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("logging:\n  level: info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoomsSubcommand(t *testing.T) {
	srv := fakeReplica(t)
	cfg := emptyConfig(t)
	t.Setenv("CHATRELAY_HTTP_API_KEY", "k")
	var out strings.Builder
	if err := runRooms([]string{"-config", cfg, "-server", srv.URL, "-management", "off"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replica web-1:8080", "aaaa", "채팅방", "room.chaetingbang.aaaa", "1 rooms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runRooms([]string{"-config", cfg, "-server", srv.URL, "-management", "off", "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rooms []struct {
			ID, Stream string
			Online     int
			Rate       *float64 `json:"messagesPerSecond"`
		}
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || len(rep.Rooms) != 1 || rep.Rooms[0].Online != 2 || rep.Rooms[0].Rate != nil {
		t.Fatalf("JSON %q: %v", out.String(), err)
	}
}

func TestRoomsSubcommandRefusals(t *testing.T) {
	srv := fakeReplica(t)
	cfg := emptyConfig(t)
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"-server", srv.URL}, "no API key"},
		{"wrong", []string{"-server", srv.URL, "-management", "off"}, "401"},
		{"k", []string{"-server", srv.URL, "extra"}, "unexpected argument"},
		{"k", []string{"-server", srv.URL, "-bogus"}, "bogus"},
	} {
		t.Setenv("CHATRELAY_HTTP_API_KEY", tc.env)
		var out strings.Builder
		err := runRooms(append([]string{"-config", cfg}, tc.args...), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v with key %q: %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
}
