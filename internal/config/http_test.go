package config

import (
	"testing"
	"time"
)

// TestHTTPSettings: the http.* timeouts and body bound load from the
// environment and refuse values that cannot work.
func TestHTTPSettings(t *testing.T) {
	t.Setenv("CHATRELAY_HTTP_IDLE_TIMEOUT", "5s")
	t.Setenv("CHATRELAY_HTTP_MAX_BODY_BYTES", "4096")
	c, err := Load("")
	if err != nil || c.HTTP.IdleTimeout != 5*time.Second || c.HTTP.MaxBodyBytes != 4096 {
		t.Fatalf("%+v %v", c.HTTP, err)
	}
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_HTTP_READ_HEADER_TIMEOUT", "0s"},
		{"CHATRELAY_HTTP_READ_TIMEOUT", "5s"}, // below the header timeout
		{"CHATRELAY_HTTP_WRITE_TIMEOUT", "-1s"},
		{"CHATRELAY_HTTP_IDLE_TIMEOUT", "0s"},
		{"CHATRELAY_HTTP_MAX_BODY_BYTES", "100"},
		{"CHATRELAY_HTTP_MAX_BODY_BYTES", "65537"},
	} {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
	}
}
