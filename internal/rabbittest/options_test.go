package rabbittest

import (
	"bufio"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMergeConfig(t *testing.T) {
	base := "# harness\nlisteners.tcp.default = 127.0.0.1:1\nloopback_users.guest = false\nlog.console = false\n"
	extra := `# repo file
listeners.tcp.default = 5672
stomp.listeners.tcp.1 = 61613
loopback_users.guest = true
  web_stomp.ws_frame=binary
load_definitions = /etc/rabbitmq/definitions.json
`
	merged, dropped := mergeConfig(base, extra)
	got := ConfigSettings(merged)
	want := map[string]string{
		"listeners.tcp.default": "127.0.0.1:1", // owned by the harness
		"loopback_users.guest":  "true",        // replaced
		"log.console":           "false",       // kept
		"web_stomp.ws_frame":    "binary",      // added
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q\n%s", k, got[k], v, merged)
		}
	}
	if len(got) != len(want) {
		t.Errorf("settings %v, want %v", got, want)
	}
	if n := strings.Count(merged, "loopback_users.guest = "); n != 2 || !strings.Contains(merged, "# replaced by Options.Config: loopback_users.guest = false") {
		t.Errorf("the replaced line is not commented out:\n%s", merged)
	}
	if !slices.Equal(dropped, []string{"listeners.tcp.default", "stomp.listeners.tcp.1", "load_definitions"}) {
		t.Errorf("dropped %v", dropped)
	}
	if m, d := mergeConfig(base, " \n"); m != base || d != nil {
		t.Errorf("empty extra changed the config: %q %v", m, d)
	}
}

func TestHarnessOwns(t *testing.T) {
	for key, want := range map[string]bool{
		"listeners.tcp.default":    true,
		"listeners.ssl.default":    true,
		"stomp.listeners.tcp.1":    true,
		"web_stomp.tcp.port":       true,
		"web_stomp.port":           true,
		"management.tcp.port":      true,
		"management.listener.port": true,
		"log.file.level":           true,
		"load_definitions":         true,
		"definitions.local.path":   true,
		"loopback_users.guest":     false,
		"stomp.default_vhost":      false,
		"web_stomp.ws_frame":       false,
		"management.rates_mode":    false,
		"max_message_size":         false,
		"log.console":              false,
	} {
		if harnessOwns(key) != want {
			t.Errorf("harnessOwns(%q) = %v, want %v", key, !want, want)
		}
	}
}

func TestGuestDefinitions(t *testing.T) {
	in := `{"vhosts":[{"name":"app"}],"users":[{"name":"app","tags":[]}],
		"permissions":[{"user":"app","vhost":"app","configure":"x","write":"x","read":"x"}],"queues":[]}`
	out, err := guestDefinitions([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		VHosts      []struct{ Name string }
		Users       []struct{ Name, Password_hash string }
		Permissions []struct{ User, VHost string }
		Queues      []any
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.VHosts) != 2 || doc.VHosts[1].Name != "/" {
		t.Errorf("vhosts %+v", doc.VHosts)
	}
	if len(doc.Users) != 2 || doc.Users[1].Name != "guest" || !CheckPasswordHash(doc.Users[1].Password_hash, "guest") {
		t.Errorf("users %+v", doc.Users)
	}
	if len(doc.Permissions) != 2 || doc.Permissions[1].User != "guest" || doc.Permissions[1].VHost != "/" {
		t.Errorf("permissions %+v", doc.Permissions)
	}
	if doc.Queues == nil {
		t.Error("other sections were lost")
	}
	// a document that has them already is left as it is
	again, err := guestDefinitions(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) {
		t.Errorf("guest added twice:\n%s", again)
	}
	if _, err := guestDefinitions([]byte("{")); err == nil {
		t.Error("broken JSON accepted")
	}
}

func TestPasswordHash(t *testing.T) {
	h1, h2 := PasswordHash("secret"), PasswordHash("secret")
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !CheckPasswordHash(h1, "secret") || !CheckPasswordHash(h2, "secret") {
		t.Error("hash does not check")
	}
	if CheckPasswordHash(h1, "Secret") || CheckPasswordHash("not base64!", "secret") || CheckPasswordHash("", "") {
		t.Error("wrong password or malformed hash accepted")
	}
}

// TestStartWithOptions boots a second node with extra config and
// definitions and checks both took effect.
func TestStartWithOptions(t *testing.T) {
	Require(t, node)
	defs := `{"vhosts":[{"name":"opts"}],
		"users":[{"name":"app","password_hash":"` + PasswordHash("pw") + `","hashing_algorithm":"rabbit_password_hashing_sha256","tags":[]}],
		"permissions":[{"user":"app","vhost":"opts","configure":".*","write":".*","read":".*"}]}`
	n, err := StartWith(t.TempDir(), Options{
		Config:      "stomp.default_vhost = opts\nstomp.listeners.tcp.1 = 61613\n",
		Definitions: []byte(defs),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if !slices.Equal(n.DroppedConfig, []string{"stomp.listeners.tcp.1"}) {
		t.Errorf("DroppedConfig %v", n.DroppedConfig)
	}
	// without a host header, STOMP lands in stomp.default_vhost, where
	// only the imported user may connect
	c, err := dialRaw(n, "CONNECT\naccept-version:1.2\nlogin:app\npasscode:pw\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c, "CONNECTED") {
		t.Fatalf("CONNECT as the imported user to the default vhost: %q", c)
	}
}

// dialRaw opens a STOMP connection to n, sends connect (a CONNECT frame
// without its NUL) and returns the answer frame.
func dialRaw(n *Node, connect string) (string, error) {
	c, err := net.DialTimeout("tcp", n.STOMPAddr(), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(connect + "\x00")); err != nil {
		return "", err
	}
	f, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		return "", err
	}
	return strings.TrimLeft(f, "\r\n"), nil
}
