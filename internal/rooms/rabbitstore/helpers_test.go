package rabbitstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// node is the package's private RabbitMQ node (nil without RabbitMQ).
var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

// testLogger logs to t until the test ends (rabbittest.Logger).
func testLogger(t testing.TB) *slog.Logger { return rabbittest.Logger(t) }

// roomName returns a room name unique on the test node (tests may run
// again on the same node with -count).
func roomName(t *testing.T) string { return t.Name() + "-" + newNonce()[:8] }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// replica is one simulated chatrelay replica: its own relay and store.
type replica struct {
	r *relay.Relay
	s *Store
}

// newReplica starts a relay to n and a Store on it; opts may tweak the
// store's options.
func newReplica(t *testing.T, n *rabbittest.Node, tweak func(*Options)) *replica {
	t.Helper()
	return newReplicaOn(t, []*rabbittest.Node{n}, tweak)
}

// newReplicaOn starts a relay listing every node of nodes (a cluster's,
// say) for STOMP and a Store listing them for AMQP; opts may tweak the
// store's options.
func newReplicaOn(t *testing.T, nodes []*rabbittest.Node, tweak func(*Options)) *replica {
	t.Helper()
	log := testLogger(t)
	var stompAddrs, amqpURLs []string
	for _, n := range nodes {
		stompAddrs = append(stompAddrs, n.STOMPAddr())
		amqpURLs = append(amqpURLs, AMQPURL("127.0.0.1", n.AMQPPort, "guest", "guest", "/"))
	}
	r := relay.New(relay.Config{
		Addresses:    stompAddrs,
		Login:        "guest",
		Passcode:     "guest",
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
		Logger:       log,
	})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	opts := Options{
		Relay:       r,
		AMQPURLs:    amqpURLs,
		MaxAge:      "1D",
		Buffer:      100,
		DeleteGrace: 100 * time.Millisecond,
		Logger:      log,
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := New(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &replica{r: r, s: s}
}

// send opens the room and publishes chat message number n into it as
// /app/chat.send does, and waits for the broker's receipt.
func (rp *replica) send(t *testing.T, roomID string, n int) {
	t.Helper()
	if err := rp.s.Open(testCtx(t), roomID); err != nil {
		t.Error(err)
		return
	}
	body, _ := json.Marshal(map[string]any{"id": "m" + strconv.Itoa(n), "roomId": roomID, "type": "TALK",
		"sender": "ann", "message": strconv.Itoa(n), "sentAt": time.Now().UTC()})
	done := make(chan error, 1)
	rp.r.Publish(rooms.Topic(roomID), stomp.Headers{{Key: "content-type", Value: "application/json"}}, body, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("no receipt for SEND")
	}
}

// follower collects what a Follow delivers.
type follower struct {
	mu   sync.Mutex
	msgs []rooms.Message
	got  chan struct{}
}

func newFollower() *follower { return &follower{got: make(chan struct{}, 1)} }

func (f *follower) deliver(m rooms.Message, data []byte) {
	var back rooms.Message
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, m) {
		panic("encoding does not match the message")
	}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	select {
	case f.got <- struct{}{}:
	default:
	}
}

// wait waits for n messages and returns all received so far.
func (f *follower) wait(t *testing.T, n int) []rooms.Message {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		f.mu.Lock()
		if len(f.msgs) >= n {
			out := append([]rooms.Message(nil), f.msgs...)
			f.mu.Unlock()
			return out
		}
		have := len(f.msgs)
		f.mu.Unlock()
		select {
		case <-f.got:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", have, n)
		}
	}
}

// nums returns the message numbers of msgs.
func nums(msgs []rooms.Message) []int {
	out := make([]int, len(msgs))
	for i, m := range msgs {
		out[i], _ = strconv.Atoi(m.Message)
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
