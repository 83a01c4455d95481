package conformance

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// orderingConns is how many fresh connections subscribeThenSend opens.
const orderingConns = 100

// subscribeThenSend (issue 14 item 1): orderingConns fresh connections,
// at once, each SUBSCRIBE to a topic of its own and SEND to it right
// after, without waiting for the subscription's RECEIPT; each must get
// its own message, as frames of one client take effect in the order it
// sent them.
func subscribeThenSend(e *env) string {
	var got atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan string, orderingConns)
	for i := range orderingConns {
		wg.Add(1)
		go func() {
			// owns connection i until it is done
			defer wg.Done()
			if err := ownMessage(e, i); err != nil {
				errs <- fmt.Sprintf("connection %d: %v", i, err)
				return
			}
			got.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Log(e.tg.name + ": " + e.norm(err))
		break // one is enough to see why
	}
	return fmt.Sprintf("%d/%d got their own message", got.Load(), orderingConns)
}

// ownMessage is one connection of subscribeThenSend.
func ownMessage(e *env, i int) error {
	c, _, err := stomptest.Dial(e.tg.url, stomptest.Options{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Connect("login", user, "passcode", user); err != nil {
		return err
	}
	dest := e.topic("o" + strconv.Itoa(i))
	body := "own-" + strconv.Itoa(i)
	sub := stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", dest)
	send := stomp.New(stomp.SEND, "destination", dest)
	send.Body = []byte(body)
	if err := c.Raw(append(sub.Encode(stomp.V12), send.Encode(stomp.V12)...)); err != nil {
		return err
	}
	f, err := c.Read(10 * time.Second)
	if err != nil {
		return err
	}
	if f.Command != stomp.MESSAGE || string(f.Body) != body {
		return fmt.Errorf("got %s %q", f.Command, f.Body)
	}
	return nil
}
