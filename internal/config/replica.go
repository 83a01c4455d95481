package config

import (
	"fmt"
	"net"
	"os"
	"unicode"
	"unicode/utf8"
)

// validReplicaID reports a broker.replica_id that cannot name a
// connection: longer than MaxReplicaIDBytes, not UTF-8, or with control
// characters. Empty is valid (DefaultReplicaID).
func validReplicaID(id string) error {
	if len(id) > MaxReplicaIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("broker.replica_id: at most %d bytes of UTF-8", MaxReplicaIDBytes)
	}
	for _, c := range id {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("broker.replica_id %q: only printable characters", id)
		}
	}
	return nil
}

// ReplicaName returns the name this replica goes by in the broker:
// broker.replica_id, or DefaultReplicaID when it is empty.
func (c Config) ReplicaName() string {
	if c.Broker.ReplicaID != "" {
		return c.Broker.ReplicaID
	}
	return DefaultReplicaID(c.HTTP.Addr)
}

// DefaultReplicaID names a replica after its host and the port of its
// HTTP address: "web-1:8080" (the port alone when httpAddr has none).
// Two replicas on one host differ by port; containers differ by host
// name.
func DefaultReplicaID(httpAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	port := httpAddr
	if _, p, err := net.SplitHostPort(httpAddr); err == nil {
		port = p
	}
	if port == "" {
		return host
	}
	return host + ":" + port
}
