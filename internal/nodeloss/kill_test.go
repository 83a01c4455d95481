package nodeloss

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/proctest"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/servertest"
)

// TestReplicaKill kills one of two replicas with SIGKILL under traffic.
// Its subscribers reconnect to the other replica and resume with
// x-resume-after the last offset they saw, as a client does: every
// receipted message reaches every subscriber exactly once, and the other
// replica's clients never notice.
func TestReplicaKill(t *testing.T) {
	c := rabbittest.RequireCluster(t)
	cfg := clusterConfig(c)
	survivor := startReplica(t, cfg)
	victim, kill := startProcess(t, cfg.Broker.Addresses, cfg.Broker.AMQPAddresses)
	room := createRoom(t, survivor.HTTP(), unique(t), 15*time.Second)
	waitRoom(t, victim.HTTP(), room)
	var onVictim, onSurvivor []*subscriber
	for i := range subscribers {
		if i%2 == 0 {
			onVictim = append(onVictim, subscribe(t, victim.URL(), fmt.Sprintf("v%02d", i), room))
		} else {
			onSurvivor = append(onSurvivor, subscribe(t, survivor.URL(), fmt.Sprintf("s%02d", i), room))
		}
	}
	subs := append(append([]*subscriber(nil), onVictim...), onSurvivor...)
	p := publish(t, survivor.URL(), room, sendInterval)
	waitReceived(t, subs, 10)

	kill()
	killed := time.Now()
	for _, s := range onVictim {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still connected 10 s after its replica was killed", s.name)
		}
		s.resume(t, survivor.URL())
	}
	t.Logf("%d clients of the killed replica resumed on the other in %v", len(onVictim), time.Since(killed).Round(time.Millisecond))
	after := p.sent() // SENDs made before the kill, about
	waitReceivedText(t, subs, fmt.Sprintf("m-%d", after+int(3*time.Second/sendInterval)))
	p.stopAndWait(t, answerLimit+5*time.Second)
	errored, slowest := checkAnswers(t, p, answerLimit)
	receipted := p.receipted()
	waitDelivered(t, subs, receipted, 15*time.Second)
	checkExactlyOnce(t, subs)
	t.Logf("%d SENDs (%d before the kill): %d receipted, %d errors, slowest answer %v",
		p.sent(), after, len(receipted), errored, slowest.Round(time.Millisecond))
	checkHistory(t, survivor.URL(), room, len(receipted)+10, receipted)
}

// startProcess runs chatrelay as a child process on the given broker
// addresses and returns it, once ready, with a function that kills it
// with SIGKILL (and waits for it to be gone).
func startProcess(t *testing.T, stompAddrs, amqpAddrs []string) (*servertest.Replica, func()) {
	t.Helper()
	p := proctest.Start(t,
		"CHATRELAY_BROKER_MODE=rabbitmq",
		"CHATRELAY_BROKER_ADDRESSES="+strings.Join(stompAddrs, ","),
		"CHATRELAY_BROKER_AMQP_ADDRESSES="+strings.Join(amqpAddrs, ","),
		"CHATRELAY_ROOMS_PRESENCE_MESSAGES=false",
	)
	return &servertest.Replica{Addr: p.Addr}, p.Kill
}
