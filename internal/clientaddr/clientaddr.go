// Package clientaddr names the client a request or connection comes from,
// for every per-address limit: connections, room creation, HTTP requests.
//
// The name is the TCP peer's address: the client, or the proxy in front of
// the server (X-Forwarded-For is not trusted). An IPv4 address is one
// client; an IPv6 address counts as its /64 network, since one subscriber
// is routinely handed a whole /64 and can pick any address inside it.
package clientaddr

import (
	"net"
	"net/netip"
)

// ipv6Prefix is how many leading bits of an IPv6 address name one client.
const ipv6Prefix = 64

// Key returns the name under which per-address limits count remoteAddr
// ("host:port" or a bare host): the IPv4 address, the IPv6 /64 network
// ("2001:db8:1:2::/64"), or remoteAddr itself when it is not an IP (a
// Unix socket path, a test's fake address). IPv4-mapped IPv6 addresses
// count as their IPv4 address, and an IPv6 zone is dropped.
func Key(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remoteAddr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(ipv6Prefix)
	if err != nil {
		return ip.String()
	}
	return p.String()
}
