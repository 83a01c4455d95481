package server

import (
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestWildcardMessageDestination: subscribed to /topic/probe.* (wildcards
// allowed), a message sent to /topic/probe.a arrives with destination
// /topic/probe.a, as it does from RabbitMQ Web-STOMP directly; through
// the /sub/** alias it arrives as /sub/probe.a; an exact subscription
// keeps the destination it was written with.
func TestWildcardMessageDestination(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Policy.AllowWildcards = true
	cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, "/topic/**")
	cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/topic/**")
	r := start(t, cfg)
	prefix := "probe-" + unique(t)

	// RabbitMQ Web-STOMP directly, for reference
	direct, _, err := stomptest.Dial(rabbit.WebSTOMPURL(), stomptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if _, err := direct.Connect("login", "guest", "passcode", "guest"); err != nil {
		t.Fatal(err)
	}
	if err := direct.Subscribe("d", "/topic/"+prefix+".*"); err != nil {
		t.Fatal(err)
	}

	c := connect(t, r, "prober")
	for id, dest := range map[string]string{
		"w": "/topic/" + prefix + ".*",
		"a": "/sub/" + prefix + ".*",
		"x": "/topic/" + prefix + ".a",
	} {
		if err := c.Subscribe(id, dest); err != nil {
			t.Fatalf("%s: %v", dest, err)
		}
	}
	send := stomp.New(stomp.SEND, "destination", "/topic/"+prefix+".a", "receipt", "sent")
	send.Body = []byte("hello")
	if err := c.Send(send); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for len(got) < 3 {
		f, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		if f.Command == stomp.MESSAGE {
			got[f.Header("subscription")] = f.Header("destination")
		}
	}
	m, err := direct.Expect(stomp.MESSAGE, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"w": m.Header("destination"), // RabbitMQ's own answer
		"a": "/sub/" + prefix + ".a",
		"x": "/topic/" + prefix + ".a",
	}
	if want["w"] != "/topic/"+prefix+".a" {
		t.Fatalf("RabbitMQ Web-STOMP gave destination %q", want["w"])
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("subscription %s: MESSAGE destination %q, want %q", id, got[id], w)
		}
	}
}
