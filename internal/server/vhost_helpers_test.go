package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
)

// freshVHost creates a RabbitMQ vhost of its own for the test (guest may
// use it) and deletes it, with every queue and stream in it, at cleanup:
// a test that counts rooms and streams starts from none, whatever the
// package's other tests left in "/".
func freshVHost(t testing.TB) string {
	t.Helper()
	n := rabbittest.Require(t, rabbit)
	vhost := strings.ToLower(unique(t))
	mgmt := func(method, path, body string) error {
		req, err := http.NewRequest(method, n.MgmtURL()+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return err
		}
		req.SetBasicAuth("guest", "guest")
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
		}
		return nil
	}
	v := "/" + url.PathEscape(vhost)
	if err := mgmt(http.MethodPut, "/api/vhosts"+v, `{}`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mgmt(http.MethodDelete, "/api/vhosts"+v, ""); err != nil {
			t.Errorf("delete vhost: %v", err)
		}
	})
	if err := mgmt(http.MethodPut, "/api/permissions"+v+"/guest", `{"configure":".*","write":".*","read":".*"}`); err != nil {
		t.Fatal(err)
	}
	return vhost
}

// defaultRabbitConfig is the default configuration pointed at the shared
// node, on a vhost of the test's own.
func defaultRabbitConfig(t testing.TB) config.Config {
	t.Helper()
	n := rabbittest.Require(t, rabbit)
	cfg := config.Defaults()
	cfg.Broker.Mode = config.BrokerRabbitMQ
	cfg.Broker.Addresses = []string{n.STOMPAddr()}
	cfg.Broker.AMQPAddresses = []string{n.AMQPAddr()}
	cfg.Broker.VHost = freshVHost(t)
	return cfg
}

// roomStreams counts the room streams RabbitMQ holds in vhost.
func roomStreams(t testing.TB, vhost string) int {
	t.Helper()
	qs, err := rabbit.Queues()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range qs {
		if q.Vhost == vhost && q.Type == "stream" && strings.HasPrefix(q.Name, "room.") {
			n++
		}
	}
	return n
}

// waitRoomStreams waits until vhost holds want room streams.
func waitRoomStreams(t testing.TB, vhost string, want int) {
	t.Helper()
	got := -1
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		got = roomStreams(t, vhost)
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("vhost %s holds %d room streams, want %d: %v", vhost, got, want, err)
	}
}

// waitRooms waits until the replica lists want rooms (the test's vhost
// has a registry of its own), and checks that RabbitMQ holds no more room
// streams than rooms in that vhost: a room's stream is declared with its
// first message, so rooms without one have none.
func waitRooms(t testing.TB, r *replica, want int) {
	t.Helper()
	got := -1
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		got = len(r.srv.store.List())
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("the replica lists %d rooms, want %d: %v", got, want, err)
	}
	if n := roomStreams(t, r.srv.cfg.Broker.VHost); n > want {
		t.Fatalf("vhost %s holds %d room streams for %d rooms", r.srv.cfg.Broker.VHost, n, want)
	}
}

// hasStream reports whether vhost holds the stream of room id.
func hasStream(t testing.TB, vhost, id string) bool {
	t.Helper()
	qs, err := rabbit.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rabbittest.RoomStream(qs, vhost, id); ok {
		return true
	}
	return false
}
