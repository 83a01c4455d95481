package server

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/rooms"
)

// TestRoomOrderAcrossReplicas: 3 replicas, 30 stompjs clients spread over
// them in one room, 5 senders each sending 200 numbered messages: every
// client receives all 1000, in the same order as every other client, none
// twice.
func TestRoomOrderAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("30 Node clients")
	}
	cfg := testConfig(t, config.BrokerRabbitMQ)
	reps := []*replica{start(t, cfg), start(t, cfg), start(t, cfg)}
	room := createRoom(t, reps[0], unique(t))
	for _, r := range reps[1:] {
		waitRoom(t, r, room)
	}
	const clients, senders, each = 30, 5, 200
	subs := make([]*jsclient.Client, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range subs {
		wg.Add(1)
		// each goroutine owns the start-up of one Node client
		go func(i int) {
			defer wg.Done()
			c, err := jsclient.New()
			if err != nil {
				errs <- err
				return
			}
			c.Timeout = 30 * time.Second
			subs[i] = c
			if _, err := c.Connect(reps[i%3].URL(), fmt.Sprint("member", i), "", nil); err != nil {
				errs <- err
				return
			}
			errs <- c.Subscribe("room", "/topic/room."+room, map[string]string{"receipt": "joined"})
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range subs {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	for range subs {
		if err := <-errs; err != nil {
			if jsclient.Available() != nil {
				jsclient.NewT(t) // skips or fails as the environment says
			}
			t.Fatal(err)
		}
	}
	// five senders, on different replicas, all at once
	for s := 0; s < senders; s++ {
		wg.Add(1)
		// each goroutine owns one sender connection
		go func(s int) {
			defer wg.Done()
			c := connect(t, reps[s%3], fmt.Sprint("sender", s))
			sendNumbered(t, c, room, fmt.Sprint("s", s), 1, each)
		}(s)
	}
	wg.Wait()
	var reference []string
	for i, c := range subs {
		seen := map[string]bool{}
		order := make([]string, 0, senders*each)
		for len(order) < senders*each {
			e, err := c.WaitMessage(30*time.Second, nil)
			if err != nil {
				t.Fatalf("client %d after %d messages: %v", i, len(order), err)
			}
			var m rooms.Message
			if err := json.Unmarshal([]byte(e.Body), &m); err != nil {
				t.Fatal(err)
			}
			if seen[m.Message] {
				t.Fatalf("client %d got %q twice", i, m.Message)
			}
			seen[m.Message] = true
			order = append(order, m.Message)
		}
		for s := 0; s < senders; s++ {
			for n := 1; n <= each; n++ {
				if !seen[fmt.Sprintf("s%d-%d", s, n)] {
					t.Fatalf("client %d never got s%d-%d", i, s, n)
				}
			}
		}
		if reference == nil {
			reference = order
			continue
		}
		for k := range order {
			if order[k] != reference[k] {
				t.Fatalf("client %d differs from client 0 at position %d: %q vs %q", i, k, order[k], reference[k])
			}
		}
	}
}
