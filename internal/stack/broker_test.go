package stack

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// node is the package's private RabbitMQ node, booted with the
// repository's rabbitmq.conf and definitions.json; nil without RabbitMQ.
var node *rabbittest.Node

func TestMain(m *testing.M) {
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
			os.Exit(1)
		}
		return b
	}
	os.Exit(rabbittest.MainWith(m, &node, rabbittest.Options{
		Config:      string(read("rabbitmq/rabbitmq.conf")),
		Definitions: read("rabbitmq/definitions.json"),
	}))
}

// TestBrokerFilesApplied: the node runs the repository's rabbitmq.conf
// (all but its listener lines and definitions path, which the harness
// owns) and has imported definitions.json.
func TestBrokerFilesApplied(t *testing.T) {
	n := rabbittest.Require(t, node)
	owned := []string{"listeners.tcp.default", "stomp.listeners.tcp.1", "web_stomp.tcp.port", "management.tcp.port", "load_definitions"}
	for _, key := range n.DroppedConfig {
		if !slices.Contains(owned, key) {
			t.Errorf("rabbitmq.conf setting %s was not applied to the test node", key)
		}
	}
	u := composeBrokerUser(t)
	var users []struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := n.MgmtGet("/api/users", &users); err != nil {
		t.Fatal(err)
	}
	tags := map[string][]string{}
	for _, x := range users {
		tags[x.Name] = x.Tags
	}
	if _, ok := tags[u.Login]; !ok {
		t.Fatalf("user %s not imported; users: %v", u.Login, tags)
	}
	if !slices.Contains(tags[adminUser], "administrator") {
		t.Errorf("user %s has tags %v, want administrator", adminUser, tags[adminUser])
	}
	var vhost struct{ Name string }
	if err := n.MgmtGet("/api/vhosts/"+url.PathEscape(u.VHost), &vhost); err != nil || vhost.Name != u.VHost {
		t.Fatalf("vhost %s not imported: %v", u.VHost, err)
	}
	// the administrator can use the management API, the relay user cannot
	if code := mgmtStatus(t, n, "/api/whoami", adminUser, adminPassword); code != http.StatusOK {
		t.Errorf("management API as %s: %d, want 200", adminUser, code)
	}
	if code := mgmtStatus(t, n, "/api/whoami", u.Login, u.Passcode); code != http.StatusUnauthorized {
		t.Errorf("management API as %s: %d, want 401 (no management tag)", u.Login, code)
	}
}

// mgmtStatus GETs a management API path with the given credentials and
// returns the status code.
func mgmtStatus(t testing.TB, n *rabbittest.Node, path, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.MgmtURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rawSTOMP is a plain STOMP connection to the node, for probing what a
// broker user may do without the relay in between.
type rawSTOMP struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dialRaw connects to the node's STOMP port as login in vhost and returns
// the connection and the first frame (CONNECTED or ERROR).
func dialRaw(t testing.TB, n *rabbittest.Node, login, passcode, vhost string) (*rawSTOMP, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.STOMPAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &rawSTOMP{t: t, c: c, r: bufio.NewReader(c)}
	s.send(fmt.Sprintf("CONNECT\naccept-version:1.2\nhost:%s\nlogin:%s\npasscode:%s\nheart-beat:0,0\n\n", vhost, login, passcode))
	return s, s.read()
}

func (s *rawSTOMP) send(frame string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(frame + "\x00")); err != nil {
		s.t.Fatal(err)
	}
}

// read returns the next frame, or "" when the broker closed the
// connection.
func (s *rawSTOMP) read() string {
	s.t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := s.r.ReadString(0)
	if err != nil && f == "" {
		return ""
	}
	return strings.TrimLeft(strings.TrimSuffix(f, "\x00"), "\r\n")
}

// TestRelayUserIsLeastPrivileged: the relay user reaches its own vhost
// only, and within it neither the firehose nor the broker's amq.* objects.
func TestRelayUserIsLeastPrivileged(t *testing.T) {
	n := rabbittest.Require(t, node)
	u := composeBrokerUser(t)
	if _, f := dialRaw(t, n, u.Login, u.Passcode, "/"); !strings.HasPrefix(f, "ERROR") {
		t.Errorf("relay user in vhost /: got %q, want ERROR", f)
	}
	if _, f := dialRaw(t, n, u.Login, "wrong", u.VHost); !strings.HasPrefix(f, "ERROR") {
		t.Errorf("relay user with a wrong passcode: got %q, want ERROR", f)
	}
	for _, dest := range []string{
		"/exchange/amq.rabbitmq.trace/#", // the firehose: every message of the vhost
		"/exchange/amq.fanout",
		"/exchange/amq.direct/x",
	} {
		s, f := dialRaw(t, n, u.Login, u.Passcode, u.VHost)
		if !strings.HasPrefix(f, "CONNECTED") {
			t.Fatalf("relay user: CONNECT answered %q", f)
		}
		s.send("SUBSCRIBE\nid:probe\ndestination:" + dest + "\nreceipt:r\n\n")
		if f := s.read(); !strings.HasPrefix(f, "ERROR") || !(strings.Contains(f, "access_refused") || strings.Contains(f, "ACCESS_REFUSED")) {
			t.Errorf("relay user SUBSCRIBE %s: got %q, want ERROR access refused", dest, f)
		}
	}
	// what the relay itself does works: a topic subscription (a
	// stomp-subscription-* queue bound to amq.topic) and a SEND to it
	s, f := dialRaw(t, n, u.Login, u.Passcode, u.VHost)
	if !strings.HasPrefix(f, "CONNECTED") {
		t.Fatalf("relay user: CONNECT answered %q", f)
	}
	topic := "/topic/stack." + strings.ReplaceAll(unique(t), "-", ".")
	s.send("SUBSCRIBE\nid:s\ndestination:" + topic + "\nreceipt:r\n\n")
	if f := s.read(); !strings.HasPrefix(f, "RECEIPT") {
		t.Fatalf("relay user SUBSCRIBE %s: %q", topic, f)
	}
	s.send("SEND\ndestination:" + topic + "\n\nhello")
	if f := s.read(); !strings.HasPrefix(f, "MESSAGE") || !strings.HasSuffix(f, "\n\nhello") {
		t.Fatalf("relay user round trip on %s: %q", topic, f)
	}
}

// TestGuestStaysLocal: guest is restricted to loopback connections, which
// a loopback-only test can only check in the configuration itself.
func TestGuestStaysLocal(t *testing.T) {
	settings := rabbittest.ConfigSettings(repoFile(t, "rabbitmq/rabbitmq.conf"))
	if settings["loopback_users.guest"] != "true" {
		t.Fatalf("rabbitmq.conf: loopback_users.guest = %q, want true", settings["loopback_users.guest"])
	}
	if _, ok := settings["loopback_users"]; ok {
		t.Fatalf("rabbitmq.conf sets loopback_users, which could lift the guest restriction")
	}
}

// TestStreamCoordinatorWALBounded: the repository's rabbitmq.conf bounds
// the stream coordinator's in-memory WAL entries (raft.wal_max_entries),
// which otherwise grow by about 7 KB per room stream created and deleted
// until a 64 MB WAL rolls over.
func TestStreamCoordinatorWALBounded(t *testing.T) {
	n := rabbittest.Require(t, node)
	out, err := n.Ctl("eval", "maps:get(wal_max_entries, ra_system:fetch(coordination)).")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "10000" {
		t.Fatalf("coordination WAL max entries %q, want 10000 from rabbitmq.conf", got)
	}
}
