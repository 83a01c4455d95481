package rabbittest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"chatrelay/internal/testkit"
)

// WaitFor is testkit.WaitFor: it polls cond until it returns true, or
// fails when timeout has passed; an error from cond does not stop the
// polling, and the last one is reported if the deadline passes.
func WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	if err := testkit.WaitFor(timeout, cond); err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	return nil
}

// errExited reports that the node's process is gone.
var errExited = errors.New("rabbitmq-server process exited")

// waitReady waits until STOMP accepts a CONNECT as guest/guest and the
// Web-STOMP and management ports accept connections, failing early if the
// node process exits.
func (n *Node) waitReady(timeout time.Duration) error {
	exited := false
	err := WaitFor(timeout, func() (bool, error) {
		if n.hasExited() {
			// WaitFor goes on until its deadline on errors; a dead
			// process will not come back, so end the wait at once
			exited = true
			return true, nil
		}
		if err := n.PingSTOMP(); err != nil {
			return false, err
		}
		for _, port := range []int{n.WebSTOMPPort, n.MgmtPort} {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err != nil {
				return false, err
			}
			c.Close()
		}
		return true, nil
	})
	if exited {
		return errExited
	}
	return err
}

// PingSTOMP opens a plain STOMP connection, sends CONNECT as guest/guest to
// vhost "/" and expects CONNECTED, then disconnects. It speaks raw frames so
// the harness does not depend on the code under test.
func (n *Node) PingSTOMP() error {
	c, err := net.DialTimeout("tcp", n.STOMPAddr(), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	const connect = "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\x00"
	if _, err := c.Write([]byte(connect)); err != nil {
		return err
	}
	frame, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		return fmt.Errorf("read CONNECTED: %w", err)
	}
	frame = strings.TrimLeft(frame, "\r\n")
	if !strings.HasPrefix(frame, "CONNECTED\n") {
		return fmt.Errorf("STOMP CONNECT answered with %q", strings.TrimSuffix(frame, "\x00"))
	}
	_, _ = c.Write([]byte("DISCONNECT\n\n\x00"))
	return nil
}
