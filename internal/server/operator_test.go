package server

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/roomreport"
)

// TestOperatorView is the operator-view acceptance test of issue 15: two
// replicas on RabbitMQ, rooms named in English and Korean. The management
// API shows each room's slug in its stream's name and its exact name in
// the stream's arguments; the replicas' AMQP connections carry distinct
// names, each with the replica's id; each replica's admin view names its
// STOMP connections as the management API does, none shared; and the
// rooms report lists the rooms with their streams, members online and
// message rates.
func TestOperatorView(t *testing.T) {
	n := rabbittest.Require(t, rabbit)
	cfgA := testConfig(t, config.BrokerRabbitMQ)
	cfgA.HTTP.APIKey = testAPIKey
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgA.HTTP.Addr = l.Addr().String() // the default replica id: HOST:PORT
	l.Close()
	cfgB := cfgA
	cfgB.HTTP.Addr = ":0"
	cfgB.Broker.ReplicaID = "blue-2 " + unique(t)
	a, b := start(t, cfgA), start(t, cfgB)
	idA, idB := cfgA.ReplicaName(), cfgB.ReplicaName()
	if !strings.HasSuffix(idA, cfgA.HTTP.Addr[strings.LastIndexByte(cfgA.HTTP.Addr, ':'):]) || idA == idB {
		t.Fatalf("replica ids %q and %q", idA, idB)
	}

	u := unique(t)
	suffix := u[len(u)-6:]
	names := map[string]string{"general " + suffix: "general-" + suffix, "채팅방 " + suffix: "chaetingbang-" + suffix}
	ids := map[string]string{} // name → id
	for name := range names {
		ids[name] = createRoom(t, a, name)
		waitRoom(t, b, ids[name])
	}
	// a room's stream is declared with its first message: open them as
	// that message would
	for _, id := range ids {
		if err := a.srv.store.Open(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}

	// streams: the slug in the name, the exact name among the arguments
	queues, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string]string{} // id → stream
	for name, slug := range names {
		id := ids[name]
		stream, err := n.RoomStreamName("/", id)
		if err != nil {
			t.Fatal(err)
		}
		if stream != "room."+slug+"."+id {
			t.Errorf("room %q: stream %q, want room.%s.%s", name, stream, slug, id)
		}
		queues, _ = n.Queues()
		q, _ := rabbittest.RoomStream(queues, "/", id)
		if q.Type != "stream" || q.Arguments["x-chatrelay-room-name"] != name || q.Arguments[rabbittest.RoomIDArg] != id {
			t.Errorf("room %q: management shows %+v", name, q)
		}
		streams[id] = stream
	}

	// connections: one AMQP connection per replica, named after it
	var conns []rabbittest.Connection
	err = rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		conns, err = n.Connections()
		named := 0
		for _, c := range conns {
			if c.ClientProperties["connection_name"] == amqpConnectionName(idA) || c.ClientProperties["connection_name"] == amqpConnectionName(idB) {
				named++
			}
		}
		return named == 2, err
	})
	if err != nil {
		t.Fatalf("AMQP connections %q and %q not both listed: %v", amqpConnectionName(idA), amqpConnectionName(idB), err)
	}

	// each replica's admin view: its STOMP connections as the
	// management API names them, shared with no other replica
	stompNames := map[string]bool{}
	for _, c := range conns {
		if strings.HasPrefix(c.Protocol, "STOMP") {
			stompNames[c.Name] = true
		}
	}
	seen := map[string]string{}
	for _, r := range []*replica{a, b} {
		rep, err := roomreport.Take(context.Background(), roomreport.Sources{Server: r.HTTP(), APIKey: testAPIKey}, 0)
		if err != nil {
			t.Fatal(err)
		}
		view := rep.Replica
		stompConns, amqpConns := 0, 0
		for _, c := range view.Connections {
			switch c.Protocol {
			case "STOMP":
				stompConns++
			case "AMQP 0-9-1":
				amqpConns++
			}
		}
		if view.ID != r.srv.cfg.ReplicaName() || stompConns != r.srv.cfg.Broker.Connections || amqpConns < 1 || stompConns+amqpConns != len(view.Connections) {
			t.Fatalf("replica %s admin view %+v", r.addr, view)
		}
		// the store's connection first, then its room tails'
		if c := view.Connections[0]; c.Protocol != "AMQP 0-9-1" || c.Name != amqpConnectionName(view.ID) {
			t.Errorf("replica %s AMQP connection %+v", view.ID, c)
		}
		for i, c := range view.Connections[1:amqpConns] {
			if want := amqpConnectionName(view.ID) + " tails " + strconv.Itoa(i+1); c.Protocol != "AMQP 0-9-1" || c.Name != want {
				t.Errorf("replica %s lists %+v, want AMQP connection %q", view.ID, c, want)
			}
		}
		for _, c := range view.Connections[amqpConns:] {
			if c.Protocol != "STOMP" || !stompNames[c.Name] {
				t.Errorf("replica %s lists %+v, not among the management API's STOMP connections", view.ID, c)
			}
			if other, dup := seen[c.Name]; dup {
				t.Errorf("connection %s listed by %s and %s", c.Name, other, view.ID)
			}
			seen[c.Name] = view.ID
		}
	}

	// the rooms report: streams, members online, message rates
	general := ids["general "+suffix]
	listener := connect(t, b, "listener")
	if err := listener.Subscribe("s", "/topic/room."+general); err != nil {
		t.Fatal(err)
	}
	src := roomreport.Sources{Server: b.HTTP(), APIKey: testAPIKey, Management: n.MgmtURL(), User: "guest", Password: "guest", VHost: "/"}
	var first roomreport.Snapshot
	err = rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		first, err = src.Take(context.Background())
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(first.Admin.Rooms, func(r httpapi.AdminRoom) bool { return r.ID == general })
		_, listed := first.Messages[streams[general]]
		return i >= 0 && first.Admin.Rooms[i].Online == 1 && listed, nil
	})
	if err != nil {
		t.Fatalf("the listener is not counted online in %s: %v (%+v)", general, err, first.Admin.Rooms)
	}
	sender := connect(t, a, "sender")
	sendNumbered(t, sender, general, "m", 1, 20)
	var rep roomreport.Report
	err = rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		second, err := src.Take(context.Background())
		if err != nil {
			return false, err
		}
		rep = roomreport.Compare(first, second)
		return second.Messages[streams[general]] >= first.Messages[streams[general]]+20, nil
	})
	if err != nil {
		t.Fatalf("the management API never counted the 20 messages: %v", err)
	}
	var table strings.Builder
	if err := roomreport.WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("chatrelay rooms:\n%s", table.String())
	for _, row := range rep.Rooms {
		stream, ours := streams[row.ID]
		if !ours {
			continue
		}
		if row.Stream != stream || row.Messages == nil || row.Rate == nil {
			t.Errorf("report row %+v (stream %s)", row, stream)
			continue
		}
		if row.ID == general && (row.Online != 1 || *row.Rate <= 0) {
			t.Errorf("general: online %d, rate %v", row.Online, *row.Rate)
		}
		if row.ID != general && (row.Online != 0 || *row.Rate != 0) {
			t.Errorf("%s: online %d, rate %v", row.Name, row.Online, *row.Rate)
		}
	}

	// the admin view needs the API key
	resp, err := http.Get(a.HTTP() + "/api/admin/rooms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin view without the API key: %d", resp.StatusCode)
	}
}
