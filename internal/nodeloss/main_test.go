package nodeloss

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/servertest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

func TestMain(m *testing.M) { os.Exit(rabbittest.MainCluster(m)) }

// clusterConfig is a replica's configuration on cluster c, listing its
// nodes for STOMP and AMQP in the order of the given node indexes (all
// of them, node 1 first, when none are given).
func clusterConfig(c *rabbittest.Cluster, order ...int) config.Config {
	cfg := config.Defaults()
	cfg.Broker.Mode = config.BrokerRabbitMQ
	stomp, amqp := c.STOMPAddrs(), c.AMQPAddrs()
	if len(order) == 0 {
		for i := range stomp {
			order = append(order, i)
		}
	}
	cfg.Broker.Addresses, cfg.Broker.AMQPAddresses = nil, nil
	for _, i := range order {
		cfg.Broker.Addresses = append(cfg.Broker.Addresses, stomp[i])
		cfg.Broker.AMQPAddresses = append(cfg.Broker.AMQPAddresses, amqp[i])
	}
	cfg.Broker.ReconnectMin = 50 * time.Millisecond
	cfg.Broker.ReconnectMax = time.Second
	cfg.Rooms.Presence.Messages = false
	cfg.Limits.SendRate = 0
	// every test creates rooms from 127.0.0.1 into one registry
	cfg.Rooms.Create = config.RoomCreate{
		MaxRooms: 1 << 20, UserPerMinute: 1 << 20, UserBurst: 1 << 20, UserQuota: 1 << 20,
		AddressPerMinute: 1 << 20, AddressBurst: 1 << 20, AddressQuota: 1 << 20, MaxTracked: 1000,
	}
	return cfg
}

// startReplica runs an in-process replica with cfg until the test ends;
// its log goes to the test's (printed when the test fails).
func startReplica(t *testing.T, cfg config.Config) *servertest.Replica {
	t.Helper()
	return servertest.Start(t, cfg, rabbittest.Logger(t), 30*time.Second)
}

// createRoom creates a room through base's REST API and returns its id;
// it fails the test unless the answer is 201 within timeout.
func createRoom(t *testing.T, base, name string, timeout time.Duration) string {
	t.Helper()
	id, err := tryCreateRoom(base, name, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tryCreateRoom is createRoom returning its failure.
func tryCreateRoom(base, name string, timeout time.Duration) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	client := http.Client{Timeout: timeout}
	resp, err := client.Post(base+"/api/rooms", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("create room %q: %w", name, err)
	}
	defer resp.Body.Close()
	var room struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&room); err != nil || resp.StatusCode != http.StatusCreated || room.ID == "" {
		return "", fmt.Errorf("create room %q: %d %v %+v", name, resp.StatusCode, err, room)
	}
	return room.ID, nil
}

// waitRoom waits until the replica at base knows room id.
func waitRoom(t *testing.T, base, id string) {
	t.Helper()
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		resp, err := http.Get(base + "/api/rooms/" + id)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("room %s not known at %s: %v", id, base, err)
	}
}

// connect opens a STOMP session as login on the WebSocket endpoint url.
func connect(t *testing.T, url, login string) *stomptest.Client {
	t.Helper()
	c, _, err := stomptest.Dial(url, stomptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Connect("login", login); err != nil {
		t.Fatal(err)
	}
	return c
}

// unique returns a room name no other test uses.
func unique(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return r.Replace(t.Name()) + "-" + time.Now().Format("150405.000000")[7:]
}

// sendAndSee sends text to room from c with a receipt and reads until c
// has both the RECEIPT and the MESSAGE (c must follow the room); what
// describes the room in failures.
func sendAndSee(t *testing.T, c *stomptest.Client, room, text, receipt, what string) {
	t.Helper()
	send := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", receipt)
	send.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":%q}`, room, text))
	if err := c.Send(send); err != nil {
		t.Fatal(err)
	}
	var gotMsg, gotReceipt bool
	for !gotMsg || !gotReceipt {
		f, err := c.Read(15 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		switch f.Command {
		case stomp.MESSAGE:
			gotMsg = gotMsg || strings.Contains(string(f.Body), text)
		case stomp.RECEIPT:
			gotReceipt = gotReceipt || f.Header("receipt-id") == receipt
		default:
			t.Fatalf("%s: %s %q", what, f.Command, f.Body)
		}
	}
}
