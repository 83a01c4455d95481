package stack

import (
	"strings"
	"testing"

	"chatrelay/internal/nginxtest"
	"chatrelay/internal/testkit"
)

// startNginx runs docker/nginx.conf in front of two backends and returns
// its base address.
func startNginx(t testing.TB, backend1, backend2 string) string {
	t.Helper()
	return nginxtest.Start(t, backend1, backend2).Addr
}

// TestNginxConfigValid: nginx -t accepts docker/nginx.conf once its
// upstreams point at loopback ports.
func TestNginxConfigValid(t *testing.T) {
	s := nginxtest.Configure(t, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	out := s.Test(t)
	if !strings.Contains(out, "test is successful") {
		t.Fatalf("nginx -t: %s", out)
	}
}
