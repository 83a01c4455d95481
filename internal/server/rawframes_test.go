package server

import (
	"bytes"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestRawVersions connects with each STOMP version as a testing tool would
// type it, and checks the negotiated version and subprotocol.
func TestRawVersions(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		for _, tt := range []struct {
			offer   []string
			accept  string
			want    string
			subprot string
		}{
			{[]string{"v10.stomp"}, "", "1.0", "v10.stomp"},
			{[]string{"v11.stomp", "v10.stomp"}, "1.0,1.1", "1.1", "v11.stomp"},
			{[]string{"v12.stomp", "v11.stomp", "v10.stomp"}, "1.0,1.1,1.2", "1.2", "v12.stomp"},
			{nil, "1.2", "1.2", ""},
		} {
			c, _, err := stomptest.Dial(r.URL(), stomptest.Options{Subprotocols: tt.offer})
			if err != nil {
				t.Fatal(err)
			}
			if c.Subprotocol() != tt.subprot {
				t.Errorf("offered %v: subprotocol %q, want %q", tt.offer, c.Subprotocol(), tt.subprot)
			}
			connect := "CONNECT\nlogin:raw\n"
			if tt.accept != "" {
				connect += "accept-version:" + tt.accept + "\n"
			}
			if err := c.Raw([]byte(connect + "\n\x00")); err != nil {
				t.Fatal(err)
			}
			f, err := c.Expect(stomp.CONNECTED, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.Header("version") != tt.want || f.Header("user-name") != "raw" || f.Header("session") == "" || f.Header("server") == "" {
				t.Errorf("accept %q: CONNECTED %v", tt.accept, f.Headers)
			}
			// a round trip through the broker in this version
			dest := "/topic/" + unique(t)
			c.SetVersion(map[string]stomp.Version{"1.0": stomp.V10, "1.1": stomp.V11, "1.2": stomp.V12}[tt.want])
			if err := c.Subscribe("s1", dest); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}
	})
}

// TestRawFraming sends a frame split over three messages, two frames in
// one message with heart-beat EOLs between them, and a 1 MiB binary body
// with an embedded NUL, all through the broker.
func TestRawFraming(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Limits.MaxFrameBytes = 2 << 20
		cfg.Limits.SendQueueBytes = 8 << 20
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
		r := start(t, cfg)
		c := connect(t, r, "framer")
		dest := "/topic/" + unique(t)
		if err := c.Subscribe("s1", dest); err != nil {
			t.Fatal(err)
		}
		// one frame in three WebSocket messages
		wire := stomp.New(stomp.SEND, "destination", dest, "x-part", "split").Encode(stomp.V12)
		wire = append(wire[:len(wire)-1], append([]byte("hello"), 0)...)
		third := len(wire) / 3
		for _, part := range [][]byte{wire[:third], wire[third : 2*third], wire[2*third:]} {
			if err := c.Raw(part); err != nil {
				t.Fatal(err)
			}
		}
		m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Body) != "hello" || m.Header("x-part") != "split" || m.Header("subscription") != "s1" {
			t.Fatalf("split frame arrived as %v %q", m.Headers, m.Body)
		}
		// two frames and heart-beats in one message
		two := []byte("\n\r\n")
		two = append(two, stomp.New(stomp.SEND, "destination", dest, "n", "1").Encode(stomp.V12)...)
		two = append(two, '\n', '\n')
		two = append(two, stomp.New(stomp.SEND, "destination", dest, "n", "2").Encode(stomp.V12)...)
		if err := c.Raw(two); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1", "2"} {
			m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header("n") != n {
				t.Fatalf("got message n=%q, want %q", m.Header("n"), n)
			}
		}
		// 1 MiB binary body with a NUL in the middle and content-length
		body := make([]byte, 1<<20)
		for i := range body {
			body[i] = byte(i * 7)
		}
		body[len(body)/2] = 0
		big := stomp.New(stomp.SEND, "destination", dest, "content-type", "application/octet-stream", "content-length", "0", "receipt", "big")
		big.Body = body
		if err := c.Send(big); err != nil {
			t.Fatal(err)
		}
		var gotReceipt, gotMessage bool
		for !gotReceipt || !gotMessage {
			f, err := c.Read(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			switch f.Command {
			case stomp.RECEIPT:
				gotReceipt = f.Header("receipt-id") == "big"
			case stomp.MESSAGE:
				if !bytes.Equal(f.Body, body) {
					t.Fatalf("1 MiB body changed: got %d bytes", len(f.Body))
				}
				gotMessage = true
			default:
				t.Fatalf("unexpected %s %v", f.Command, f.Headers)
			}
		}
	})
}

// TestRawHeaderEscaping checks STOMP 1.2 escaping of ':', '\n' and '\\' in
// both directions through the broker.
func TestRawHeaderEscaping(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
		r := start(t, cfg)
		c := connect(t, r, "escaper")
		dest := "/topic/" + unique(t)
		if err := c.Subscribe("s1", dest); err != nil {
			t.Fatal(err)
		}
		value := "a:b\nc\\d"
		raw := "SEND\ndestination:" + dest + "\nx-tricky:a\\cb\\nc\\\\d\n\nbody\x00"
		if err := c.Raw([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header("x-tricky"); got != value {
			t.Fatalf("header came back as %q, want %q", got, value)
		}
	})
}

// TestRawDisconnectReceipt checks that the RECEIPT for DISCONNECT arrives
// before the server closes the socket.
func TestRawDisconnectReceipt(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		c := connect(t, r, "leaver")
		if err := c.Raw([]byte("DISCONNECT\nreceipt:bye-77\n\n\x00")); err != nil {
			t.Fatal(err)
		}
		f, err := c.Expect(stomp.RECEIPT, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header("receipt-id") != "bye-77" {
			t.Fatalf("receipt-id %q", f.Header("receipt-id"))
		}
		code, err := c.WaitClosed(5 * time.Second)
		if err != nil || code != 1000 {
			t.Fatalf("close code %d, %v", code, err)
		}
	})
}

// TestDisconnectWaitsForOwedReceipts: a SEND with a receipt followed at
// once by DISCONNECT gets both RECEIPTs, the SEND's first, then the close.
func TestDisconnectWaitsForOwedReceipts(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		c := connect(t, r, "hasty")
		room := createRoom(t, r, unique(t))
		send := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "msg")
		send.Body = []byte(`{"roomId":"` + room + `","message":"last words"}`)
		wire := append(send.Encode(stomp.V12), stomp.New(stomp.DISCONNECT, "receipt", "bye").Encode(stomp.V12)...)
		if err := c.Raw(wire); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"msg", "bye"} {
			f, err := c.Expect(stomp.RECEIPT, 5*time.Second)
			if err != nil || f.Header("receipt-id") != want {
				t.Fatalf("want RECEIPT %s: %v %v", want, f, err)
			}
		}
		if code, err := c.WaitClosed(5 * time.Second); err != nil || code != 1000 {
			t.Fatalf("close %d %v", code, err)
		}
	})
}

// TestAppSendRefusesTransactions: /app handlers act at once, so a SEND to
// /app inside a transaction is refused rather than silently committed.
func TestAppSendRefusesTransactions(t *testing.T) {
	r := start(t, testConfig(t, config.BrokerEmbedded))
	c := connect(t, r, "txer")
	if err := c.Raw([]byte("BEGIN\ntransaction:t1\n\n\x00SEND\ndestination:/app/chat.send\ntransaction:t1\n\n{}\x00")); err != nil {
		t.Fatal(err)
	}
	expectError(t, c, "transactions are not supported")
}
