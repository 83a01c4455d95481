package stack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestRoomsWithRelayUser: two replicas configured as compose.yaml
// configures them (RabbitMQ mode, the least-privilege user and vhost)
// create, use and delete a room: a message posted to the registry, stream
// declaration and binding over AMQP, the registry stream, topic fan-out
// across replicas, history reads, a client queue, and stream deletion all
// work with the user's permissions.
func TestRoomsWithRelayUser(t *testing.T) {
	n := rabbittest.Require(t, node)
	u := composeBrokerUser(t)
	cfg := replicaConfig(n, u)
	// a client queue: clients reach a queue only when the operator names it
	queueName := "stack." + strings.ReplaceAll(unique(t), "-", ".")
	cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, "/queue/"+queueName)
	// the room's first message is posted to the registry (resident
	// rooms); its second opens the room's stream
	cfg.Rooms.Archive.MaxMessages = 1
	a, b := startReplica(t, cfg), startReplica(t, cfg)

	room := createRoom(t, a.HTTP(), unique(t))
	waitRoom(t, b.HTTP(), room)
	listener := connect(t, b.URL(), "listener")
	if err := listener.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	// RabbitMQ declares the client queue with the relay's user
	if err := listener.Subscribe("q", "/queue/"+queueName); err != nil {
		t.Fatalf("SUBSCRIBE /queue/%s: %v", queueName, err)
	}
	talker := connect(t, a.URL(), "talker")
	say(t, talker, room, "hello across replicas")
	if m := expectTalk(t, listener, "hello across replicas"); m.Sender != "talker" {
		t.Fatalf("message from %q, want talker", m.Sender)
	}
	say(t, talker, room, "and on the room's stream")
	expectTalk(t, listener, "and on the room's stream")

	// history is read back from the registry and the room's stream
	var page struct {
		Messages []roomMessage `json:"messages"`
	}
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		doJSON(t, http.MethodGet, b.HTTP()+"/api/rooms/"+room+"/messages?limit=10", "", nil, &page)
		seen := 0
		for _, m := range page.Messages {
			if m.Message == "hello across replicas" || m.Message == "and on the room's stream" {
				seen++
			}
		}
		return seen == 2, nil
	})
	if err != nil {
		t.Fatalf("history of room %s lacks the message: %v (got %+v)", room, err, page.Messages)
	}

	// the broker objects are the relay user's, in its vhost
	stream, err := n.RoomStreamName(u.VHost, room)
	if err != nil {
		t.Fatal(err)
	}
	checkBrokerObjects(t, n, u, stream, queueName)

	// deleting the room deletes its stream
	if code := doJSON(t, http.MethodDelete, a.HTTP()+"/api/rooms/"+room, cfg.HTTP.APIKey, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE room %s: %d", room, code)
	}
	err = rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		var q struct{ Name string }
		err := n.MgmtGet("/api/queues/"+url.PathEscape(u.VHost)+"/"+url.PathEscape(stream), &q)
		return err != nil && strings.Contains(err.Error(), "404"), nil
	})
	if err != nil {
		t.Fatalf("stream %s still exists after DELETE: %v", stream, err)
	}
}

// checkBrokerObjects checks, through the management API, that the room's
// stream (named stream), the registry stream and the client queue exist in the relay's
// vhost and that the replicas' connections use the relay user.
func checkBrokerObjects(t *testing.T, n *rabbittest.Node, u brokerUser, stream, queueName string) {
	t.Helper()
	queues, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, q := range queues {
		if q.Vhost == u.VHost {
			types[q.Name] = q.Type
		}
	}
	for name, typ := range map[string]string{stream: "stream", "chatrelay.rooms": "stream", queueName: "classic"} {
		if types[name] != typ {
			t.Errorf("queue %s in vhost %s: type %q, want %q", name, u.VHost, types[name], typ)
		}
	}
	err = rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		conns, err := n.Connections()
		if err != nil {
			return false, err
		}
		protocols := map[string]bool{}
		for _, c := range conns {
			if c.Vhost == u.VHost {
				if c.User != u.Login {
					t.Fatalf("connection %s in vhost %s by user %s", c.Name, c.Vhost, c.User)
				}
				protocols[strings.Fields(c.Protocol)[0]] = true
			}
		}
		return protocols["STOMP"] && protocols["AMQP"], nil
	})
	if err != nil {
		t.Errorf("no STOMP and AMQP connections of %s in vhost %s: %v", u.Login, u.VHost, err)
	}
}

// TestStackBehindNginx: docker/nginx.conf in front of two real replicas on
// the test broker, as in compose.yaml: clients reach the replicas through
// nginx for REST and STOMP over WebSocket, and a message sent through one
// replica reaches clients on both.
func TestStackBehindNginx(t *testing.T) {
	n := rabbittest.Require(t, node)
	u := composeBrokerUser(t)
	cfg := replicaConfig(n, u)
	a, b := startReplica(t, cfg), startReplica(t, cfg)
	base := "http://" + startNginx(t, a.Addr, b.Addr)
	ws := "ws" + strings.TrimPrefix(base, "http") + "/ws"

	var ready struct{ Status string }
	if code := doJSON(t, http.MethodGet, base+"/readyz", "", nil, &ready); code != http.StatusOK || ready.Status != "ready" {
		t.Fatalf("/readyz through nginx: %d %+v", code, ready)
	}
	room := createRoom(t, base, unique(t))
	waitRoom(t, a.HTTP(), room)
	waitRoom(t, b.HTTP(), room)

	// round-robin puts consecutive WebSockets on different replicas; the
	// message must reach both wherever they landed
	first, second := connect(t, ws, "first"), connect(t, ws, "second")
	for i, c := range []*stomptest.Client{first, second} {
		if err := c.Subscribe("s", "/topic/room."+room); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	direct := connect(t, a.URL(), "direct")
	say(t, direct, room, "through nginx")
	for _, c := range []struct {
		name string
		m    roomMessage
	}{{"first", expectTalk(t, first, "through nginx")}, {"second", expectTalk(t, second, "through nginx")}} {
		if c.m.Sender != "direct" {
			t.Errorf("%s got the message from %q", c.name, c.m.Sender)
		}
	}
	// and the other way round: a client behind nginx talks
	say(t, second, room, "from behind nginx")
	expectTalk(t, first, "from behind nginx")

	// a clean DISCONNECT through the proxy gets its receipt
	if err := first.Send(stomp.New(stomp.DISCONNECT, "receipt", "bye")); err != nil {
		t.Fatal(err)
	}
	if f, err := first.Expect(stomp.RECEIPT, 10*time.Second); err != nil || f.Header("receipt-id") != "bye" {
		t.Fatalf("DISCONNECT through nginx: %v %v", f, err)
	}
}
