package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestBrokerOutage stops and starts RabbitMQ under 20 subscribed clients:
// no client socket closes, subscriptions deliver again after the broker's
// return, and a SEND with a receipt made during the outage is delivered and
// receipted after it.
func TestBrokerOutage(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	const clients = 20
	subs := make([]*stomptest.Client, clients)
	for i := range subs {
		subs[i] = connect(t, r, fmt.Sprintf("o%d", i))
		if err := subs[i].Subscribe("s", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
	}
	sender := connect(t, r, "outage-sender")
	restart := stopBroker(t, r)
	if code := httpStatus(t, r.HTTP()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d during outage", code)
	}
	if code := httpStatus(t, r.HTTP()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d during outage", code)
	}
	send := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "during-outage")
	send.Body = []byte(`{"roomId":"` + room + `","message":"sent while the broker was down"}`)
	if err := sender.Send(send); err != nil {
		t.Fatal(err)
	}
	restart()
	back := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients+1)
	for i, c := range subs {
		wg.Add(1)
		// one goroutine per client owns that client's reads
		go func(i int, c *stomptest.Client) {
			defer wg.Done()
			m, err := c.Expect(stomp.MESSAGE, 10*time.Second)
			if err != nil {
				errs <- fmt.Errorf("client %d: %v", i, err)
				return
			}
			if !strings.Contains(string(m.Body), "sent while the broker was down") {
				errs <- fmt.Errorf("client %d got %q", i, m.Body)
			}
		}(i, c)
	}
	wg.Wait()
	rc, err := sender.Expect(stomp.RECEIPT, 10*time.Second)
	if err != nil || rc.Header("receipt-id") != "during-outage" {
		t.Fatalf("outage SEND receipt: %v %v", rc, err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("delivered to %d clients %v after the broker's return", clients, time.Since(back).Round(time.Millisecond))
	for i, c := range subs {
		select {
		case <-c.Closed():
			t.Errorf("client %d socket closed: %v", i, c.CloseErr())
		default:
		}
	}
	if code := httpStatus(t, r.HTTP()+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d after the broker's return", code)
	}
}

// TestOutboxFull fills the bounded outbox while RabbitMQ is stopped: the
// SEND that does not fit gets an ERROR, and the ones that fit are delivered
// and receipted after the broker's return.
func TestOutboxFull(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Broker.Connections = 1
	cfg.Broker.OutboxFrames = 2
	cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
	r := start(t, cfg)
	dest := "/topic/" + unique(t)
	sub := connect(t, r, "outbox-sub")
	if err := sub.Subscribe("s", dest); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, r, "outbox-sender")
	restart := stopBroker(t, r)
	for i := 1; i <= 3; i++ {
		f := stomp.New(stomp.SEND, "destination", dest, "receipt", fmt.Sprint("m", i))
		f.Body = []byte(fmt.Sprint("message ", i))
		if err := sender.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	e, err := sender.Expect(stomp.ERROR, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e.Header("receipt-id") != "m3" || !strings.Contains(string(e.Body), "send buffer full") {
		t.Fatalf("ERROR for the SEND that did not fit: %v %q", e.Headers, e.Body)
	}
	restart()
	for i := 1; i <= 2; i++ {
		m, err := sub.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil || string(m.Body) != fmt.Sprint("message ", i) {
			t.Fatalf("message %d after the return: %v %v", i, m, err)
		}
	}
	if f, err := sub.Read(500 * time.Millisecond); err == nil {
		t.Fatalf("the refused SEND was delivered too: %v %s", f.Headers, f.Body)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stopBroker stops the package's RabbitMQ node and waits until r's relay
// knows it. The returned restart starts the node again and waits for it;
// it runs at cleanup when the test did not call it.
func stopBroker(t *testing.T, r *replica) (restart func()) {
	t.Helper()
	if err := rabbit.StopApp(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restart = func() {
		once.Do(func() {
			if err := rabbit.StartApp(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(restart)
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return !r.srv.Relay().Ready(), nil }); err != nil {
		t.Fatalf("relay still ready with the broker stopped: %v", err)
	}
	return restart
}
