package rabbittest

import (
	"fmt"
	"net"
	"testing"
)

// TestPortInTimeWaitIsNotFree: a port whose last connection the server
// side closed first sits in TIME_WAIT; Go (SO_REUSEADDR) can listen on it
// again, Erlang cannot, so freePorts must not hand it out.
func TestPortInTimeWaitIsNotFree(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := ports[0]
	if p < portMin || p >= portMax {
		t.Fatalf("port %d outside %d-%d", p, portMin, portMax)
	}
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	if bindable(p) {
		t.Fatalf("port %d bindable while a listener holds it", p)
	}
	client, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server.Close() // the server side closes first: its port goes to TIME_WAIT
	buf := make([]byte, 1)
	_, _ = client.Read(buf) // EOF once the FIN arrived
	client.Close()
	l.Close()
	again, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Skipf("the kernel kept no TIME_WAIT on port %d: %v", p, err)
	}
	again.Close()
	if bindable(p) {
		t.Fatalf("port %d in TIME_WAIT counted as free", p)
	}
}
