package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// localizedError is a /user/queue/errors message as every client sees
// it.
type localizedError struct {
	Code, Message, Destination, Subscription, Receipt, Detail string
}

// The texts of a SEND and a SUBSCRIBE over langConfig's rate limits, in
// each language: written out here, not taken from the catalogue, so that
// the test reads what a person reads.
var (
	sendLimitedText = map[string]string{
		"en": "SEND dropped: more than 0.001 SENDs per second (burst 1); slow down",
		"ko": "메시지를 보내지 않았습니다: 초당 0.001회(한 번에 1회)보다 많이 보냈습니다. 천천히 보내 주세요.",
	}
	subscribeLimitedText = map[string]string{
		"en": "SUBSCRIBE refused, nothing was subscribed: more than 0.001 SUBSCRIBEs per second (burst 2); subscribe again later",
		"ko": "구독이 거부되어 아무것도 구독되지 않았습니다: 초당 0.001회(한 번에 2회)보다 많이 구독했습니다. 잠시 후 다시 구독해 주세요.",
	}
)

// langConfig is the embedded-broker config in which a session's second
// SEND and third SUBSCRIBE are refused by the rate limits, which never
// end the session.
func langConfig(t *testing.T) config.Config {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.SendRate, cfg.Limits.SendBurst = 0.001, 1
	cfg.Limits.SubscribeRate, cfg.Limits.SubscribeBurst = 0.001, 2
	cfg.Limits.SendAbuse = 0
	return cfg
}

// checkLocalized checks one errors message: its code and destination,
// its message in lang, and the English wording as detail exactly when
// lang is not English.
func checkLocalized(t *testing.T, body []byte, lang, code, dest string, texts map[string]string) localizedError {
	t.Helper()
	var e localizedError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("errors message %q: %v", body, err)
	}
	wantDetail := ""
	if lang != "en" {
		wantDetail = texts["en"]
	}
	if e.Code != code || e.Destination != dest || e.Message != texts[lang] || e.Detail != wantDetail {
		t.Fatalf("errors message %s\nwant code %s, destination %s, message %q, detail %q", body, code, dest, texts[lang], wantDetail)
	}
	return e
}

