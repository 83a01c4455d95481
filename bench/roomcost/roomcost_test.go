package main

import (
	"os"
	"testing"

	"chatrelay/internal/rabbittest"
)

// node is the package's private RabbitMQ node (nil without one).
var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

// TestMeasureSmoke runs a few candidates for a handful of rooms and the
// history read on a small partition stream: the tool's RabbitMQ side
// works end to end (its numbers mean nothing at this size).
func TestMeasureSmoke(t *testing.T) {
	n := rabbittest.Require(t, node)
	b, err := newBroker(n)
	if err != nil {
		t.Fatal(err)
	}
	b.settle = 0
	for k, c := range candidates() {
		if !selected(c.name, "stream per room, 5+binding+partition") {
			continue
		}
		r, err := measure(b, "smoke-"+string(rune('a'+k)), c, 5, rabbittest.StartTimeout)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Err != "" || r.Objects != c.objects(5) || len(r.Latencies) != r.Objects || r.Messages != 5*c.msgs {
			t.Errorf("%s: %+v", c.name, r)
		}
		if r.After.Erlang == 0 || r.After.Procs == 0 || r.After.FDs == 0 || r.After.MemUsed == 0 {
			t.Errorf("%s: empty snapshot %+v", c.name, r.After)
		}
		t.Log(r.Row())
	}
	h, err := historyRun(b, 200)
	if err != nil {
		t.Fatal(err)
	}
	if h.Scanned != 250 || h.Found != 50 {
		t.Errorf("history read: %s", h)
	}
	t.Log(h)
	qs, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 0 {
		t.Errorf("%d queues left behind, want the vhosts deleted", len(qs))
	}
}
