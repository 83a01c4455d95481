package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/chat"
	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// confirmConfig is the RabbitMQ test config with quick confirmation
// timings: republish after 300 ms, give up after timeout. Rooms are not
// resident: these tests lose messages by unbinding a room's stream, so
// each room has one from its first message.
func confirmConfig(t *testing.T, timeout time.Duration) config.Config {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Rooms.Archive.Resident = false
	cfg.Rooms.Confirm.RepublishAfter = 300 * time.Millisecond
	cfg.Rooms.Confirm.Timeout = timeout
	cfg.HTTP.APIKey = testAPIKey
	return cfg
}

// roomStream returns the name of the room's stream on the package's node.
func roomStream(t *testing.T, room string) string {
	t.Helper()
	q, err := rabbit.RoomStreamName("/", room)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// setBinding unbinds a room's stream from amq.topic (bound false) or
// binds it again. While unbound, what is published to the room's topic
// is routed nowhere, yet RabbitMQ receipts it: a lost message, as when a
// stream has no writer.
func setBinding(t *testing.T, room string, bound bool) {
	t.Helper()
	q, key := roomStream(t, room), rooms.StreamName(room)
	rabbit.WithChannel(t, func(ch *amqp.Channel) error {
		if bound {
			return ch.QueueBind(q, key, "amq.topic", false, nil)
		}
		return ch.QueueUnbind(q, key, "amq.topic", nil)
	})
}

// unbindRoom unbinds the room's stream, so that what the room is sent is
// stored nowhere, until the returned rebind; rebind runs at cleanup when
// the test did not call it.
func unbindRoom(t *testing.T, room string) (rebind func()) {
	t.Helper()
	setBinding(t, room, false)
	var once sync.Once
	rebind = func() { once.Do(func() { setBinding(t, room, true) }) }
	t.Cleanup(rebind)
	return rebind
}

// sendRoom sends one /app/chat.send of text to room, with a receipt when
// receipt is not empty.
func sendRoom(t *testing.T, c *stomptest.Client, room, text, receipt string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
	if receipt != "" {
		f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: receipt})
	}
	f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":%q}`, room, text))
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
}

// expectReceipt reads the next frame and checks it is RECEIPT id.
func expectReceipt(t *testing.T, c *stomptest.Client, id string, timeout time.Duration) {
	t.Helper()
	f, err := c.Expect(stomp.RECEIPT, timeout)
	if err != nil || f.Header("receipt-id") != id {
		t.Fatalf("waiting for RECEIPT %s: %v %v", id, f, err)
	}
}

// expectNothing checks that c gets no frame for d. It only follows an
// event that proved the frame could have come.
func expectNothing(t *testing.T, c *stomptest.Client, d time.Duration, what string) {
	t.Helper()
	if f, err := c.Read(d); err == nil {
		t.Fatalf("%s: got %s %v %q", what, f.Command, f.Headers, f.Body)
	}
}

// waitRepublished waits until r's Confirmer has republished n messages in
// all.
func waitRepublished(t *testing.T, r *replica, n int64) {
	t.Helper()
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		return r.srv.confirm.Stats().Republished >= n, nil
	}); err != nil {
		t.Fatalf("republished %d, want %d: %v", r.srv.confirm.Stats().Republished, n, err)
	}
}

// countText returns how many messages carry text.
func countText(ms []rooms.Message, text string) int {
	n := 0
	for _, m := range ms {
		if m.Message == text {
			n++
		}
	}
	return n
}

