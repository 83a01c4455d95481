package stack

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"chatrelay/internal/rabbittest"
)

// definitions is the part of rabbitmq/definitions.json the tests read.
type definitions struct {
	VHosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Users []defUser `json:"users"`
	// Permissions are per user and vhost.
	Permissions []struct {
		User      string `json:"user"`
		VHost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	} `json:"permissions"`
}

// defUser is one user of a definitions file.
type defUser struct {
	Name             string   `json:"name"`
	PasswordHash     string   `json:"password_hash"`
	HashingAlgorithm string   `json:"hashing_algorithm"`
	Tags             []string `json:"tags"`
}

func readDefinitions(t testing.TB) definitions {
	t.Helper()
	var d definitions
	if err := json.Unmarshal([]byte(repoFile(t, "rabbitmq/definitions.json")), &d); err != nil {
		t.Fatalf("rabbitmq/definitions.json: %v", err)
	}
	return d
}

func (d definitions) user(name string) (defUser, bool) {
	for _, u := range d.Users {
		if u.Name == name {
			return u, true
		}
	}
	return defUser{}, false
}

func (d definitions) hasVHost(name string) bool {
	for _, v := range d.VHosts {
		if v.Name == name {
			return true
		}
	}
	return false
}

// TestDefinitionsUsers: the relay user is no administrator and has
// permissions in its vhost only; the admin user is an administrator with a
// known password; there is no guest.
func TestDefinitionsUsers(t *testing.T) {
	d := readDefinitions(t)
	u := composeBrokerUser(t)
	if _, ok := d.user("guest"); ok {
		t.Error("definitions.json defines guest")
	}
	for _, user := range d.Users {
		if user.HashingAlgorithm != "rabbit_password_hashing_sha256" {
			t.Errorf("user %s: hashing_algorithm %q", user.Name, user.HashingAlgorithm)
		}
	}
	relay, _ := d.user(u.Login)
	if len(relay.Tags) != 0 {
		t.Errorf("relay user %s has tags %v; it needs none (no management access)", relay.Name, relay.Tags)
	}
	admin, ok := d.user(adminUser)
	if !ok || !slices.Contains(admin.Tags, "administrator") {
		t.Fatalf("definitions.json lacks administrator %q: %+v", adminUser, admin)
	}
	if !rabbittest.CheckPasswordHash(admin.PasswordHash, adminPassword) {
		t.Errorf("the password of %s is not the documented %q", adminUser, adminPassword)
	}
	var relayPerms int
	for _, p := range d.Permissions {
		if p.User != u.Login {
			continue
		}
		relayPerms++
		if p.VHost != u.VHost {
			t.Errorf("relay user has permissions on vhost %q, want only %q", p.VHost, u.VHost)
		}
		for _, re := range []string{p.Configure, p.Write, p.Read} {
			if re == ".*" || re == "" {
				t.Errorf("relay user permission %q is not restricted", re)
			}
		}
	}
	if relayPerms != 1 {
		t.Errorf("relay user has %d permission entries, want 1", relayPerms)
	}
}

// TestDockerfile: pinned images, a static trimmed build of cmd/chatrelay
// with the Go version of go.mod, a non-root user, port 8080, a healthcheck
// on /healthz, and config.yaml inside.
func TestDockerfile(t *testing.T) {
	df := repoFile(t, "docker/Dockerfile")
	var lines []string // instructions, continuation lines joined
	for _, l := range strings.Split(strings.ReplaceAll(df, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var froms []string
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			froms = append(froms, strings.Fields(l)[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(repoFile(t, "go.mod"))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	if !strings.Contains(df, "ARG GO_VERSION="+goVersion[1]+"\n") || froms[0] != "golang:${GO_VERSION}" {
		t.Errorf("builder stage %q with GO_VERSION not %s (go.mod)", froms[0], goVersion[1])
	}
	final := froms[len(froms)-1]
	if !pinnedImage.MatchString(final) || !(strings.HasPrefix(final, "alpine:") || strings.HasPrefix(final, "busybox:")) {
		t.Errorf("final image %q: want a pinned alpine or busybox (the healthcheck needs wget)", final)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^RUN .*CGO_ENABLED=0 .*go build .*-trimpath .*\./cmd/chatrelay$`),
		regexp.MustCompile(`^USER [1-9][0-9]*(:[1-9][0-9]*)?$`),
		regexp.MustCompile(`^EXPOSE 8080$`),
		regexp.MustCompile(`^HEALTHCHECK .*CMD .*wget.*http://127\.0\.0\.1:8080/healthz`),
		regexp.MustCompile(`^COPY config\.yaml /etc/chatrelay/config\.yaml$`),
		regexp.MustCompile(`^ENTRYPOINT \["/usr/local/bin/chatrelay", "-config", "/etc/chatrelay/config\.yaml"\]$`),
	}
	for _, re := range want {
		if !slices.ContainsFunc(lines, re.MatchString) {
			t.Errorf("Dockerfile has no instruction matching %s", re)
		}
	}
}