// rateLimitedInLanguage has c (connected, nothing subscribed) subscribe
// to /user/queue/errors and /topic/lang.first, then SEND twice and
// SUBSCRIBE once more: the second SEND and the second SUBSCRIBE are
// refused with code rate_limited and the text in lang, the session goes
// on (both SENDs are receipted, the refused SUBSCRIBE is not).
func rateLimitedInLanguage(t *testing.T, c *stomptest.Client, room, lang string) {
	t.Helper()
	for _, s := range [][2]string{{"errs", "/user/queue/errors"}, {"first", "/topic/lang.first"}} {
		if err := c.Subscribe(s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"s1", "s2"} {
		if err := c.Send(chatSend(room, id, "receipt", id)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for len(got) < 3 {
		f, err := c.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch {
		case f.Command == stomp.RECEIPT:
			got[f.Header("receipt-id")] = true
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "errs":
			checkLocalized(t, f.Body, lang, "rate_limited", "/app/chat.send", sendLimitedText)
			got["rate_limited"] = true
		default:
			t.Fatalf("unexpected %s %v %s", f.Command, f.Headers, f.Body)
		}
	}
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "refused", "destination", "/topic/lang.refused", "receipt", "r-refused")); err != nil {
		t.Fatal(err)
	}
	f, err := c.Read(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Command != stomp.MESSAGE || f.Header("subscription") != "errs" {
		t.Fatalf("refused SUBSCRIBE: got %s %v %s", f.Command, f.Headers, f.Body)
	}
	if e := checkLocalized(t, f.Body, lang, "rate_limited", "/topic/lang.refused", subscribeLimitedText); e.Subscription != "refused" {
		t.Fatalf("refusal names subscription %q, want refused", e.Subscription)
	}
	// the session goes on
	if err := c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", "first", "receipt", "r-unsub")); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || f.Header("receipt-id") != "r-unsub" {
		t.Fatalf("after the refusals: %v %v", f, err)
	}
}

// TestErrorsInSessionLanguage: real WebSocket sessions choose their
// language from the CONNECT accept-language header (which wins), else
// the handshake's Accept-Language (q-values decide), else
// stomp.default_language; a malformed header falls back to the default
// without an error. A rate-limited SEND and a refused SUBSCRIBE give the
// same code in every language and the text in the session's.
func TestErrorsInSessionLanguage(t *testing.T) {
	cases := []struct {
		name, handshake, connect, def, want string
	}{
		{name: "ko CONNECT header", connect: "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", want: "ko"},
		{name: "ko handshake", handshake: "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", want: "ko"},
		{name: "handshake q-values", handshake: "en;q=0.4, ko;q=0.8, fr", want: "ko"},
		{name: "CONNECT wins over handshake", handshake: "ko-KR", connect: "en-US", want: "en"},
		{name: "CONNECT ko over en handshake", handshake: "en-US,en;q=0.9", connect: "ko", want: "ko"},
		{name: "en handshake", handshake: "en-US,en;q=0.9", want: "en"},
		{name: "nothing: default", want: "en"},
		{name: "nothing: default ko", def: "ko", want: "ko"},
		{name: "malformed CONNECT header", connect: "@@@;q=x,,;;", want: "en"},
		{name: "malformed with default ko", connect: "@@@;q=x,,;;", handshake: "ko;q=abc", def: "ko", want: "ko"},
		{name: "unsupported falls to handshake", connect: "fr-FR,fr;q=0.9", handshake: "ko", want: "ko"},
	}
	replicas := map[string]*replica{}
	for _, def := range []string{"en", "ko"} {
		cfg := langConfig(t)
		cfg.STOMP.DefaultLanguage = def
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		replicas[def] = start(t, cfg)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := replicas["en"]
			if c.def != "" {
				r = replicas[c.def]
			}
			room := createRoom(t, r, unique(t))
			h := http.Header{}
			if c.handshake != "" {
				h.Set("Accept-Language", c.handshake)
			}
			ws, _, err := stomptest.Dial(r.URL(), stomptest.Options{Subprotocols: []string{"v12.stomp"}, Header: h})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ws.Close() })
			kv := []string{"login", "lang-user"}
			if c.connect != "" {
				kv = append(kv, "accept-language", c.connect)
			}
			if _, err := ws.Connect(kv...); err != nil {
				t.Fatalf("CONNECT: %v", err)
			}
			rateLimitedInLanguage(t, ws, room, c.want)
		})
	}
}

// sockJSFrames reads SockJS messages from c until one carries a STOMP
// frame satisfying want, and returns it; heart-beats and other frames are
// skipped.
func sockJSFrames(t *testing.T, c *websocket.Conn, want func(*stomp.Frame) bool) *stomp.Frame {
	t.Helper()
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20, MaxHeaders: 100, MaxHeaderBytes: 1 << 16})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = c.SetReadDeadline(deadline)
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("SockJS read: %v", err)
		}
		if !strings.HasPrefix(string(p), "a") {
			continue // o, h
		}
		var msgs []string
		if err := json.Unmarshal(p[1:], &msgs); err != nil {
			t.Fatalf("SockJS message %q: %v", p, err)
		}
		for _, m := range msgs {
			if err := dec.Feed([]byte(m)); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := dec.Next()
				if err != nil {
					t.Fatal(err)
				}
				if f == nil {
					break
				}
				if f.Command == stomp.ERROR {
					t.Fatalf("ERROR %q %q", f.Header("message"), f.Body)
				}
				if want(f) {
					return f
				}
			}
		}
	}
}

// sockJSSend writes STOMP frames as one SockJS message.
func sockJSSend(t *testing.T, c *websocket.Conn, frames ...*stomp.Frame) {
	t.Helper()
	var msgs []string
	for _, f := range frames {
		msgs = append(msgs, string(f.Encode(stomp.V12)))
	}
	p, _ := json.Marshal(msgs)
	if err := c.WriteMessage(websocket.TextMessage, p); err != nil {
		t.Fatal(err)
	}
}

