package server

import (
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
)

// TestTransactionBytesLimit: a connection's open transactions hold at
// most limits.max_transaction_bytes of SENDs until COMMIT or ABORT (the
// relay keeps them, and RabbitMQ would too). The SEND over it gets an
// ERROR naming the key and the session closes, with nothing of its
// transaction published; a COMMIT gives the budget back, and other
// clients go on.
func TestTransactionBytesLimit(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Limits.MaxTransactionBytes = 4096
		cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/topic/txl.*")
		r := start(t, cfg)
		dest := "/topic/txl." + unique(t)
		reader := connect(t, r, "reader")
		if err := reader.Subscribe("s", dest); err != nil {
			t.Fatal(err)
		}
		send := func(c interface{ Send(*stomp.Frame) error }, tx, body string, kv ...string) {
			t.Helper()
			f := stomp.New(stomp.SEND, append([]string{"destination", dest, "transaction", tx}, kv...)...)
			f.Body = []byte(body)
			if err := c.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		kilo := strings.Repeat("k", 1000)

		// within the budget, twice: COMMIT gives it back
		ok := connect(t, r, "within")
		for round, tx := range []string{"t1", "t2"} {
			if err := ok.Send(stomp.New(stomp.BEGIN, "transaction", tx)); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				send(ok, tx, kilo)
			}
			if err := ok.Send(stomp.New(stomp.COMMIT, "transaction", tx, "receipt", tx)); err != nil {
				t.Fatal(err)
			}
			if _, err := ok.Expect(stomp.RECEIPT, 10*time.Second); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for i := range 3 {
				if _, err := reader.Expect(stomp.MESSAGE, 10*time.Second); err != nil {
					t.Fatalf("round %d, message %d: %v", round, i, err)
				}
			}
		}

		// over it: ERROR, close, nothing published
		over := connect(t, r, "mallory")
		if err := over.Send(stomp.New(stomp.BEGIN, "transaction", "big")); err != nil {
			t.Fatal(err)
		}
		send(over, "big", "lost-1"+kilo)
		send(over, "big", "lost-2"+kilo)
		send(over, "big", "lost-3"+kilo)
		send(over, "big", "lost-4"+kilo)
		expectError(t, over, "limits.max_transaction_bytes")

		// others go on, and the reader's next message is theirs
		after := connect(t, r, "after")
		if err := after.Send(stomp.New(stomp.BEGIN, "transaction", "t")); err != nil {
			t.Fatal(err)
		}
		send(after, "t", "after")
		if err := after.Send(stomp.New(stomp.COMMIT, "transaction", "t")); err != nil {
			t.Fatal(err)
		}
		f, err := reader.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(f.Body) != "after" {
			t.Errorf("reader got %.20q, want %q: the refused transaction published", f.Body, "after")
		}
	})
}
