package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// maxSourceAddrs bounds the addresses one -source-addrs list may name.
const maxSourceAddrs = 1024

// ParseSourceAddrs parses a list of client source addresses: comma-separated
// items, each an IP address or an inclusive IPv4 range written
// "127.0.0.2-127.0.0.9". An empty list returns none (the kernel picks the
// source address). Duplicates are kept: a list names the rotation exactly.
//
// One source address gives a client at most one connection per local port
// in net.ipv4.ip_local_port_range (about 28,000 by default) to a given
// server address; several addresses multiply that. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so any 127.x.y.z needs no setup.
func ParseSourceAddrs(list string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		from, to, isRange := strings.Cut(item, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", item, err)
		}
		if !isRange {
			out = append(out, a.Unmap())
			if len(out) > maxSourceAddrs {
				return nil, fmt.Errorf("more than %d source addresses", maxSourceAddrs)
			}
			continue
		}
		b, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return nil, fmt.Errorf("source range %q: %w", item, err)
		}
		a, b = a.Unmap(), b.Unmap()
		if !a.Is4() || !b.Is4() {
			return nil, fmt.Errorf("source range %q: only IPv4 ranges are supported", item)
		}
		if b.Less(a) {
			return nil, fmt.Errorf("source range %q: ends before it starts", item)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > maxSourceAddrs {
				return nil, fmt.Errorf("more than %d source addresses", maxSourceAddrs)
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// FormatSourceAddrs writes addrs back as a comma list (for reports).
func FormatSourceAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// sourceDialer dials TCP from its source addresses in turn: dial k binds
// to addrs[k % len(addrs)] (port 0: the kernel picks a free local port).
// It is safe for concurrent use.
type sourceDialer struct {
	addrs []netip.Addr
	next  atomic.Uint64
}

// newSourceDialer returns a dialer rotating over addrs, or nil when addrs
// is empty (the caller then dials as usual).
func newSourceDialer(addrs []netip.Addr) *sourceDialer {
	if len(addrs) == 0 {
		return nil
	}
	return &sourceDialer{addrs: addrs}
}

// DialContext dials address from the next source address; its signature
// is websocket.Dialer.NetDialContext's.
func (d *sourceDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	k := d.next.Add(1) - 1
	src := d.addrs[k%uint64(len(d.addrs))]
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	conn, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("from %s: %w", src, err)
	}
	return conn, nil
}