// historyVia returns the room's newest messages as a fresh x-history
// subscription delivers them, oldest first.
func historyVia(t *testing.T, r *replica, room string, n int) []rooms.Message {
	t.Helper()
	c := connect(t, r, "historian")
	if err := c.Subscribe("h", "/topic/room."+room, "x-history", strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	var out []rooms.Message
	for {
		f, err := c.Read(500 * time.Millisecond)
		if err != nil {
			break // the replay is queued before the RECEIPT: all read
		}
		var m rooms.Message
		if f.Command != stomp.MESSAGE || json.Unmarshal(f.Body, &m) != nil {
			t.Fatalf("x-history: %s %q", f.Command, f.Body)
		}
		out = append(out, m)
	}
	_ = c.Close()
	return out
}

// percentile returns the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// TestConfirmedSendIsStored: (a) a RECEIPT for /app/chat.send comes once
// the message is in the room's history (x-history and REST right after
// it). It logs what confirmation adds to a RECEIPT: room SENDs against
// SENDs to a plain topic, whose RECEIPT is the broker's.
func TestConfirmedSendIsStored(t *testing.T) {
	cfg := confirmConfig(t, 10*time.Second)
	// baseline: a client SEND to a plain topic, whose RECEIPT is
	// RabbitMQ's
	cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/topic/plain.*")
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "ann")
	const n = 30
	var confirmed, plain, direct []time.Duration
	for i := 0; i < n; i++ {
		text := "stored-" + strconv.Itoa(i)
		t0 := time.Now()
		sendRoom(t, c, room, text, "r"+strconv.Itoa(i))
		expectReceipt(t, c, "r"+strconv.Itoa(i), 15*time.Second)
		confirmed = append(confirmed, time.Since(t0))
		// the RECEIPT is the proof: history has the message at once
		if h := history(t, r, room, 1); len(h) != 1 || h[0].Message != text {
			t.Fatalf("after the RECEIPT of %s the newest message is %+v", text, h)
		}
	}
	topic := "/topic/plain." + strings.ReplaceAll(unique(t), ".", "-")
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := c.Send(stomp.New(stomp.SEND, "destination", topic, "receipt", "p"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		expectReceipt(t, c, "p"+strconv.Itoa(i), 15*time.Second)
		plain = append(plain, time.Since(t0))
	}
	// and what a room SEND waited for before confirmation: RabbitMQ's
	// receipt of a publish to the room's topic (through the replica's
	// relay; no body, so the room's feed skips it as no chat message)
	for i := 0; i < n; i++ {
		done := make(chan error, 1)
		t0 := time.Now()
		_ = r.srv.Relay().Publish(rooms.Topic(room), nil, nil, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		direct = append(direct, time.Since(t0))
	}
	got := historyVia(t, r, room, n)
	if len(got) != n {
		t.Fatalf("x-history has %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if m.Message != "stored-"+strconv.Itoa(i) {
			t.Fatalf("x-history[%d] = %q", i, m.Message)
		}
	}
	t.Logf("RECEIPT latency over %d SENDs each, client to client: /app/chat.send confirmed through the feed p50 %v p95 %v max %v; "+
		"plain topic (RabbitMQ's receipt) p50 %v p95 %v max %v. RabbitMQ's receipt of a room topic publish, relay to relay: p50 %v p95 %v max %v",
		n, percentile(confirmed, .5), percentile(confirmed, .95), percentile(confirmed, 1),
		percentile(plain, .5), percentile(plain, .95), percentile(plain, 1),
		percentile(direct, .5), percentile(direct, .95), percentile(direct, 1))
}

// TestLostSendIsRepublished: (b) while the room's stream is unbound from
// the topic exchange, a SEND's publishes are receipted by RabbitMQ but
// stored nowhere: the client gets no RECEIPT, the server publishes the
// same message again, and once the binding is back the RECEIPT comes and
// subscribers, x-history and REST history have the message once.
func TestLostSendIsRepublished(t *testing.T) {
	r := start(t, confirmConfig(t, 10*time.Second))
	room := createRoom(t, r, unique(t))
	sub := connect(t, r, "listener")
	if err := sub.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	c := connect(t, r, "ann")
	if err := c.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	sendRoom(t, c, room, "before", "r0")
	expectReceipt(t, c, "r0", 15*time.Second)
	if got := texts(readRoom(t, sub, "s", 1)); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("live subscriber got %v", got)
	}

	rebind := unbindRoom(t, room)
	sendRoom(t, c, room, "lost-once", "r1")
	waitRepublished(t, r, 2)
	expectNothing(t, c, 100*time.Millisecond, "while the message is stored nowhere")
	rebind()
	t0 := time.Now()
	expectReceipt(t, c, "r1", 15*time.Second)
	t.Logf("RECEIPT %v after the binding came back (%d republishes)", time.Since(t0), r.srv.confirm.Stats().Republished)

	sendRoom(t, c, room, "after", "r2")
	expectReceipt(t, c, "r2", 15*time.Second)
	if got := texts(readRoom(t, sub, "s", 2)); !slices.Equal(got, []string{"lost-once", "after"}) {
		t.Fatalf("live subscriber got %v", got)
	}
	if h := history(t, r, room, 10); countText(h, "lost-once") != 1 || len(h) != 3 {
		t.Fatalf("REST history %v", texts(h))
	}
	if h := historyVia(t, r, room, 10); countText(h, "lost-once") != 1 || len(h) != 3 {
		t.Fatalf("x-history %v", texts(h))
	}
	// operators see it on /metrics
	m := scrapeMetrics(t, r)
	if got := m.get(t, "chatrelay_room_messages_republished_total"); got < 2 {
		t.Errorf("republished_total %v, want at least 2", got)
	}
	if got := m.get(t, "chatrelay_room_messages_confirmed_total", "result=stored"); got != 3 {
		t.Errorf("confirmed_total{stored} %v, want 3", got)
	}
	if got := m.get(t, "chatrelay_room_messages_awaiting_confirmation"); got != 0 {
		t.Errorf("awaiting_confirmation %v, want 0", got)
	}
}

// TestDuplicateRecordsDeliveredOnce: (c) the same chat message written
// twice into the room's stream (as a republish whose first copy was
// stored after all would) reaches a live subscriber once, and x-history,
// x-resume-after and REST history hold it once.
func TestDuplicateRecordsDeliveredOnce(t *testing.T) {
	r := start(t, confirmConfig(t, 10*time.Second))
	room := createRoom(t, r, unique(t))
	sub := connect(t, r, "listener")
	if err := sub.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	c := connect(t, r, "ann")
	sendRoom(t, c, room, "first", "r0")
	expectReceipt(t, c, "r0", 15*time.Second)
	first := readRoom(t, sub, "s", 1)[0]

	body, _ := json.Marshal(chat.ChatMessage{ID: "dup-" + unique(t), RoomID: room, Type: chat.Talk,
		Sender: "ann", Message: "twice", SentAt: time.Now().UTC()})
	q := roomStream(t, room)
	rabbit.WithChannel(t, func(ch *amqp.Channel) error {
		for i := 0; i < 2; i++ {
			if err := ch.Publish("", q, false, false, amqp.Publishing{ContentType: "application/json", Body: body}); err != nil {
				return err
			}
		}
		return nil
	})
	sendRoom(t, c, room, "last", "r1")
	expectReceipt(t, c, "r1", 15*time.Second)
	if got := texts(readRoom(t, sub, "s", 2)); !slices.Equal(got, []string{"twice", "last"}) {
		t.Fatalf("live subscriber got %v", got)
	}
	if h := history(t, r, room, 10); !slices.Equal(texts(h), []string{"last", "twice", "first"}) {
		t.Fatalf("REST history %v", texts(h))
	}
	if h := historyVia(t, r, room, 10); !slices.Equal(texts(h), []string{"first", "twice", "last"}) {
		t.Fatalf("x-history %v", texts(h))
	}
	resumer := connect(t, r, "resumer")
	if err := resumer.Subscribe("s", "/topic/room."+room, "x-resume-after", strconv.FormatInt(first.Offset, 10)); err != nil {
		t.Fatal(err)
	}
	if got := texts(readRoom(t, resumer, "s", 2)); !slices.Equal(got, []string{"twice", "last"}) {
		t.Fatalf("x-resume-after got %v", got)
	}
	expectNothing(t, resumer, 300*time.Millisecond, "after the replay")
	// a second replica's feed, which starts after both copies were
	// written, drops the copy too
	r2 := start(t, confirmConfig(t, 10*time.Second))
	waitRoom(t, r2, room)
	if h := history(t, r2, room, 10); !slices.Equal(texts(h), []string{"last", "twice", "first"}) {
		t.Fatalf("REST history on a fresh replica %v", texts(h))
	}
}

// TestUnstoredSendGetsAnError: (d) a SEND that can never be stored (the
// stream stays unbound past the timeout) gets, within the timeout, a
// not_stored error on /user/queue/errors carrying its receipt id and no
// RECEIPT; the session goes on, a client in another room is served all
// along, and a client with no /user/queue/errors subscription gets an
// ERROR with the receipt id. Server push into the room answers 503
// not_stored the same way, and 201 once the room is healthy.
func TestUnstoredSendGetsAnError(t *testing.T) {
	const timeout = 3 * time.Second
	r := start(t, confirmConfig(t, timeout))
	room, other := createRoom(t, r, unique(t)), createRoom(t, r, unique(t)+"-other")
	c := connect(t, r, "ann")
	if err := c.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	bystander := connect(t, r, "bo")
	sendRoom(t, c, room, "before", "r0")
	expectReceipt(t, c, "r0", 15*time.Second)

	rebind := unbindRoom(t, room)
	t0 := time.Now()
	sendRoom(t, c, room, "never", "r1")
	quiet := connect(t, r, "quiet") // no errors subscription
	sendRoom(t, quiet, room, "never-quiet", "q1")
	pushed := make(chan int, 1)
	go func() {
		// owns nothing: the push waits for its answer meanwhile
		pushed <- pushStatus(t, r, room, "never-pushed")
	}()
	// another room is not held up
	for i := 0; i < 3; i++ {
		t1 := time.Now()
		sendRoom(t, bystander, other, "fine-"+strconv.Itoa(i), "b"+strconv.Itoa(i))
		expectReceipt(t, bystander, "b"+strconv.Itoa(i), 5*time.Second)
		if d := time.Since(t1); d > timeout/2 {
			t.Fatalf("a SEND to a healthy room took %v", d)
		}
	}
	f, err := c.Expect(stomp.MESSAGE, timeout+5*time.Second)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code, Message, Destination, Receipt string }
	if err := json.Unmarshal(f.Body, &body); err != nil || body.Code != chat.CodeNotStored || body.Receipt != "r1" ||
		f.Header("receipt-id") != "r1" || f.Header("subscription") != "e" || body.Destination != "/app/chat.send" {
		t.Fatalf("error %v %q: %v", f.Headers, f.Body, err)
	}
	if took < timeout-200*time.Millisecond || took > timeout+3*time.Second {
		t.Fatalf("not_stored after %v, timeout %v", took, timeout)
	}
	t.Logf("not_stored after %v (timeout %v): %s", took, timeout, body.Message)
	ef, err := quiet.Expect(stomp.ERROR, 5*time.Second)
	if err != nil || ef.Header("receipt-id") != "q1" || !strings.Contains(string(ef.Body), chat.CodeNotStored) {
		t.Fatalf("client without an errors subscription: %v %v", ef, err)
	}
	if code := <-pushed; code != http.StatusServiceUnavailable {
		t.Fatalf("push while unstorable: %d", code)
	}
	rebind()
	// the session goes on
	sendRoom(t, c, room, "after", "r2")
	expectReceipt(t, c, "r2", 15*time.Second)
	if code := pushStatus(t, r, room, "pushed"); code != http.StatusCreated {
		t.Fatalf("push: %d", code)
	}
	h := history(t, r, room, 10)
	if countText(h, "after") != 1 || countText(h, "pushed") != 1 || countText(h, "never") != 0 {
		t.Fatalf("history %v", texts(h))
	}
}

