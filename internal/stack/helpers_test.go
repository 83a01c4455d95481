package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/servertest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/testkit"
)

// The management administrator defined in rabbitmq/definitions.json
// (documented in rabbitmq.conf and compose.yaml).
const (
	adminUser     = "admin"
	adminPassword = "admin-change-me"
)

// repoFile returns the contents of a file given relative to the
// repository root.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadProject loads compose.yaml (see loadCompose).
func loadProject(t testing.TB) *types.Project {
	t.Helper()
	return loadCompose(t, "compose.yaml")
}

// loadCompose loads a compose file of the repository root the way docker
// compose does, from the root, with an empty environment (so
// ${VAR:-default} takes its default) and no .env file.
func loadCompose(t testing.TB, file string) *types.Project {
	t.Helper()
	root := testkit.RepoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, file)},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := cli.ProjectFromOptions(ctx, opts)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return p
}

// env returns a service's environment variable ("" when unset).
func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// brokerUser is the relay's broker identity as compose.yaml configures
// the replicas.
type brokerUser struct {
	Login, Passcode, VHost string
}

// composeBrokerUser reads the relay's broker user from the chatrelay1
// service of compose.yaml.
func composeBrokerUser(t testing.TB) brokerUser {
	t.Helper()
	s, ok := loadProject(t).Services["chatrelay1"]
	if !ok {
		t.Fatal("compose.yaml has no service chatrelay1")
	}
	u := brokerUser{
		Login:    env(s, "CHATRELAY_BROKER_LOGIN"),
		Passcode: env(s, "CHATRELAY_BROKER_PASSCODE"),
		VHost:    env(s, "CHATRELAY_BROKER_VHOST"),
	}
	if u.Login == "" || u.Passcode == "" || u.VHost == "" {
		t.Fatalf("chatrelay1 lacks CHATRELAY_BROKER_LOGIN, _PASSCODE or _VHOST: %+v", u)
	}
	return u
}

// replicaConfig is the configuration compose.yaml gives a replica,
// pointed at the test node: RabbitMQ mode with the least-privilege user.
func replicaConfig(n *rabbittest.Node, u brokerUser) config.Config {
	cfg := config.Defaults()
	cfg.Broker.Mode = config.BrokerRabbitMQ
	cfg.Broker.Addresses = []string{n.STOMPAddr()}
	cfg.Broker.AMQPAddresses = []string{n.AMQPAddr()}
	cfg.Broker.Login = u.Login
	cfg.Broker.Passcode = u.Passcode
	cfg.Broker.VHost = u.VHost
	cfg.Broker.ReconnectMin = 50 * time.Millisecond
	cfg.Broker.ReconnectMax = time.Second
	cfg.HTTP.APIKey = "stack-test-key"
	return cfg
}

// startReplica runs a server with cfg until the test ends and waits until
// its relay has an upstream connection.
func startReplica(t testing.TB, cfg config.Config) *servertest.Replica {
	t.Helper()
	var log *slog.Logger
	if testing.Verbose() {
		log = rabbittest.Logger(t)
	}
	return servertest.Start(t, cfg, log, 20*time.Second)
}

// httpClient bounds every REST call of the tests.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// doJSON sends a request with an optional JSON body and bearer key and
// decodes a JSON answer into out (when not nil); it returns the status.
func doJSON(t testing.TB, method, url, key string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp.StatusCode
}

// createRoom creates a room through base's REST API and returns its id.
func createRoom(t testing.TB, base, name string) string {
	t.Helper()
	var room struct{ ID string }
	if code := doJSON(t, http.MethodPost, base+"/api/rooms", "", map[string]string{"name": name}, &room); code != http.StatusCreated || room.ID == "" {
		t.Fatalf("create room %q at %s: status %d, room %+v", name, base, code, room)
	}
	return room.ID
}

// waitRoom waits until the server at base lists room id.
func waitRoom(t testing.TB, base, id string) {
	t.Helper()
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		return doJSON(t, http.MethodGet, base+"/api/rooms/"+id, "", nil, nil) == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("room %s never reached %s: %v", id, base, err)
	}
}

// connect dials a WebSocket URL and connects as login.
func connect(t testing.TB, url, login string) *stomptest.Client {
	t.Helper()
	c, _, err := stomptest.Dial(url, stomptest.Options{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Connect("login", login); err != nil {
		t.Fatalf("CONNECT %s as %s: %v", url, login, err)
	}
	return c
}

// say sends a chat message into room and waits for the server's receipt;
// MESSAGE frames that arrive first (c may be subscribed to the room) are
// dropped.
func say(t testing.TB, c *stomptest.Client, room, text string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "said")
	f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":%q}`, room, text))
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.Read(time.Until(deadline))
		if err != nil {
			t.Fatalf("SEND to room %s: waiting for RECEIPT: %v", room, err)
		}
		switch r.Command {
		case stomp.RECEIPT:
			return
		case stomp.MESSAGE:
		default:
			t.Fatalf("SEND to room %s: got %s %q %q, want RECEIPT", room, r.Command, r.Header("message"), r.Body)
		}
	}
}

// roomMessage is the part of a room MESSAGE body the tests look at.
type roomMessage struct {
	Type    string `json:"type"`
	Sender  string `json:"sender"`
	Message string `json:"message"`
	Offset  int64  `json:"offset"`
}

// expectTalk reads MESSAGE frames on c until the TALK message text
// arrives, skipping presence (ENTER, LEAVE) and other room traffic.
func expectTalk(t testing.TB, c *stomptest.Client, text string) roomMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, err := c.Expect(stomp.MESSAGE, time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q: %v", text, err)
		}
		var m roomMessage
		if json.Unmarshal(f.Body, &m) == nil && m.Type == "TALK" && m.Message == text {
			return m
		}
	}
}

// unique returns a name no other test run uses.
func unique(t testing.TB) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + fmt.Sprint(time.Now().UnixNano()%1e9)
}
