package relay

import (
	"log/slog"
	"os"
	"testing"

	"chatrelay/internal/rabbittest"
)

// node is the package's private RabbitMQ node (nil without RabbitMQ).
var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

// testLogger logs to t until the test ends (rabbittest.Logger).
func testLogger(t testing.TB) *slog.Logger { return rabbittest.Logger(t) }
