package jsclient

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

func TestToolingPresent(t *testing.T) {
	testkit.Require(t, testkit.Node, Available())
	c := NewT(t)
	// A command before connect is refused by the script, not by a timeout.
	if err := c.Send("/topic/x", "x", nil); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("want 'not connected', got %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("script did not exit cleanly: %v\n%s", err, c.Stderr())
	}
}

// TestRabbitMQWebSTOMP proves the client against RabbitMQ's own Web-STOMP
// endpoint: connect, subscribe with a receipt, send text and binary bodies,
// receive them, see an ERROR, disconnect.
func TestRabbitMQWebSTOMP(t *testing.T) {
	c := NewT(t)
	n := rabbittest.Require(t, node)

	hdr, err := c.Connect(n.WebSTOMPURL(), "guest", "guest", nil)
	if err != nil {
		t.Fatal(err)
	}
	if hdr["version"] != "1.2" || !strings.HasPrefix(hdr["server"], "RabbitMQ/") {
		t.Fatalf("unexpected CONNECTED headers %v", hdr)
	}
	if err := c.Subscribe("s1", "/topic/x", map[string]string{"receipt": "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("/topic/x", "héllo", map[string]string{"receipt": "r2", "x-test": "1"}); err != nil {
		t.Fatal(err)
	}
	msg, err := c.WaitMessage(5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subscription != "s1" || msg.Destination != "/topic/x" || msg.Body != "héllo" || msg.Headers["x-test"] != "1" {
		t.Fatalf("unexpected message %+v", msg)
	}

	raw := []byte{0xff, 0xfe, 0x00, 'A', '\n'}
	if err := c.SendBytes("/topic/x", raw, nil); err != nil {
		t.Fatal(err)
	}
	msg, err = c.WaitMessage(5*time.Second, func(e Event) bool { return e.Subscription == "s1" })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg.BodyBytes(), raw) {
		t.Fatalf("binary body %x, want %x", msg.BodyBytes(), raw)
	}

	if err := c.Unsubscribe("s1", map[string]string{"receipt": "r3"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitEvent(5*time.Second, func(e Event) bool { return e.Event == "closed" }); err != nil {
		t.Fatal(err)
	}
	// RabbitMQ 3.10.8 Web-STOMP closes on DISCONNECT without the RECEIPT
	// stompjs asks for, so "disconnected" may or may not be there.
	for _, e := range c.Pending() {
		if e.Event != "disconnected" {
			t.Fatalf("unexpected leftover events %s", describeAll(c.Pending()))
		}
	}
}

// TestErrorEndsWait checks that a STOMP ERROR ends a receipt wait at once
// instead of at the deadline: RabbitMQ refuses "/topic/a/b" and closes.
func TestErrorEndsWait(t *testing.T) {
	c := NewT(t)
	n := rabbittest.Require(t, node)
	if _, err := c.Connect(n.WebSTOMPURL(), "guest", "guest", nil); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err := c.Subscribe("bad", "/topic/a/b", map[string]string{"receipt": "r1"})
	if err == nil || !strings.Contains(err.Error(), "ERROR") {
		t.Fatalf("want an ERROR, got %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("ERROR took %v to end the wait", d)
	}
	e, err := c.WaitEvent(time.Second, func(e Event) bool { return e.Event == "error" })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RabbitMQ said: %s", describe(e))

	// A wrong password is an error from Connect, not a hang.
	c2 := NewT(t)
	if _, err := c2.Connect(n.WebSTOMPURL(), "guest", "wrong", nil); err == nil {
		t.Fatal("connect with a wrong passcode succeeded")
	}
}
