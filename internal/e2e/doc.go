// Package e2e holds chatrelay's end-to-end browser tests; it has no code of
// its own. They reproduce the compose topology (compose.yaml) on loopback,
// without Docker, and drive the real web page in a real browser:
//
//   - one private RabbitMQ node (internal/rabbittest), with its STOMP and
//     AMQP listeners on free 127.0.0.1 ports;
//   - two chatrelay processes, built from cmd/chatrelay and configured only
//     through the environment, as the compose services are
//     (CHATRELAY_BROKER_MODE=rabbitmq, the broker addresses, the listen
//     address and the browser origin they allow);
//   - nginx (Debian's package) running docker/nginx.conf, with its two
//     upstream server lines pointed at the replicas and its listener moved
//     to a free port, every file it writes in a temporary directory;
//   - headless Chromium (Debian's package) driven by playwright-core from
//     test/js/browser.mjs, opening the page through nginx.
//
// The browser test opens two pages as two users and makes sure, by asking
// each replica's own /metrics how many STOMP sessions it holds, that they
// reached different replicas (reloading the second page until they do).
// Then one user creates a room, both join it, each sees the other's
// message, the presence list shows both, and the room's history appears
// after a reload. It runs twice: over WebSocket (/ws), and with
// window.WebSocket deleted before any page script runs, so that the page
// falls back to SockJS (/ws-stomp) by itself; the replicas' sessions then
// carry the transport label sockjs and the pages open no WebSocket.
//
// TestBrowserKorean is the web page's acceptance test, on the same
// topology: two Chromium profiles in the Korean locale as 철수 and 영희
// (test/js/korean.mjs) create 채팅방 (the second creation's 409 offers to
// join), have a 3,000-character message refused and kept in the input and
// a 1,300-character one delivered, exchange a private message, reload (the
// session comes back from localStorage), and live through RabbitMQ being
// stopped and started: the message typed meanwhile shows as sending, then
// arrives once, and the banners clear. Screenshots at 1280 and 390 px, in
// Korean and English, go to CHATRELAY_E2E_ARTIFACTS/korean (or a temporary
// directory, logged) and are checked for sideways scrolling, covered
// controls and strings not from the page's catalogue (test/js/pagecheck.mjs).
//
// Every process the test starts (the replicas, nginx and its workers, node
// and Chromium) is ended when the test ends, and the whole test is bounded
// by three minutes.
//
// Prerequisites, each a loud skip when missing unless the variable named
// makes it a failure (CI sets them):
//
//	rabbitmq-server                 CHATRELAY_TEST_REQUIRE_RABBITMQ=1
//	node, test/js/node_modules      CHATRELAY_TEST_REQUIRE_NODE=1
//	  (npm ci --prefix test/js; playwright-core downloads no browser)
//	chromium (Debian package)       CHATRELAY_TEST_REQUIRE_BROWSER=1
//	nginx (Debian package)          CHATRELAY_TEST_REQUIRE_NGINX=1
//
// CHATRELAY_E2E_ARTIFACTS=DIR keeps screenshots of the pages of a failed
// run in DIR.
//
// Run it alone with:
//
//	go test -race -count=1 -v ./internal/e2e/
package e2e
