package feed

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// addRevision appends an EDIT (text) or DELETE of message "m<n>" at
// offset off, with revision id id.
func addRevision(l *fakeLog, typ rooms.MessageType, id string, n int, off int64, text string) int64 {
	p := rooms.Post{ID: id, Type: typ, Sender: "u", Message: text, SentAt: time.Unix(int64(1000+len(id)), 0),
		Ref: "m" + strconv.Itoa(n), RefOffset: &off}
	b, _ := json.Marshal(p)
	return l.add(Record{Body: b})
}

// publishOffsets publishes n messages and returns their offsets by
// message number.
func publishOffsets(l *fakeLog, n int, offs map[int]int64) {
	for range n {
		num, off := l.publish()
		offs[num] = off
	}
}

// versions describes messages: id → text, "-" for deleted, "+" marks an
// edited one; and the revisions: how many, and every text they carry.
func versions(t *testing.T, ms []rooms.Message) (map[string]string, []string) {
	t.Helper()
	out := map[string]string{}
	var revs []string
	for _, m := range ms {
		switch {
		case m.Type.IsRevision():
			revs = append(revs, string(m.Type)+":"+m.Ref+":"+m.Message)
		case m.Deleted:
			if m.Message != "" || m.Attachments != nil || m.EditedAt != nil {
				t.Fatalf("tombstone %+v carries more than its id", m)
			}
			out[m.ID] = "-"
		case m.EditedAt != nil:
			out[m.ID] = "+" + m.Message
		default:
			out[m.ID] = m.Message
		}
	}
	return out, revs
}

// checkData checks every delivered encoding matches its message.
func checkData(t *testing.T, c *collector) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.msgs {
		var got rooms.Message
		if err := json.Unmarshal(c.data[i], &got); err != nil || got.Message != m.Message || got.Deleted != m.Deleted || got.Type != m.Type {
			t.Fatalf("message %+v delivered as %s", m, c.data[i])
		}
	}
}

func (c *collector) all() []rooms.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rooms.Message(nil), c.msgs...)
}

func (c *collector) waitCount(t *testing.T, n int) []rooms.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if got := c.all(); len(got) >= n {
			return got
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", len(c.all()), n)
		}
	}
}

// TestRevisionsLive: live followers get the EDIT and DELETE messages; the
// ring keeps the current version, so a later x-history, x-resume-after
// and History get it, and no revision carries a replaced or deleted
// text.
func TestRevisionsLive(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 50)
	offs := map[int]int64{}
	publishOffsets(l, 10, offs)
	live := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, live.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addRevision(l, rooms.Edit, "e1", 3, offs[3], "3 typo")
	addRevision(l, rooms.Edit, "e2", 3, offs[3], "3 fixed")
	addRevision(l, rooms.Edit, "e3", 5, offs[5], "5 secret")
	addRevision(l, rooms.Delete, "d1", 5, offs[5], "")
	addRevision(l, rooms.Edit, "e4", 5, offs[5], "5 too late") // after the delete: stays deleted
	got := live.waitCount(t, 5)
	_, revs := versions(t, got)
	want := "EDIT:m3:3 typo EDIT:m3:3 fixed EDIT:m5:5 secret DELETE:m5: DELETE:m5:"
	if strings.Join(revs, " ") != want {
		t.Fatalf("live revisions %v, want %s", revs, want)
	}
	checkData(t, live)

	wantMsgs := map[string]string{"m1": "1", "m2": "2", "m3": "+3 fixed", "m4": "4", "m5": "-", "m6": "6", "m7": "7", "m8": "8", "m9": "9", "m10": "10"}
	wantRevs := "EDIT:m3:3 fixed EDIT:m3:3 fixed DELETE:m5: DELETE:m5: DELETE:m5:"
	for _, start := range []rooms.Start{{Last: 10, After: -1}, {After: offs[1]}} {
		c := newCollector()
		stop, err := s.Follow(ctx(t), "r", start, c.deliver)
		if err != nil {
			t.Fatal(err)
		}
		msgs, revs := versions(t, c.waitCount(t, 15-countBelow(start, offs)))
		stop()
		for id, v := range wantMsgs {
			if n, _ := strconv.Atoi(id[1:]); start.After >= offs[n] {
				continue
			}
			if msgs[id] != v {
				t.Fatalf("start %+v: %s is %q, want %q (all %v)", start, id, msgs[id], v, msgs)
			}
		}
		if strings.Join(revs, " ") != wantRevs {
			t.Fatalf("start %+v: revisions %v, want %s", start, revs, wantRevs)
		}
		checkData(t, c)
	}
	page, err := s.History(ctx(t), "r", -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	msgs, revs := versions(t, page)
	if len(page) != 10 || len(revs) != 0 || msgs["m3"] != "+3 fixed" || msgs["m5"] != "-" || msgs["m1"] != "1" {
		t.Fatalf("history %v %v, want the ten messages in their current version, no revisions", msgs, revs)
	}
	if m, err := s.Revisable(ctx(t), "r", offs[3]); err != nil || m.Message != "3 fixed" {
		t.Fatalf("Revisable(m3) = %+v, %v", m, err)
	}
	for _, off := range []int64{offs[5], offs[10] + 1, -1} {
		if _, err := s.Revisable(ctx(t), "r", off); !errors.Is(err, rooms.ErrNotRevisable) {
			t.Fatalf("Revisable(%d) = %v, want ErrNotRevisable", off, err)
		}
	}
}

