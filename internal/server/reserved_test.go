package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// upstreamConns returns the node's STOMP connections by name with their
// peer ports: the replica's shared upstream connections.
func upstreamConns(t testing.TB, n *rabbittest.Node) map[string]int {
	t.Helper()
	conns, err := n.Connections()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range conns {
		if strings.HasPrefix(c.Protocol, "STOMP") {
			out[c.Name] = c.PeerPort
		}
	}
	return out
}

// TestBrokerAndForeignQueuesRefused is item 4 of issue 12: queues another
// application declared in the vhost (quorum, TTL, exclusive) and a real
// stomp-subscription-* queue are out of reach of every client frame, with
// the default config and with every prefix an operator may open; each
// frame gets a clear ERROR, the replica's upstream connections are the
// same ones afterwards, and a bystander keeps receiving.
func TestBrokerAndForeignQueuesRefused(t *testing.T) {
	n := rabbittest.Require(t, rabbit)
	u := strings.ToLower(unique(t))
	ch := amqpChannel(t, n)
	foreign := map[string]amqp.Table{
		"otherapp.quorum." + u: {"x-queue-type": "quorum"},
		"otherapp.ttl." + u:    {"x-message-ttl": int32(60000)},
		"otherapp.excl." + u:   nil,
	}
	for name, args := range foreign {
		excl := args == nil
		if _, err := ch.QueueDeclare(name, !excl, false, excl, false, args); err != nil {
			t.Fatalf("declare %s: %v", name, err)
		}
		if !excl {
			deleteQueueAtCleanup(t, n, name)
		}
	}

	widened := testConfig(t, config.BrokerRabbitMQ)
	widened.Policy.ClientSend = []string{"/app/**", "/topic/**", "/exchange/**", "/queue/jobs", "/amq/queue/jobs"}
	widened.Policy.ClientSubscribe = []string{"/**", "/exchange/**", "/queue/jobs", "/amq/queue/jobs"}
	for _, tc := range []struct {
		name string
		cfg  config.Config
	}{{"default", testConfig(t, config.BrokerRabbitMQ)}, {"widened", widened}} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, tc.cfg)
			room := createRoom(t, r, unique(t))
			bystander := connect(t, r, "bystander")
			if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
				t.Fatal(err)
			}
			// a real subscription queue, as the management UI shows it
			key := "named." + u + "." + tc.name
			if err := bystander.Subscribe("k", "/topic/"+key); err != nil {
				t.Fatal(err)
			}
			subQueue := waitTopicQueue(t, n, key).Name
			if !strings.HasPrefix(subQueue, "stomp-subscription-") {
				t.Fatalf("queue behind a topic subscription is %q", subQueue)
			}
			var conns map[string]int
			err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
				conns = upstreamConns(t, n)
				return len(conns) >= tc.cfg.Broker.Connections, nil
			})
			if err != nil {
				t.Fatalf("upstream connections listed: %v, want %d: %v", conns, tc.cfg.Broker.Connections, err)
			}

			names := []string{subQueue, "amq.gen-" + u}
			for name := range foreign {
				names = append(names, name)
			}
			for _, name := range names {
				for _, frame := range []struct{ command, dest string }{
					{"SUBSCRIBE", "/queue/" + name},
					{"SEND", "/queue/" + name},
					{"SUBSCRIBE", "/amq/queue/" + name},
					{"SEND", "/amq/queue/" + name},
					{"SUBSCRIBE", "/exchange/amq.default/" + name},
					{"SEND", "/exchange/amq.default/" + name},
				} {
					c := connect(t, r, "mallory")
					raw := frame.command + "\nid:1\ndestination:" + frame.dest + "\n\nx\x00"
					if frame.command == "SUBSCRIBE" {
						raw = frame.command + "\nid:1\ndestination:" + frame.dest + "\n\n\x00"
					}
					if err := c.Raw([]byte(raw)); err != nil {
						t.Fatal(err)
					}
					expectRefusal(t, c, frame.dest, "refused by rule")
					_ = c.Close()
				}
			}
			assertStillReceives(t, r, bystander, "b", room, "login", "sender")
			if got := r.srv.Relay().Reconnects(); got != 0 {
				t.Fatalf("upstream reconnected %d times", got)
			}
			now := upstreamConns(t, n)
			for name, port := range conns {
				if now[name] != port {
					t.Errorf("upstream connection %s (peer port %d) is gone", name, port)
				}
			}
		})
	}

	// an allowlist naming a generated queue is refused at start
	bad := testConfig(t, config.BrokerRabbitMQ)
	bad.Policy.ClientSubscribe = append(bad.Policy.ClientSubscribe, "/queue/stomp-subscription-x")
	if _, err := New(bad, nil); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("New with a stomp-subscription queue listed: %v", err)
	}
}

// TestServerTopicsCannotBeForged is item 8 of issue 12: with client_send
// widened to /topic/** (and /exchange/**), a SEND to a topic the server
// publishes is refused under every alias; a subscriber to /topic/rooms
// receives nothing forged, and a real room creation is announced.
func TestServerTopicsCannotBeForged(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Broker.Connections = 1 // a forged SEND would reach the broker before the announcement
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**", "/exchange/**"}
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		watcher := connect(t, r, "watcher")
		if err := watcher.Subscribe("rooms", "/sub/rooms"); err != nil {
			t.Fatal(err)
		}
		forged := `{"event":"created","room":{"id":"forged","name":"click me"}}`
		for _, dest := range []string{
			"/topic/rooms", "/sub/rooms", "/topic/rooms/x", "/exchange/amq.topic/rooms",
			"/topic/room." + room, "/sub/chat/room/" + room, "/queue/chat-rooms/" + room,
			"/topic/chatrelay.presence", "/topic/user.watcher.messages",
		} {
			c := connect(t, r, "mallory")
			f := stomp.New(stomp.SEND, "destination", dest, "content-type", "application/json")
			f.Body = []byte(forged)
			if err := c.Send(f); err != nil {
				t.Fatal(err)
			}
			expectRefusal(t, c, dest, "refused by rule")
			_ = c.Close()
		}
		// other topics stay open to SEND, as configured
		sender := connect(t, r, "sender")
		if err := sender.Send(stomp.New(stomp.SEND, "destination", "/topic/news", "receipt", "n")); err != nil {
			t.Fatal(err)
		}
		if _, err := sender.Expect(stomp.RECEIPT, 5*time.Second); err != nil {
			t.Fatal(err)
		}

		name := unique(t) + "-legit"
		created := createRoom(t, r, name)
		m, err := watcher.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Event string
			Room  struct{ ID, Name string }
		}
		if err := json.Unmarshal(m.Body, &ev); err != nil || ev.Event != "created" || ev.Room.ID != created || ev.Room.Name != name {
			t.Fatalf("first message on /topic/rooms: %s (%v), want the creation of %s", m.Body, err, created)
		}
	})
}
