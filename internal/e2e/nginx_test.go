package e2e

import (
	"testing"
	"time"

	"chatrelay/internal/nginxtest"
	"chatrelay/internal/testkit"
)

// startNginx runs docker/nginx.conf listening on listen and balancing over
// backend1 and backend2 (for chatrelay1:8080 and chatrelay2:8080), and
// waits until it proxies /healthz.
func startNginx(t testing.TB, listen, backend1, backend2 string) *nginxtest.Nginx {
	t.Helper()
	n := nginxtest.Configure(t, listen, backend1, backend2).Start(t)
	for _, path := range []string{"/nginx-health", "/healthz"} {
		if err := testkit.WaitOK(n.Base()+path, 15*time.Second, n.Running); err != nil {
			t.Fatalf("nginx not ready: %v", err)
		}
	}
	return n
}
