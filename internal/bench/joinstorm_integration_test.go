package bench

import (
	"testing"
	"time"
)

// A small join storm against a real replica (embedded broker): every
// joiner gets its RECEIPT and exactly the last 5 of the 10 seeded
// messages. Times are reported, not asserted.
func TestJoinStorm(t *testing.T) {
	cfg := Config{
		Mode: ModeChatrelay, URLs: []string{startChatrelay(t)}, Clients: 20,
		JoinStorm: true, History: 5, JoinWindow: 200 * time.Millisecond, Drain: 20 * time.Second,
	}
	rep := runReport(t, cfg)
	js := rep.JoinStorm
	if js == nil || js.Seeded != 10 || js.Subscribed != 20 || js.Receipts != 20 || js.Complete != 20 || js.Exact != 20 ||
		js.Wrong != 0 || js.Receipt.Count != 20 || js.NthHistory.Count != 20 {
		t.Fatalf("join storm %+v", js)
	}
	if rep.Connect.Connected != 20 || rep.Errors.Total() != 0 || rep.Drops != 0 || rep.OtherMessages != 0 {
		t.Errorf("connected %d, errors %+v, drops %d, other %d", rep.Connect.Connected, rep.Errors, rep.Drops, rep.OtherMessages)
	}
}