// countBelow returns how many of the ten messages a start skips.
func countBelow(start rooms.Start, offs map[int]int64) int {
	n := 0
	for i := 1; i <= 10; i++ {
		if start.After >= offs[i] {
			n++
		}
	}
	return n
}

// TestRevisionsFoldedIntoLogReads: messages read from the log below the
// ring (a fresh feed filling its ring, a resume from further back than
// the ring holds, history pages below it) come in their current version
// too, though their revisions left the ring long ago; a revision
// published twice counts once, the first time.
func TestRevisionsFoldedIntoLogReads(t *testing.T) {
	l := newFakeLog(t)
	offs := map[int]int64{}
	publishOffsets(l, 40, offs)
	addRevision(l, rooms.Edit, "e1", 5, offs[5], "5 first")
	addRevision(l, rooms.Edit, "e2", 5, offs[5], "5 second")
	addRevision(l, rooms.Edit, "e1", 5, offs[5], "5 first") // a republished copy
	addRevision(l, rooms.Edit, "e3", 6, offs[6], "6 secret")
	addRevision(l, rooms.Delete, "d1", 6, offs[6], "")
	addRevision(l, rooms.Edit, "e4", 38, offs[38], "38 edited")
	publishOffsets(l, 30, offs)
	s := testSet(t, l, 10)

	// history below the ring: read back, with the window above it
	page, err := s.History(ctx(t), "r", offs[10], 8)
	if err != nil {
		t.Fatal(err)
	}
	msgs, revs := versions(t, page)
	if len(page) != 8 || len(revs) != 0 || msgs["m5"] != "+5 second" || msgs["m6"] != "-" || msgs["m4"] != "4" {
		t.Fatalf("old history %v %v", msgs, revs)
	}
	// a resume from m2: the gap is wider than the ring, read straight
	// from the log after reading it for its revisions
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{After: offs[2]}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	got := c.waitCount(t, 68+5)
	stop()
	msgs, revs = versions(t, got)
	if msgs["m5"] != "+5 second" || msgs["m6"] != "-" || msgs["m38"] != "+38 edited" || msgs["m7"] != "7" {
		t.Fatalf("resumed %v", msgs)
	}
	if want := "EDIT:m5:5 second EDIT:m5:5 second DELETE:m6: DELETE:m6: EDIT:m38:38 edited"; strings.Join(revs, " ") != want {
		t.Fatalf("resumed revisions %v, want %s", revs, want)
	}
	checkData(t, c)

	// a fresh feed whose ring fills from the log (Last)
	l2 := newFakeLog(t)
	offs2 := map[int]int64{}
	publishOffsets(l2, 6, offs2)
	addRevision(l2, rooms.Delete, "d1", 2, offs2[2], "")
	addRevision(l2, rooms.Edit, "e1", 3, offs2[3], "3 edited")
	l2.publish()
	s2 := testSet(t, l2, 20)
	c = newCollector()
	stop, err = s2.Follow(ctx(t), "r", rooms.Start{Last: 7, After: -1}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	msgs, revs = versions(t, c.waitCount(t, 9))
	stop()
	if len(msgs) != 7 || msgs["m2"] != "-" || msgs["m3"] != "+3 edited" || len(revs) != 2 {
		t.Fatalf("x-history 7 on a fresh feed: %v %v (7 messages, 2 revisions)", msgs, revs)
	}
}

// TestRevisionOutsideTheWindow: a revision further above its message
// than the edit window counts for nothing, on every path.
func TestRevisionOutsideTheWindow(t *testing.T) {
	l := newFakeLog(t)
	s := NewSet(Config{Buffer: 50, Idle: time.Hour, SyncTimeout: 2 * time.Second, EditWindow: 5}, func(string) Source { return l.source() })
	t.Cleanup(s.Close)
	offs := map[int]int64{}
	publishOffsets(l, 10, offs)
	live := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, live.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addRevision(l, rooms.Delete, "far", 1, offs[1], "")
	addRevision(l, rooms.Edit, "near", 9, offs[9], "9 edited")
	got := live.waitCount(t, 1)
	if len(got) != 1 || got[0].ID != "near" {
		t.Fatalf("live got %+v, want only the revision within the window", got)
	}
	page, err := s.History(ctx(t), "r", -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := versions(t, page)
	if msgs["m1"] != "1" || msgs["m9"] != "+9 edited" {
		t.Fatalf("history %v", msgs)
	}
	if _, err := s.Revisable(ctx(t), "r", offs[1]); !errors.Is(err, rooms.ErrNotRevisable) {
		t.Fatalf("Revisable beyond the window: %v", err)
	}
}

// TestRevisionsAgreeOnEveryPath publishes random messages and revisions
// (edits, deletes, republished copies, some outside the edit window) and
// checks that every way of reading the log gives each message the version
// a plain fold of the whole log gives it: a feed that saw it all live, and
// fresh feeds with small rings reading history pages, x-history and
// resumes from below their rings.
func TestRevisionsAgreeOnEveryPath(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		l := newFakeLog(t)
		const window = 40
		cfg := func(buffer int) Config {
			return Config{Buffer: buffer, Idle: time.Hour, SyncTimeout: 2 * time.Second, EditWindow: window}
		}
		live := NewSet(cfg(1000), func(string) Source { return l.source() })
		t.Cleanup(live.Close)
		if err := live.Start(ctx(t), "r"); err != nil {
			t.Fatal(err)
		}
		offs := map[int]int64{}
		var revs []rooms.Post // what was published, for the copies
		n, r := 0, 0
		for range 300 {
			switch k := rng.IntN(10); {
			case k < 6 || n == 0:
				num, off := l.publish()
				offs[num], n = off, num
			case k < 9:
				target := max(1, n-rng.IntN(12))
				if rng.IntN(8) == 0 {
					target = max(1, n-60) // often outside the window
				}
				r++
				typ, text := rooms.Edit, "v"+strconv.Itoa(r)
				if rng.IntN(3) == 0 {
					typ, text = rooms.Delete, ""
				}
				off := offs[target]
				revs = append(revs, rooms.Post{ID: "rev" + strconv.Itoa(r), Type: typ, Message: text, Ref: "m" + strconv.Itoa(target), RefOffset: &off})
				addRevision(l, typ, "rev"+strconv.Itoa(r), target, off, text)
			default:
				if len(revs) > 0 { // a republished copy of a recent revision
					p := revs[max(0, len(revs)-1-rng.IntN(3))]
					b, _ := json.Marshal(p)
					l.add(Record{Body: b})
				}
			}
		}
		want := foldModel(l, window)
		page, err := live.History(ctx(t), "r", -1, n)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "live feed history", page, want)
		for _, buffer := range []int{7, 30} {
			fresh := NewSet(cfg(buffer), func(string) Source { return l.source() })
			t.Cleanup(fresh.Close)
			var all []rooms.Message
			before := int64(-1)
			for {
				page, err := fresh.History(ctx(t), "r", before, 11)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page...)
				before = page[len(page)-1].Offset
			}
			compare(t, "paged history, buffer "+strconv.Itoa(buffer), all, want)
			c := newCollector()
			stop, err := fresh.Follow(ctx(t), "r", rooms.Start{Last: 20, After: -1}, c.deliver)
			if err != nil {
				t.Fatal(err)
			}
			got := c.waitCount(t, min(20, buffer))
			stop()
			compare(t, "x-history, buffer "+strconv.Itoa(buffer), got, want)
			for _, from := range []int{1, n / 2, n - 5} {
				c := newCollector()
				stop, err := fresh.Follow(ctx(t), "r", rooms.Start{After: offs[from]}, c.deliver)
				if err != nil {
					t.Fatal(err)
				}
				got := c.waitCount(t, n-from)
				stop()
				compare(t, "resume, buffer "+strconv.Itoa(buffer), got, want)
				checkData(t, c)
			}
		}
	}
}

