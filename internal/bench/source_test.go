package bench

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseSourceAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{" , ", ""},
		{"127.0.0.2", "127.0.0.2"},
		{"127.0.0.2-127.0.0.4", "127.0.0.2,127.0.0.3,127.0.0.4"},
		{"127.0.0.255 - 127.0.1.1, ::1", "127.0.0.255,127.0.1.0,127.0.1.1,::1"},
		{"127.0.0.9-127.0.0.9,127.0.0.9", "127.0.0.9,127.0.0.9"},
		{"::ffff:127.0.0.2", "127.0.0.2"},
	} {
		got, err := ParseSourceAddrs(tc.in)
		if err != nil || FormatSourceAddrs(got) != tc.want {
			t.Errorf("ParseSourceAddrs(%q) = %q, %v; want %q", tc.in, FormatSourceAddrs(got), err, tc.want)
		}
	}
	for _, bad := range []string{"localhost", "127.0.0.1-", "127.0.0.3-127.0.0.2", "::1-::2", "127.0.0.1-x", "10.0.0.0-10.0.8.0"} {
		if got, err := ParseSourceAddrs(bad); err == nil {
			t.Errorf("ParseSourceAddrs(%q) accepted: %v", bad, got)
		}
	}
	if newSourceDialer(nil) != nil {
		t.Error("no addresses must mean the default dialer")
	}
}

// Connections dialled through a sourceDialer come from its addresses in
// turn, as the listener sees them. Linux routes all of 127.0.0.0/8 to lo,
// so 127.0.0.2 and 127.0.0.3 need no setup.
func TestSourceDialerRotates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs, err := ParseSourceAddrs("127.0.0.2-127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	d := newSourceDialer(srcs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_ = ln.(*net.TCPListener).SetDeadline(deadline)
	var seen []string
	for range 4 {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// the connection is in the accept queue once the dial returns
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		remote := netip.MustParseAddrPort(s.RemoteAddr().String()).Addr().Unmap().String()
		local := netip.MustParseAddrPort(c.LocalAddr().String()).Addr().Unmap().String()
		if remote != local {
			t.Errorf("listener saw %s, dialer bound %s", remote, local)
		}
		seen = append(seen, remote)
	}
	if got := strings.Join(seen, ","); got != "127.0.0.2,127.0.0.3,127.0.0.2,127.0.0.3" {
		t.Fatalf("remote addresses %s", got)
	}
}

// A run with source addresses connects every client through them and
// reports the rotation and the connect rate.
func TestRunFromSourceAddrs(t *testing.T) {
	b, err := StartBaseline("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srcs, err := ParseSourceAddrs("127.0.0.2,127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: ModeBaseline, URLs: []string{b.URL()}, Clients: 6, Rooms: 2, Idle: true,
		Duration: time.Millisecond, SourceAddrs: srcs}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Connect.Connected != 6 || rep.Connect.SourceAddrs != 2 || rep.Connect.PerSecond <= 0 {
		t.Fatalf("connect %+v, ok %v, errors %+v", rep.Connect, rep.OK, rep.Errors)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "(0 failed; 2 source addresses)") {
		t.Fatalf("table:\n%s", table.String())
	}
}

func TestConnectReportAndConcurrency(t *testing.T) {
	c := newConnectReport(9_000, 10_000, 2*time.Second)
	if c.PerSecond != 4_500 || c.Failed != 1_000 || c.Seconds != 2 {
		t.Errorf("connect report %+v", c)
	}
	if c := newConnectReport(0, 1, 0); c.PerSecond != 0 {
		t.Errorf("zero-length ramp: %+v", c)
	}
	for rate, want := range map[float64]int{0: 1024, 500: 64, 5_000: 250, 100_000: 1024} {
		if got := DefaultConnectConcurrency(rate); got != want {
			t.Errorf("DefaultConnectConcurrency(%v) = %d, want %d", rate, got, want)
		}
	}
}