// pushStatus POSTs a server push of text into room and returns the
// status; a 201 must carry the message id.
func pushStatus(t *testing.T, r *replica, room, text string) int {
	req, err := http.NewRequest(http.MethodPost, r.HTTP()+"/api/rooms/"+room+"/messages", strings.NewReader(`{"message":"`+text+`"}`))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	var body struct{ ID, Code string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Errorf("push answer: %v", err)
	}
	switch {
	case resp.StatusCode == http.StatusCreated && body.ID == "":
		t.Errorf("201 without an id")
	case resp.StatusCode == http.StatusServiceUnavailable && body.Code != "not_stored":
		t.Errorf("503 with code %q", body.Code)
	}
	return resp.StatusCode
}

// TestDisconnectWaitsForConfirmation: a DISCONNECT's RECEIPT waits for
// the RECEIPT of a room SEND still being confirmed (longer than the
// 5 s a DISCONNECT waits for the broker by default), and comes after it.
func TestDisconnectWaitsForConfirmation(t *testing.T) {
	r := start(t, confirmConfig(t, 10*time.Second))
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "leaver")
	sendRoom(t, c, room, "before", "r0")
	expectReceipt(t, c, "r0", 15*time.Second)
	rebind := unbindRoom(t, room)
	sendRoom(t, c, room, "parting words", "r1")
	if err := c.Send(stomp.New(stomp.DISCONNECT, "receipt", "bye")); err != nil {
		t.Fatal(err)
	}
	// past the default DISCONNECT wait of 5 s
	waitRepublished(t, r, int64(5*time.Second/r.srv.cfg.Rooms.Confirm.RepublishAfter)+1)
	rebind()
	expectReceipt(t, c, "r1", 15*time.Second)
	expectReceipt(t, c, "bye", 5*time.Second)
	if _, err := c.WaitClosed(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if h := history(t, r, room, 10); countText(h, "parting words") != 1 {
		t.Fatalf("history %v", texts(h))
	}
}

