package nodeloss

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// The checks every run makes once traffic is over.

// waitDelivered waits up to timeout until every subscriber has every
// text in want.
func waitDelivered(t *testing.T, subs []*subscriber, want []string, timeout time.Duration) {
	t.Helper()
	err := rabbittest.WaitFor(timeout, func() (bool, error) {
		for _, s := range subs {
			s.mu.Lock()
			for _, w := range want {
				if s.got[w] == 0 {
					s.mu.Unlock()
					return false, nil
				}
			}
			s.mu.Unlock()
		}
		return true, nil
	})
	if err != nil {
		for _, s := range subs {
			s.mu.Lock()
			var missing []string
			for _, w := range want {
				if s.got[w] == 0 {
					missing = append(missing, w)
				}
			}
			s.mu.Unlock()
			if len(missing) > 0 {
				t.Errorf("%s lacks %d receipted messages: %v", s.name, len(missing), head(missing, 10))
			}
		}
		t.Fatalf("receipted messages not delivered: %v", err)
	}
}

// checkExactlyOnce fails for a text any subscriber got twice, and for a
// socket any client saw close.
func checkExactlyOnce(t *testing.T, subs []*subscriber) {
	t.Helper()
	for _, s := range subs {
		s.mu.Lock()
		for text, n := range s.got {
			if n > 1 {
				t.Errorf("%s got %s %d times", s.name, text, n)
			}
		}
		if len(s.closed) > 0 {
			t.Errorf("%s socket closed: %v", s.name, s.closed)
		}
		if len(s.errors) > 0 {
			t.Logf("%s was told: %v", s.name, head(s.errors, 5))
		}
		s.mu.Unlock()
	}
}

// checkAnswers fails for a SEND not answered within limit, and for a
// publisher socket that closed; it returns how many SENDs got an error.
func checkAnswers(t *testing.T, p *publisher, limit time.Duration) (errored int, slowest time.Duration) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, sent := range p.sentAt {
		at, ok := p.answer[n]
		switch {
		case !ok:
			t.Errorf("SEND m-%d never answered", n)
		case at.Sub(sent) > limit:
			t.Errorf("SEND m-%d answered after %v", n, at.Sub(sent))
		}
		if ok && !p.receipt[n] {
			errored++
		}
		slowest = max(slowest, at.Sub(sent))
	}
	if len(p.closed) > 0 {
		t.Errorf("publisher socket closed: %v", p.closed)
	}
	if len(p.errors) > 0 {
		t.Logf("publisher was told: %v", head(p.errors, 10))
	}
	return errored, slowest
}

// maxReplay is the replicas' rooms.history.max_replay (clusterConfig
// keeps the default): the most messages one x-history replays.
var maxReplay = config.Defaults().Rooms.History.MaxReplay

// checkHistory reads the room's newest n messages and fails unless they
// hold every text in want once: the newest (up to maxReplay) as a fresh
// x-history subscriber at url, older ones (a long outage under load
// sends more) through the REST history's pages before the oldest of those.
func checkHistory(t *testing.T, url, room string, n int, want []string) {
	t.Helper()
	c := connect(t, url, "historian")
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "h", "destination", "/topic/room."+room,
		"x-history", strconv.Itoa(min(n, maxReplay)), "receipt", "replayed")); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	oldest, read := int64(-1), 0
	for {
		f, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("x-history: %v", err)
		}
		if f.Command == stomp.RECEIPT {
			break // the replay is queued before the RECEIPT
		}
		var m rooms.Message
		if f.Command != stomp.MESSAGE || json.Unmarshal(f.Body, &m) != nil {
			t.Fatalf("x-history: %s %q", f.Command, f.Body)
		}
		got[m.Message]++
		read++
		if oldest < 0 || m.Offset < oldest {
			oldest = m.Offset
		}
	}
	if n > read && read == maxReplay {
		readOlder(t, url, room, oldest, n-read, got)
	}
	_ = c.Close()
	var missing, twice []string
	for _, w := range want {
		if got[w] == 0 {
			missing = append(missing, w)
		}
	}
	for text, k := range got {
		if k > 1 {
			twice = append(twice, text)
		}
	}
	if len(missing) > 0 || len(twice) > 0 {
		t.Fatalf("x-history of %d: %d receipted messages missing %v, twice %v", len(got), len(missing), head(missing, 10), head(twice, 10))
	}
}

// head returns at most the first n of xs.
func head(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// readOlder adds to got the texts of up to n messages of room older than
// offset before, read from GET /api/rooms/{id}/messages page by page.
func readOlder(t *testing.T, wsURL, room string, before int64, n int, got map[string]int) {
	t.Helper()
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	for n > 0 {
		page := fmt.Sprintf("http://%s/api/rooms/%s/messages?limit=%d&before=%d", u.Host, url.PathEscape(room), min(n, 500), before)
		resp, err := http.Get(page)
		if err != nil {
			t.Fatalf("history %s: %v", page, err)
		}
		var body struct {
			Messages []rooms.Message `json:"messages"`
			Next     *int64          `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("history %s: HTTP %d, %v", page, resp.StatusCode, err)
		}
		for _, m := range body.Messages {
			got[m.Message]++
		}
		n -= len(body.Messages)
		if body.Next == nil || len(body.Messages) == 0 {
			return
		}
		before = *body.Next
	}
}