// TestSockJSHandshakeLanguage: a SockJS session takes its language from
// the Accept-Language of the request that opened it (here sockjs-go's
// websocket transport, as a browser's SockJS opens it) and gets a
// rate-limited SEND's error in Korean, with the same code.
func TestSockJSHandshakeLanguage(t *testing.T) {
	r := start(t, langConfig(t))
	room := createRoom(t, r, unique(t))
	h := http.Header{"Accept-Language": {"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"}}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+r.addr+"/ws-stomp/0/"+strings.ReplaceAll(unique(t), ".", "")+"/websocket", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sockJSSend(t, c, stomp.New(stomp.CONNECT, "accept-version", "1.2", "login", "sockjs-ko"))
	sockJSFrames(t, c, func(f *stomp.Frame) bool { return f.Command == stomp.CONNECTED })
	sockJSSend(t, c, stomp.New(stomp.SUBSCRIBE, "id", "errs", "destination", "/user/queue/errors", "receipt", "r-errs"))
	sockJSFrames(t, c, func(f *stomp.Frame) bool { return f.Command == stomp.RECEIPT })
	sockJSSend(t, c, chatSend(room, "one"), chatSend(room, "two"))
	f := sockJSFrames(t, c, func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE && f.Header("subscription") == "errs" })
	checkLocalized(t, f.Body, "ko", "rate_limited", "/app/chat.send", sendLimitedText)
}

// TestStompJSKoreanErrors: a real @stomp/stompjs client over SockJS, as
// the Spring tutorials connect, names Korean in its CONNECT headers and
// gets a rate-limited SEND's and a refused SUBSCRIBE's errors in Korean
// with the usual codes; an English one gets them in English.
func TestStompJSKoreanErrors(t *testing.T) {
	r := start(t, langConfig(t))
	for _, lang := range []string{"ko", "en"} {
		t.Run(lang, func(t *testing.T) {
			room := createRoom(t, r, unique(t))
			c := jsclient.NewT(t)
			c.Timeout = 10 * time.Second
			if _, err := c.ConnectWith(jsclient.ConnectOptions{URL: r.SockJSURL(), Login: "js-" + lang, SockJS: true,
				Headers: map[string]string{"accept-language": lang}}); err != nil {
				t.Fatal(err)
			}
			if err := c.Subscribe("errs", "/user/queue/errors", map[string]string{"receipt": "r-errs"}); err != nil {
				t.Fatal(err)
			}
			body := `{"roomId":"` + room + `","type":"TALK","message":"hi"}`
			for _, id := range []string{"s1", "s2"} {
				if err := c.Send("/app/chat.send", body, map[string]string{"receipt": id}); err != nil {
					t.Fatal(err)
				}
			}
			isErr := func(e jsclient.Event) bool { return e.Subscription == "errs" }
			e, err := c.WaitMessage(5*time.Second, isErr)
			if err != nil {
				t.Fatal(err)
			}
			checkLocalized(t, []byte(e.Body), lang, "rate_limited", "/app/chat.send", sendLimitedText)
			// errs took one SUBSCRIBE of the burst of 2: this one goes
			// through, the next is refused
			if err := c.Subscribe("first", "/topic/lang.first", map[string]string{"receipt": "r-first"}); err != nil {
				t.Fatal(err)
			}
			if err := c.Subscribe("refused", "/topic/lang.refused", nil); err != nil {
				t.Fatal(err)
			}
			if e, err = c.WaitMessage(5*time.Second, isErr); err != nil {
				t.Fatal(err)
			}
			if got := checkLocalized(t, []byte(e.Body), lang, "rate_limited", "/topic/lang.refused", subscribeLimitedText); got.Subscription != "refused" {
				t.Fatalf("refusal names subscription %q", got.Subscription)
			}
		})
	}
}

