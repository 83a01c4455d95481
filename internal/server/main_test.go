package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/apicheck"
	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomptest"
)

// rabbit is the private RabbitMQ node shared by this package's tests; nil
// when RabbitMQ is not installed (its tests then skip loudly, or fail in CI).
var rabbit *rabbittest.Node

// apiChecker checks every REST exchange the package's tests make with a
// replica through http.DefaultClient (http.Get included) against the
// OpenAPI document (internal/apicheck); TestMain fails the run when one
// disagreed.
var apiChecker *apicheck.Checker

func TestMain(m *testing.M) {
	if arg := os.Getenv(idleChildEnv); arg != "" {
		os.Exit(idleClientsMain(arg)) // BenchmarkIdleConnections' clients
	}
	c, err := apicheck.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	apiChecker = c
	http.DefaultClient.Transport = c.Transport(http.DefaultTransport)
	code := rabbittest.Main(m, &rabbit)
	checked := 0
	for _, n := range c.Checked() {
		checked += n
	}
	if v := c.Violations(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d REST exchanges of %d disagree with the OpenAPI document (internal/httpapi/openapi.yaml):\n  %s\n",
			len(v), checked, strings.Join(v, "\n  "))
		if code == 0 {
			code = 1
		}
	} else if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "apicheck: %d REST exchanges over %d operations agree with the OpenAPI document\n", checked, len(c.Checked()))
	}
	os.Exit(code)
}

// replica is one running chatrelay server on a loopback port.
type replica struct {
	srv  *Server
	addr string
	stop func() // shuts the replica down (once; also at cleanup)
}

// URL returns the replica's WebSocket endpoint.
func (r *replica) URL() string { return "ws://" + r.addr + "/ws" }

// HTTP returns the replica's base HTTP URL.
func (r *replica) HTTP() string { return "http://" + r.addr }

// testConfig returns defaults for broker "embedded" or "rabbitmq" (the
// shared node), with quick reconnects for outage tests.
func testConfig(t testing.TB, broker string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Broker.ReconnectMin = 50 * time.Millisecond
	cfg.Broker.ReconnectMax = time.Second
	cfg.Broker.HeartBeat = 2 * time.Second
	// ENTER/LEAVE would interleave with what most tests expect; the
	// presence tests turn them on
	cfg.Rooms.Presence.Messages = false
	// many tests send bursts from one session; the rate-limit tests set
	// their own limits
	cfg.Limits.SendRate = 0
	// the package's tests all create rooms from 127.0.0.1, and with
	// RabbitMQ into one registry: room creation limits are lifted here,
	// and the tests of those limits use the defaults on a vhost of their own
	cfg.Rooms.Create = config.RoomCreate{
		MaxRooms: 1 << 20, UserPerMinute: 1 << 20, UserBurst: 1 << 20, UserQuota: 1 << 20,
		AddressPerMinute: 1 << 20, AddressBurst: 1 << 20, AddressQuota: 1 << 20, MaxTracked: 1000,
	}
	cfg.Rooms.Direct = cfg.Rooms.Create
	if broker == config.BrokerRabbitMQ {
		n := rabbittest.Require(t, rabbit)
		cfg.Broker.Mode = config.BrokerRabbitMQ
		cfg.Broker.Addresses = []string{n.STOMPAddr()}
		cfg.Broker.AMQPAddresses = []string{n.AMQPAddr()}
	}
	return cfg
}

// start runs a replica with cfg until the test ends, and waits until it
// has an upstream connection.
func start(t testing.TB, cfg config.Config) *replica {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	// the serving goroutine owns the listener until Shutdown closes it
	go func() { done <- srv.Serve(l) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Relay().WaitReady(ctx); err != nil {
		t.Fatalf("relay not ready: %v", err)
	}
	apiChecker.Watch(l.Addr().String())
	return &replica{srv: srv, addr: l.Addr().String(), stop: stop}
}

// forEachBroker runs f against the embedded broker and against RabbitMQ.
func forEachBroker(t *testing.T, f func(t *testing.T, cfg config.Config)) {
	for _, b := range []string{config.BrokerEmbedded, config.BrokerRabbitMQ} {
		t.Run(b, func(t *testing.T) { f(t, testConfig(t, b)) })
	}
}

// dial opens a raw client offering the STOMP subprotocols.
func dial(t testing.TB, r *replica) *stomptest.Client {
	t.Helper()
	c, _, err := stomptest.Dial(r.URL(), stomptest.Options{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// connect dials and connects as login.
func connect(t testing.TB, r *replica, login string, kv ...string) *stomptest.Client {
	t.Helper()
	c := dial(t, r)
	if _, err := c.Connect(append([]string{"login", login}, kv...)...); err != nil {
		t.Fatal(err)
	}
	return c
}

// unique returns a name no other test uses, safe in a destination.
func unique(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-", "#", "", "(", "", ")", "")
	return r.Replace(t.Name()) + "-" + time.Now().Format("150405.000000000")[7:]
}

// expectError reads until an ERROR and checks its message contains want.
func expectError(t testing.TB, c *stomptest.Client, want string) {
	t.Helper()
	f, err := c.Read(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting for ERROR %q: %v", want, err)
	}
	if f.Command != "ERROR" || !strings.Contains(f.Header("message")+" "+string(f.Body), want) {
		t.Fatalf("got %s %q %q, want ERROR containing %q", f.Command, f.Header("message"), f.Body, want)
	}
	if _, err := c.WaitClosed(5 * time.Second); err != nil {
		t.Fatalf("after ERROR: %v", err)
	}
}

// testAPIKey is the http.api_key of tests whose auth mode (static, jwt)
// lets only signed-in users or the key create rooms.
const testAPIKey = "test-api-key"

// createRoom creates a room through r's REST API and returns its id:
// anonymously, or with the API key when r has one.
func createRoom(t testing.TB, r *replica, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	req, err := http.NewRequest(http.MethodPost, r.HTTP()+"/api/rooms", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key := r.srv.cfg.HTTP.APIKey; key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var room struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&room); err != nil || resp.StatusCode != http.StatusCreated || room.ID == "" {
		t.Fatalf("create room %q: %d %v %+v", name, resp.StatusCode, err, room)
	}
	return room.ID
}

// waitRoom waits until replica r knows room id.
func waitRoom(t testing.TB, r *replica, id string) {
	t.Helper()
	err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		_, ok := r.srv.store.Get(id)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("room %s never reached replica %s: %v", id, r.addr, err)
	}
}