// TestConfirmMaxPending: with rooms.confirm.max_pending messages waiting
// to be seen stored (the room's stream unbound), a room SEND gets a busy
// error at once, carrying its receipt id, and a push 503 busy; the
// waiting message is stored once the stream is bound again, and SENDs
// work again.
func TestConfirmMaxPending(t *testing.T) {
	cfg := confirmConfig(t, 10*time.Second)
	cfg.Rooms.Confirm.MaxPending = 1
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "ann")
	if err := c.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	// the room's first message declares its stream, which is unbound
	sendRoom(t, c, room, "before", "r0")
	expectReceipt(t, c, "r0", 15*time.Second)
	rebind := unbindRoom(t, room)
	sendRoom(t, c, room, "waiting", "r1")
	waitRepublished(t, r, 1) // r1 waits
	sendRoom(t, c, room, "one too many", "r2")
	f, err := c.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code, Receipt string }
	if err := json.Unmarshal(f.Body, &body); err != nil || body.Code != chat.CodeBusy || f.Header("receipt-id") != "r2" {
		t.Fatalf("error %v %q: %v", f.Headers, f.Body, err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.HTTP()+"/api/rooms/"+room+"/messages", strings.NewReader(`{"message":"pushed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pushed struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&pushed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || pushed.Code != "busy" {
		t.Fatalf("push while busy: %d %q", resp.StatusCode, pushed.Code)
	}
	rebind()
	expectReceipt(t, c, "r1", 15*time.Second)
	sendRoom(t, c, room, "after", "r3")
	expectReceipt(t, c, "r3", 15*time.Second)
	if h := history(t, r, room, 10); countText(h, "one too many") != 0 || countText(h, "waiting") != 1 || countText(h, "after") != 1 {
		t.Fatalf("history %v", texts(h))
	}
	if got := scrapeMetrics(t, r).get(t, "chatrelay_room_messages_confirmed_total", "result=busy"); got != 2 {
		t.Errorf("confirmed_total{busy} %v, want 2", got)
	}
}
