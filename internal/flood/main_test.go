package flood

import (
	"os"
	"testing"

	"chatrelay/internal/rabbittest"
)

// rabbit is the private RabbitMQ node of this package's tests.
var rabbit *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &rabbit)) }
