package conformance

import (
	"os"
	"testing"

	"chatrelay/internal/rabbittest"
)

// rabbit is the package's private RabbitMQ node. Its Web-STOMP sends text
// frames, RabbitMQ's default (the harness's own default is binary).
var rabbit *rabbittest.Node

func TestMain(m *testing.M) {
	os.Exit(rabbittest.MainWith(m, &rabbit, rabbittest.Options{Config: "web_stomp.ws_frame = text\n"}))
}
