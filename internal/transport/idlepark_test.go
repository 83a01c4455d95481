//go:build linux

package transport

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/testkit"
)

// parkedConn dials e, connects with heart-beat hb and returns the client
// and its server side once the connection is parked (no reader runs).
func parkedConn(t *testing.T, e *testEndpoints, hb string) (*stomptest.Client, openedConn) {
	t.Helper()
	c := dialWS(t, e)
	if _, err := c.Connect("login", "parker", "heart-beat", hb); err != nil {
		t.Fatal(err)
	}
	return c, nextParked(t, e)
}

// nextParked returns the next connection e accepted once it is parked.
func nextParked(t *testing.T, e *testEndpoints) openedConn {
	t.Helper()
	var oc openedConn
	select {
	case oc = <-e.opened:
	case <-time.After(5 * time.Second):
		t.Fatal("the endpoint reported no connection")
	}
	testkit.Eventually(t, 5*time.Second, "the idle connection parked", func() bool { return oc.c.state.Load() == readParked })
	return oc
}

// TestParkedConnectionWakesOnInput: an idle connection has no reader;
// the next message starts one, is answered, and the connection parks
// again.
func TestParkedConnectionWakesOnInput(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c, oc := parkedConn(t, e, "0,0")
	for i := 0; i < 3; i++ {
		if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "e"+strconv.Itoa(i), "destination", "/app/echo")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Expect(stomp.MESSAGE, 5*time.Second); err != nil {
			t.Fatalf("answer %d from a parked connection: %v", i, err)
		}
		testkit.Eventually(t, 5*time.Second, "the connection parked again", func() bool { return oc.c.state.Load() == readParked })
	}
}

// TestParkedConnectionReadDeadline: a parked connection whose client
// stays silent past the negotiated heart-beat is still closed for it: the
// deadline's timer starts the reader, whose read fails.
func TestParkedConnectionReadDeadline(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	// the client promises a heart-beat every 200 ms and sends none
	c, _ := parkedConn(t, e, "200,0")
	if _, err := c.Expect(stomp.ERROR, 5*time.Second); err != nil {
		t.Fatalf("no heart-beat timeout ERROR: %v", err)
	}
	if code, err := c.WaitClosed(5 * time.Second); err != nil || code != session.CloseHeartBeat {
		t.Fatalf("close code %d (%v), want %d", code, err, session.CloseHeartBeat)
	}
}

// TestParkedConnectionClosedByServer: when the server ends a parked
// connection, Close starts a reader to see the client's answer, so the
// reading ends and the connection's place in the limits is released.
// Without it the socket would close under a reader that never runs.
func TestParkedConnectionClosedByServer(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c, oc := parkedConn(t, e, "0,0")
	oc.s.Shutdown()
	if _, err := c.Expect(stomp.ERROR, 5*time.Second); err != nil {
		t.Fatalf("no ERROR at shutdown: %v", err)
	}
	if code, err := c.WaitClosed(5 * time.Second); err != nil || code != session.CloseGoingAway {
		t.Fatalf("close code %d (%v), want %d", code, err, session.CloseGoingAway)
	}
	testkit.Eventually(t, 5*time.Second, "the connection's place released", func() bool { return e.ws.Connections() == 0 })
	if st := oc.c.state.Load(); st != readEnded {
		t.Fatalf("reader state %d, want %d (ended)", st, readEnded)
	}
}

// TestParkedConnectionClosedUnanswered: a parked connection whose client
// no longer reads (and so never answers the close) is still ended: Close
// starts a reader, whose read fails at the linger deadline, and the
// connection's place is released. A reader left parked would never run
// once the socket closed (closing a socket drops its epoll registration
// without an event), and the place would stay taken.
func TestParkedConnectionClosedUnanswered(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, stomp.New(stomp.CONNECT, "accept-version", "1.2", "host", "/", "login", "deaf").Encode(stomp.V12)); err != nil {
		t.Fatal(err)
	}
	// CONNECTED is read; after it the client reads nothing more
	if _, p, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(p), stomp.CONNECTED) {
		t.Fatalf("want CONNECTED: %q %v", p, err)
	}
	oc := nextParked(t, e)
	oc.s.Shutdown()
	testkit.Eventually(t, 10*time.Second, "the connection's place released", func() bool { return e.ws.Connections() == 0 })
}