// TestBrokerRefusalLocalized: a SUBSCRIBE that RabbitMQ refuses (the
// replica's broker user may not read the queue) gives subscribe_refused
// in every language: the Korean session (by its handshake) reads Korean
// with the broker's reason, and the English wording as detail; the
// English session (by its CONNECT header, over a Korean handshake)
// reads the English text as before, with no detail.
func TestBrokerRefusalLocalized(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Broker.VHost = freshVHost(t)
	user := limitedUser(t, rabbit, cfg.Broker.VHost)
	cfg.Broker.Login, cfg.Broker.Passcode = user, user
	cfg.Broker.Connections = 1
	denied := "/queue/denied-" + strings.ToLower(unique(t))
	cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, denied)
	r := start(t, cfg)
	for _, lang := range []string{"ko", "en"} {
		t.Run(lang, func(t *testing.T) {
			h := http.Header{"Accept-Language": {"ko-KR,ko;q=0.9"}}
			kv := []string{"login", "refused-" + lang}
			if lang == "en" {
				kv = append(kv, "accept-language", "en-US,en;q=0.9")
			}
			c, _, err := stomptest.Dial(r.URL(), stomptest.Options{Subprotocols: []string{"v12.stomp"}, Header: h})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			if _, err := c.Connect(kv...); err != nil {
				t.Fatal(err)
			}
			if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "q", "destination", denied, "receipt", "rq")); err != nil {
				t.Fatal(err)
			}
			f, err := c.Read(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.Command != stomp.MESSAGE || f.Header("subscription") != "errs" {
				t.Fatalf("got %s %v %s, want the refusal on errs", f.Command, f.Headers, f.Body)
			}
			var e localizedError
			if err := json.Unmarshal(f.Body, &e); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", lang, f.Body)
			if e.Code != "subscribe_refused" || e.Subscription != "q" || e.Destination != denied || !strings.Contains(e.Message, "access_refused") {
				t.Fatalf("refusal %+v", e)
			}
			const en = "SUBSCRIBE refused, nothing was subscribed: "
			switch lang {
			case "ko":
				if !strings.HasPrefix(e.Message, "브로커가 구독을 거부하여 아무것도 구독되지 않았습니다: ") || !strings.HasPrefix(e.Detail, en) {
					t.Fatalf("Korean refusal %+v", e)
				}
			case "en":
				if !strings.HasPrefix(e.Message, en) || e.Detail != "" {
					t.Fatalf("English refusal %+v", e)
				}
			}
			chatRoundTripAfterRefusal(t, r, c)
		})
	}
}

// chatRoundTripAfterRefusal checks that c's session goes on after a
// refusal: it joins a new room and gets what it sends there.
func chatRoundTripAfterRefusal(t *testing.T, r *replica, c *stomptest.Client) {
	t.Helper()
	room := createRoom(t, r, unique(t))
	if err := c.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	chatRoundTrip(t, c, "room", room, "still here")
}

// TestHandlerErrorLocalized: a handler's own error (the members of a
// room that does not exist) keeps its code; a Korean session reads the code's
// Korean text with the handler's English message as detail, an English
// one the handler's message as before.
func TestHandlerErrorLocalized(t *testing.T) {
	r := start(t, testConfig(t, config.BrokerEmbedded))
	for lang, want := range map[string]localizedError{
		"ko": {Code: "not_found", Message: "요청한 대상을 찾을 수 없습니다.", Detail: `room "nope" does not exist`},
		"en": {Code: "not_found", Message: `room "nope" does not exist`},
	} {
		t.Run(lang, func(t *testing.T) {
			c := connect(t, r, "handler-"+lang, "accept-language", lang)
			if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "m", "destination", "/app/rooms/nope/members")); err != nil {
				t.Fatal(err)
			}
			f, err := c.Expect(stomp.MESSAGE, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var e localizedError
			if err := json.Unmarshal(f.Body, &e); err != nil {
				t.Fatal(err)
			}
			want.Destination = "/app/rooms/nope/members"
			if f.Header("subscription") != "errs" || e != want {
				t.Fatalf("got %s on %s, want %+v", f.Body, f.Header("subscription"), want)
			}
		})
	}
}
