package conformance

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"chatrelay/internal/stomptest"
)

// rows is the table. Rows for item numbers refer to issue 14's list.
var rows = slices.Concat(messagingRows, ackRows, errorRows, refusalRows)

// differ is the README section that lists where chatrelay differs from
// RabbitMQ on purpose.
const differ = "Where chatrelay differs from RabbitMQ"

// both is the same documented difference in both broker modes.
func both(want string) map[string]difference {
	return map[string]difference{relayMQ: {differ, want}, relayEmb: {differ, want}}
}

// row is one frame exchange of the table.
type row struct {
	name string
	// queues are the queues the row uses (short names, see env.queue):
	// chatrelay's policy lists them by name.
	queues []string
	// run performs the exchange on one target and returns what a client
	// observed.
	run func(e *env) string
	// want, when set, is what RabbitMQ itself must show: the row checks
	// the behaviour it is about, not just that the servers agree.
	want string
	// differs lists the targets where chatrelay differs on purpose: the
	// README section that says why, and what it shows instead.
	differs map[string]difference
}

// difference is a documented departure from RabbitMQ's behaviour.
type difference struct {
	readme string // the README section that explains it
	want   string // what chatrelay shows instead; anyResult: not fixed
}

// anyResult marks a difference whose result depends on timing (the
// embedded broker's lack of a prefetch window, say): the row runs, and
// logs what it saw, but nothing is compared.
const anyResult = "(any result)"

// TestConformance runs every row against every target and compares each
// chatrelay result with RabbitMQ's.
func TestConformance(t *testing.T) {
	targets := startTargets(t, rows)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			got := map[string]string{}
			for _, tg := range targets {
				e := &env{t: t, tg: tg, prefix: prefix(tg.name, r.name)}
				got[tg.name] = r.run(e)
				t.Logf("%-19s %s", tg.name, got[tg.name])
			}
			ref := got[webSTOMP]
			if r.want != "" && ref != r.want {
				t.Fatalf("RabbitMQ Web-STOMP showed %q, the row expects %q", ref, r.want)
			}
			for _, tg := range targets[1:] {
				if d, ok := r.differs[tg.name]; ok {
					if d.want != anyResult && got[tg.name] != d.want {
						t.Errorf("%s: %q, want %q (a difference README %q explains)", tg.name, got[tg.name], d.want, d.readme)
					}
					continue
				}
				if got[tg.name] != ref {
					t.Errorf("%s: %q, RabbitMQ Web-STOMP: %q", tg.name, got[tg.name], ref)
				}
			}
		})
	}
}

// collect reads n frames and describes them, sorted: for frames whose
// relative order RabbitMQ does not fix (a SEND's RECEIPT and the MESSAGE
// it produced, say).
func (e *env) collect(c *stomptest.Client, n int, keys ...string) string {
	e.t.Helper()
	var got []string
	for range n {
		got = append(got, e.next(c, keys...))
	}
	sort.Strings(got)
	return strings.Join(got, "; ")
}
