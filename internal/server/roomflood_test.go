package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomptest"
)

// createAs POSTs a room named name to r with the Authorization header
// auth ("" for none) and returns the status and the answer.
func createAs(r *replica, name, auth string) (int, map[string]any, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	req, err := http.NewRequest(http.MethodPost, r.HTTP()+"/api/rooms", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %d is not JSON: %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests && out["code"] == roomlimit.CodeRate && resp.Header.Get("Retry-After") == "" {
		return resp.StatusCode, out, fmt.Errorf("rate refusal without Retry-After: %v", out)
	}
	return resp.StatusCode, out, nil
}

// basicAuth is an Authorization header of HTTP Basic credentials.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// burstResult counts the answers of a creation burst.
type burstResult struct {
	created, refused int
	keys             map[string]int // config keys named by the refusals
	other            []string       // anything but 201 or 429
}

// burst sends n creations to r with auth, workers at a time, and counts
// the answers. It runs on the calling goroutine.
func burst(r *replica, prefix, auth string, n, workers int) burstResult {
	res := burstResult{keys: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		// a worker owns one request at a time, taken from next
		go func() {
			defer wg.Done()
			for i := range next {
				// names of 90 '‹' as the reproduction used (270 bytes)
				status, body, err := createAs(r, fmt.Sprintf("%.4s%d-%s", prefix, i, strings.Repeat("‹", 90)), auth)
				mu.Lock()
				switch {
				case err == nil && status == http.StatusCreated:
					res.created++
				case err == nil && status == http.StatusTooManyRequests:
					res.refused++
					key, _ := body["key"].(string)
					if msg, _ := body["error"].(string); !strings.Contains(msg, key) || !strings.HasPrefix(key, "rooms.create.") {
						res.other = append(res.other, fmt.Sprintf("429 naming no config key: %v", body))
					}
					res.keys[key]++
				default:
					res.other = append(res.other, fmt.Sprintf("%d %v %v", status, body, err))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

// legitClient is an ordinary user of a room who keeps chatting and
// listing rooms while an attack runs.
type legitClient struct {
	t      *testing.T
	r      *replica
	room   string
	talker *stomptest.Client
	reader *stomptest.Client
	sent   int
	listed time.Time // when it last listed rooms over STOMP
}

func newLegitClient(t *testing.T, r *replica, room string) *legitClient {
	l := &legitClient{t: t, r: r, room: room, talker: connect(t, r, "legit-talker"), reader: connect(t, r, "legit-reader")}
	if err := l.reader.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	return l
}

// round sends one message and sees it arrive, and lists the rooms over
// REST and STOMP, checking that its room is listed.
func (l *legitClient) round() {
	l.t.Helper()
	l.roundList(true)
}

// roundList is round, listing over STOMP only when stompList is set: a
// person's page lists rooms now and then, not ten times a second, and
// limits.subscribe_rate holds each /app/rooms page to 5 a second.
func (l *legitClient) roundList(stompList bool) {
	l.t.Helper()
	l.sent++
	sendNumbered(l.t, l.talker, l.room, "legit", l.sent, 1)
	// the default config announces ENTER and LEAVE in the room: skip them
	for {
		m := readRoom(l.t, l.reader, "room", 1)[0]
		if m.Type == rooms.Talk {
			expectTexts(l.t, []rooms.Message{m}, "legit", l.sent, l.sent)
			break
		}
	}
	if ids := restRoomIDs(l.t, l.r, ""); !contains(ids, l.room) {
		l.t.Fatalf("REST room list %v lacks the legitimate room", ids)
	}
	if !stompList {
		return
	}
	l.listed = time.Now()
	if ids := stompRoomIDs(l.t, l.talker, fmt.Sprint("list", l.sent)); !contains(ids, l.room) {
		l.t.Fatalf("STOMP room list %v lacks the legitimate room", ids)
	}
}

// during runs attack on its own goroutine while the legitimate client
// keeps going (at least one round), and returns the attack's result.
func (l *legitClient) during(attack func() burstResult) burstResult {
	l.t.Helper()
	done := make(chan burstResult, 1)
	// the attack goroutine owns its requests; it ends when they do
	go func() { done <- attack() }()
	deadline := time.Now().Add(2 * time.Minute)
	// an ordinary client keeps to limits.send_rate (20/s by default)
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
	for {
		<-pace.C
		l.roundList(time.Since(l.listed) >= time.Second)
		select {
		case res := <-done:
			l.round()
			return res
		default:
		}
		if time.Now().After(deadline) {
			l.t.Fatal("the attack did not end in 2 minutes")
		}
	}
}

// TestRoomFloodFromOneAddress performs the reproduced attack with the
// default config: 300 anonymous creations from one address. At most the
// address quota of rooms is made (one of which is the legitimate room
// made first), every other answer is 429 naming its config key, RabbitMQ
// holds no more streams than that, and a legitimate client on the same
// replica chats and lists rooms throughout.
func TestRoomFloodFromOneAddress(t *testing.T) {
	cfg := defaultRabbitConfig(t)
	quota := cfg.Rooms.Create.AddressQuota
	r := start(t, cfg)
	waitRooms(t, r, 0)
	room := createRoom(t, r, "legit-"+unique(t))
	legit := newLegitClient(t, r, room)
	res := legit.during(func() burstResult { return burst(r, "flood", "", 300, 8) })
	if len(res.other) > 0 {
		t.Fatalf("answers other than 201 and 429: %v", res.other)
	}
	if res.created+res.refused != 300 || res.created+1 > quota {
		t.Fatalf("burst: %d created, %d refused (%v); quota %d with 1 room made before", res.created, res.refused, res.keys, quota)
	}
	t.Logf("burst of 300: %d created, refusals by key %v", res.created, res.keys)
	waitRooms(t, r, res.created+1)
	if n := r.srv.SlowConsumers(); n != 0 {
		t.Fatalf("%d sessions closed as slow consumers", n)
	}
}

// TestRoomFloodSignedIn: in auth.mode static creation takes a signed-in
// user (401 otherwise, and nothing is made); a user's burst of 300 from
// two replicas makes at most the user quota of rooms, counted in the
// registry both share; another user is not held back; RabbitMQ's streams
// match. The rate is raised so that the quota, not the rate, is what
// stops the burst.
func TestRoomFloodSignedIn(t *testing.T) {
	cfg := defaultRabbitConfig(t)
	cfg.Auth.Mode = config.AuthStatic
	cfg.Auth.Users = map[string]string{"ann": "pw", "bob": "pw", "legit-talker": "pw", "legit-reader": "pw"}
	cfg.Rooms.Create.UserPerMinute, cfg.Rooms.Create.UserBurst = 60000, 1000
	quota := cfg.Rooms.Create.UserQuota
	a, b := start(t, cfg), start(t, cfg)
	if status, body, err := createAs(a, "anonymous", ""); status != http.StatusUnauthorized || err != nil {
		t.Fatalf("anonymous creation: %d %v %v", status, body, err)
	}
	status, body, err := createAs(a, "legit-"+unique(t), basicAuth("bob", "pw"))
	if status != http.StatusCreated || err != nil {
		t.Fatalf("bob's room: %d %v %v", status, body, err)
	}
	room := body["id"].(string)
	waitRoom(t, b, room)
	legit := &legitClient{t: t, r: a, room: room,
		talker: connect(t, a, "legit-talker", "passcode", "pw"), reader: connect(t, b, "legit-reader", "passcode", "pw")}
	if err := legit.reader.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	res := legit.during(func() burstResult {
		// alternate replicas, each creation seen by the other before the
		// next, so the registry's count is exact
		res := burstResult{keys: map[string]int{}}
		for i := range 300 {
			r, other := a, b
			if i%2 == 1 {
				r, other = b, a
			}
			status, body, err := createAs(r, fmt.Sprint("ann-", i), basicAuth("ann", "pw"))
			switch {
			case err == nil && status == http.StatusCreated:
				res.created++
				if rabbitWaitRoom(other, body["id"].(string)) != nil {
					res.other = append(res.other, "room never reached the other replica")
				}
			case err == nil && status == http.StatusTooManyRequests:
				res.refused++
				res.keys[body["key"].(string)]++
			default:
				res.other = append(res.other, fmt.Sprintf("%d %v %v", status, body, err))
			}
		}
		return res
	})
	if len(res.other) > 0 || res.created != quota || res.keys[roomlimit.KeyUserQuota] != 300-quota {
		t.Fatalf("ann's burst: %d created, refusals %v, other %v; want the quota %d", res.created, res.keys, res.other, quota)
	}
	if status, body, err := createAs(b, "bob-2", basicAuth("bob", "pw")); status != http.StatusCreated || err != nil {
		t.Fatalf("bob after ann's burst: %d %v %v", status, body, err)
	}
	waitRooms(t, a, quota+2)
}

// rabbitWaitRoom waits until replica r knows room id.
func rabbitWaitRoom(r *replica, id string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := r.srv.store.Get(id); ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("room %s never reached %s", id, r.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRoomGlobalCap: with the default cap, creations by the API key
// (which no per-client limit holds) stop at rooms.create.max_rooms; so do
// everyone's; RabbitMQ holds exactly that many room streams; a
// legitimate client keeps chatting and listing (its list pages through
// every room).
func TestRoomGlobalCap(t *testing.T) {
	cfg := defaultRabbitConfig(t)
	cfg.HTTP.APIKey = "operator-key"
	limit := cfg.Rooms.Create.MaxRooms
	r := start(t, cfg)
	room := createRoom(t, r, "legit-"+unique(t))
	legit := newLegitClient(t, r, room)
	res := legit.during(func() burstResult { return burst(r, "capped", "Bearer operator-key", limit+50, 4) })
	if len(res.other) > 0 || res.created != limit-1 || res.keys[roomlimit.KeyMaxRooms] != 51 {
		t.Fatalf("burst: %d created, refusals %v, other %v; want %d (the cap less the legitimate room)", res.created, res.keys, res.other, limit-1)
	}
	if status, body, _ := createAs(r, "one more", ""); status != http.StatusTooManyRequests || body["key"] != roomlimit.KeyMaxRooms {
		t.Fatalf("anonymous over the cap: %d %v", status, body)
	}
	waitRooms(t, r, limit)
	if ids := restRoomIDs(t, r, ""); len(ids) != limit {
		t.Fatalf("the list pages through %d rooms, want %d", len(ids), limit)
	}
}
