package server

import (
	"testing"

	"chatrelay/internal/config"
)

// TestPolicyRefusals sends each frame the default policy refuses. Each
// costs only its own client an ERROR naming the destination and rule; a
// bystander on the same replica (and so on the same shared upstream
// connection) keeps receiving without reconnecting.
func TestPolicyRefusals(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Broker.Connections = 1 // every client shares the one upstream connection
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		bystander := connect(t, r, "bystander")
		if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ name, raw, want string }{
			{"firehose", "SUBSCRIBE\nid:1\ndestination:/exchange/amq.rabbitmq.trace/#\n\n\x00", "special-prefix"},
			{"amq queue", "SUBSCRIBE\nid:1\ndestination:/amq/queue/x\n\n\x00", "special-prefix"},
			{"topic wildcard", "SUBSCRIBE\nid:1\ndestination:/topic/#\n\n\x00", "/topic/#"},
			{"send to topic", "SEND\ndestination:/topic/x\n\nhi\x00", "policy.client_send"},
			{"x-queue-name", "SUBSCRIBE\nid:1\ndestination:/topic/q\nx-queue-name:stolen\n\n\x00", "x-queue-name"},
			{"queue", "SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\x00", "policy.client_subscribe"},
			{"temp queue", "SUBSCRIBE\nid:1\ndestination:/temp-queue/t\n\n\x00", "special-prefix"},
			{"other user", "SUBSCRIBE\nid:1\ndestination:/topic/user.bystander.messages\n\n\x00", "reserved"},
		}
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				c := connect(t, r, "mallory")
				if err := c.Raw([]byte(tt.raw)); err != nil {
					t.Fatal(err)
				}
				expectError(t, c, tt.want)
			})
		}
		assertStillReceives(t, r, bystander, "b", room, "login", "sender")
		// the refusals never reached the broker: the replica's single
		// upstream connection is still the one it opened at start
		if got := r.srv.Relay().Reconnects(); got != 0 {
			t.Fatalf("upstream reconnected %d times during refusals", got)
		}
	})
}

// TestHeaderValueRefusals sends headers whose values RabbitMQ parses and
// fails on (it would answer ERROR and close the connection the replica
// shares): the client gets an ERROR, the broker never sees the frame.
func TestHeaderValueRefusals(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Broker.Connections = 1
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		bystander := connect(t, r, "bystander")
		if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"priority:x", "timestamp:yesterday", "expiration:abc", "persistent:maybe"} {
			t.Run(h, func(t *testing.T) {
				c := connect(t, r, "mallory")
				if err := c.Raw([]byte("SEND\ndestination:/topic/x\n" + h + "\n\nhi\x00")); err != nil {
					t.Fatal(err)
				}
				expectError(t, c, "header:")
			})
		}
		assertStillReceives(t, r, bystander, "b", room, "login", "sender")
		if got := r.srv.Relay().Reconnects(); got != 0 {
			t.Fatalf("upstream reconnected %d times", got)
		}
	})
}
