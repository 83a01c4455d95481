package bench

import (
	"strings"
	"testing"
	"time"
)

// readsLoad is a tiny reads run: 20 members in 2 private rooms, a fifth
// of them typing, one 2 s step (long enough for a typing refresh).
func readsLoad(url, key string) Config {
	cfg := smallLoad(ModeChatrelay, url)
	cfg.APIKey = key
	cfg.Rates = []float64{20}
	cfg.Duration = 2 * time.Second
	cfg.Reads, cfg.TypingFraction = true, 0.2
	return cfg
}

// checkReads checks a reads run: every message delivered, every member
// read (coalesced: far fewer read SENDs than messages) and saw its last
// read come back on the room's reads topic, and typing events flowed.
func checkReads(t *testing.T, rep *Report) {
	t.Helper()
	var md strings.Builder
	_ = rep.WriteTable(&md)
	if !rep.OK || rep.Reads == nil || len(rep.Steps) != 1 {
		t.Fatalf("reads run not OK:\n%s", md.String())
	}
	rd, s := rep.Reads, rep.Steps[0]
	delivered := s.Delivered + rep.Warmup.Delivered
	switch {
	case rd.Readers != 20 || rd.LastReadSeen != 20:
		t.Errorf("last reads seen %d of %d readers, want 20 of 20", rd.LastReadSeen, rd.Readers)
	case rd.Typers != 4:
		t.Errorf("%d typers, want 2 in each room", rd.Typers)
	case rd.ReadSends < 20 || rd.ReadSends*2 > delivered:
		t.Errorf("%d read SENDs for %d deliveries: want at least one per member, coalesced", rd.ReadSends, delivered)
	case rd.ReadEvents < 20 || rd.TypingEvents == 0 || rd.TypingSends < 4:
		t.Errorf("read events %d, typing SENDs %d, typing events %d", rd.ReadEvents, rd.TypingSends, rd.TypingEvents)
	case s.Activity == nil || s.Activity.ReadSendsPerSec <= 0 || s.Activity.ReadEventsPerSec <= 0 ||
		s.Activity.TypingSendsPerSec <= 0 || s.Activity.TypingEventsPerSec <= 0:
		t.Errorf("step activity %+v", s.Activity)
	case s.ServerCPU <= 0:
		t.Errorf("server CPU %v in the step", s.ServerCPU)
	case rep.OtherMessages != 0:
		t.Errorf("%d other messages", rep.OtherMessages)
	}
	if t.Failed() {
		t.Logf("report:\n%s", md.String())
	}
	var out strings.Builder
	if err := WriteMarkdown(&out, []*Report{rep}); err != nil || !strings.Contains(out.String(), "| 20/20 | yes |") {
		t.Errorf("markdown (%v):\n%s", err, out.String())
	}
}

// The reads-and-typing scenario against an in-process replica: private
// rooms created with the API key naming each room's owner; read and
// typing events reach the members.
func TestReadsLoad(t *testing.T) {
	checkReads(t, runReport(t, readsLoad(startChatrelay(t), testAPIKey)))
}

// Without the API key the rooms are created by their owners (HTTP Basic,
// auth.mode none), and the members are admitted all the same.
func TestReadsLoadOwnersCreate(t *testing.T) {
	checkReads(t, runReport(t, readsLoad(startChatrelay(t), "")))
}

// A plain public room publishes no one's reading: the same run in public
// rooms would see no read events, so a reads run in them is refused, and
// one whose members never see their reads come back is not OK.
func TestReadsValidate(t *testing.T) {
	for _, c := range []Config{
		{Mode: ModeWebSTOMP, URLs: []string{"ws://x"}, Clients: 2, Duration: time.Second, Reads: true},
		{Mode: ModeChatrelay, URLs: []string{"ws://x"}, Clients: 2, Idle: true, Duration: time.Second, Reads: true},
		{Mode: ModeChatrelay, URLs: []string{"ws://x"}, Clients: 1003, Rooms: 1, Duration: time.Second, Reads: true},
		{Mode: ModeChatrelay, URLs: []string{"ws://x"}, Clients: 2, Duration: time.Second, Reads: true, TypingFraction: 1.5},
	} {
		c.Defaults()
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