// foldModel folds the whole log plainly: the first record of an id
// counts, a revision counts within the window.
func foldModel(l *fakeLog, window int64) map[string]rooms.Post {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	msgs := map[string]rooms.Post{}
	state := map[string]rooms.Revision{}
	for _, r := range l.records {
		e, ok := decode("r", r)
		if !ok || seen[e.msg.ID] {
			continue
		}
		seen[e.msg.ID] = true
		if e.isRevision() {
			if e.msg.InWindow(r.Offset, window) {
				state[e.msg.Ref] = state[e.msg.Ref].With(e.msg.Post)
			}
			continue
		}
		msgs[e.msg.ID] = e.msg.Post
	}
	for id, p := range msgs {
		msgs[id] = p.Revised(state[id])
	}
	return msgs
}

// compare checks every message of got against the model, and that every
// revision in got carries the final state of the message it names.
func compare(t *testing.T, what string, got []rooms.Message, want map[string]rooms.Post) {
	t.Helper()
	final := map[string]rooms.Post{}
	for _, m := range got {
		if !m.Type.IsRevision() {
			final[m.ID] = m.Post
		}
	}
	for _, m := range got {
		w, ok := want[m.ID]
		if m.Type.IsRevision() {
			target, ok := want[m.Ref]
			if !ok {
				continue
			}
			if target.Deleted && (m.Type != rooms.Delete || m.Message != "") || !target.Deleted && m.Type == rooms.Edit && m.Message != target.Message {
				t.Fatalf("%s: revision %+v of %s, whose final state is %+v", what, m.Post, m.Ref, target)
			}
			continue
		}
		if !ok {
			t.Fatalf("%s: message %s not in the model", what, m.ID)
		}
		if m.Message != w.Message || m.Deleted != w.Deleted || (m.EditedAt == nil) != (w.EditedAt == nil) {
			t.Fatalf("%s: %s is %+v, want %+v", what, m.ID, m.Post, w)
		}
	}
}

// TestRevisionEvictedDuringARead: a delete the ring holds when a resume
// starts reading its gap, but evicts while the read runs (the room goes
// on), still reaches what the resume hands out.
func TestRevisionEvictedDuringARead(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 10)
	offs := map[int]int64{}
	publishOffsets(l, 30, offs)
	if err := s.Start(ctx(t), "r"); err != nil {
		t.Fatal(err)
	}
	addRevision(l, rooms.Delete, "d1", 25, offs[25], "")
	// the first read makes the ring's revisions final; the second,
	// the gap's read for its revisions, is the one the room outruns
	l.mu.Lock()
	l.duringRead = func() {
		l.mu.Lock()
		l.duringRead = func() { publishOffsets(l, 15, offs) }
		l.mu.Unlock()
	}
	l.mu.Unlock()
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{After: offs[2]}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	got := c.waitCount(t, 28+1+15)
	stop()
	msgs, _ := versions(t, got)
	if msgs["m25"] != "-" {
		t.Fatalf("m25 resumed as %q, want deleted (all %v)", msgs["m25"], msgs)
	}
}
