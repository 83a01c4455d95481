// Package nodeloss holds the tests that take parts away from a running
// chatrelay deployment under traffic: a RabbitMQ cluster node stopped
// (the one holding the relay's upstream connections, the one leading the
// room's stream, the one first in broker.amqp_addresses), a replica
// started while a node is down, and a replica killed with SIGKILL. They
// run against a real 3-node RabbitMQ cluster on loopback (internal/
// rabbittest) and check what the README promises: no client socket
// closes, every receipted room message reaches every subscriber exactly
// once and stays in the room's history, and every SEND is answered.
//
// The package has no code of its own: only tests.
package nodeloss
