package stack

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// replicas are the chatrelay services nginx balances between.
var replicas = []string{"chatrelay1", "chatrelay2"}

// pinnedImage matches an image reference with an exact x.y.z version tag.
var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.-]+)?$`)

// TestComposeServices: the services, their images and published ports.
func TestComposeServices(t *testing.T) {
	p := loadProject(t)
	want := append([]string{"nginx", "rabbitmq"}, replicas...)
	sort.Strings(want)
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	published := map[string][]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			published[name] = append(published[name], port.Published+"->"+strconv.FormatUint(uint64(port.Target), 10))
		}
	}
	wantPorts := map[string][]string{"nginx": {"8080->8080"}, "rabbitmq": {"15672->15672"}}
	for name := range p.Services {
		if !slices.Equal(published[name], wantPorts[name]) {
			t.Errorf("service %s publishes %v, want %v", name, published[name], wantPorts[name])
		}
	}
	for _, name := range []string{"nginx", "rabbitmq"} {
		if img := p.Services[name].Image; !pinnedImage.MatchString(img) {
			t.Errorf("service %s image %q is not pinned to an x.y.z tag", name, img)
		}
	}
	if !strings.Contains(p.Services["rabbitmq"].Image, "management") {
		t.Errorf("rabbitmq image %q lacks the management UI", p.Services["rabbitmq"].Image)
	}
}

// TestComposeHealthAndOrder: every service has a healthcheck; the replicas
// start once RabbitMQ is healthy and nginx once both replicas are.
func TestComposeHealthAndOrder(t *testing.T) {
	p := loadProject(t)
	for name, s := range p.Services {
		if hc := s.HealthCheck; hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Interval == nil || hc.Retries == nil {
			t.Errorf("service %s: missing or incomplete healthcheck %+v", name, hc)
		}
	}
	for _, name := range replicas {
		checkDependsOn(t, p.Services[name], map[string]string{"rabbitmq": types.ServiceConditionHealthy})
		// ready means a live broker connection, not only a live process
		if hc := p.Services[name].HealthCheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "/readyz") {
			t.Errorf("service %s: healthcheck %v does not probe /readyz", name, hc.Test)
		}
	}
	checkDependsOn(t, p.Services["nginx"], map[string]string{
		"chatrelay1": types.ServiceConditionHealthy,
		"chatrelay2": types.ServiceConditionHealthy,
	})
	if deps := p.Services["rabbitmq"].DependsOn; len(deps) != 0 {
		t.Errorf("rabbitmq depends on %v", deps)
	}
}

func checkDependsOn(t *testing.T, s types.ServiceConfig, want map[string]string) {
	t.Helper()
	if len(s.DependsOn) != len(want) {
		t.Errorf("service %s depends on %v, want %v", s.Name, s.DependsOn, want)
	}
	for dep, cond := range want {
		d, ok := s.DependsOn[dep]
		if !ok || d.Condition != cond {
			t.Errorf("service %s: depends_on %s = %+v, want condition %s", s.Name, dep, d, cond)
		}
	}
}

// TestComposeReplicas: the replicas are built from docker/Dockerfile and
// relay to the compose RabbitMQ with their own user and vhost.
func TestComposeReplicas(t *testing.T) {
	p := loadProject(t)
	root := testkit.RepoRoot(t)
	for _, name := range replicas {
		s := p.Services[name]
		if s.Build == nil {
			t.Errorf("service %s is not built", name)
			continue
		}
		if s.Build.Context != root {
			t.Errorf("service %s: build context %s, want the repository root %s", name, s.Build.Context, root)
		}
		dockerfile := s.Build.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(s.Build.Context, dockerfile)
		}
		if dockerfile != filepath.Join(root, "docker", "Dockerfile") {
			t.Errorf("service %s: Dockerfile %s, want docker/Dockerfile", name, dockerfile)
		}
		if _, err := os.Stat(dockerfile); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		wantEnv := map[string]string{
			"CHATRELAY_BROKER_MODE":           "rabbitmq",
			"CHATRELAY_BROKER_ADDRESSES":      "rabbitmq:61613",
			"CHATRELAY_BROKER_AMQP_ADDRESSES": "rabbitmq:5672",
			"CHATRELAY_HTTP_ADDR":             ":8080",
		}
		for k, v := range wantEnv {
			if got := env(s, k); got != v {
				t.Errorf("service %s: %s=%q, want %q", name, k, got, v)
			}
		}
		if login := env(s, "CHATRELAY_BROKER_LOGIN"); login == "" || login == "guest" {
			t.Errorf("service %s: broker login %q, want a dedicated user", name, login)
		}
		if vhost := env(s, "CHATRELAY_BROKER_VHOST"); vhost == "" || vhost == "/" {
			t.Errorf("service %s: broker vhost %q, want a dedicated vhost", name, vhost)
		}
	}
	// the replicas differ in nothing but their names
	a, b := p.Services[replicas[0]], p.Services[replicas[1]]
	for k, v := range a.Environment {
		if w := b.Environment[k]; (v == nil) != (w == nil) || (v != nil && *v != *w) {
			t.Errorf("replicas differ in %s", k)
		}
	}
}

// TestComposeMounts: every bind-mounted file exists, and each lands where
// its consumer reads it.
func TestComposeMounts(t *testing.T) {
	p := loadProject(t)
	root := testkit.RepoRoot(t)
	targets := map[string]string{} // repository-relative source → target
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			st, err := os.Stat(v.Source)
			if err != nil {
				t.Errorf("service %s mounts %s: %v", name, v.Source, err)
				continue
			}
			if st.IsDir() {
				t.Errorf("service %s mounts directory %s; only files are expected", name, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("service %s mounts %s writable", name, v.Source)
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s mounts %s from outside the repository", name, v.Source)
				continue
			}
			targets[filepath.ToSlash(rel)] = v.Target
		}
	}
	want := map[string]string{
		"rabbitmq/enabled_plugins":  "/etc/rabbitmq/enabled_plugins",
		"rabbitmq/definitions.json": "/etc/rabbitmq/definitions.json",
		"docker/nginx.conf":         "/etc/nginx/nginx.conf",
	}
	for src, dst := range want {
		if targets[src] != dst {
			t.Errorf("%s is mounted at %q, want %q", src, targets[src], dst)
		}
	}
	// rabbitmq.conf goes into conf.d after the image's 10-defaults.conf,
	// which would otherwise turn loopback_users.guest off again
	conf := targets["rabbitmq/rabbitmq.conf"]
	if path.Dir(conf) != "/etc/rabbitmq/conf.d" || path.Base(conf) <= "10-defaults.conf" || !strings.HasSuffix(conf, ".conf") {
		t.Errorf("rabbitmq/rabbitmq.conf is mounted at %q, want /etc/rabbitmq/conf.d/NN-name.conf sorting after 10-defaults.conf", conf)
	}
	settings := rabbittest.ConfigSettings(repoFile(t, "rabbitmq/rabbitmq.conf"))
	if got := settings["load_definitions"]; got != targets["rabbitmq/definitions.json"] {
		t.Errorf("rabbitmq.conf load_definitions = %q, but definitions.json is mounted at %q", got, targets["rabbitmq/definitions.json"])
	}
	// data outlives the container
	var data bool
	for _, v := range p.Services["rabbitmq"].Volumes {
		data = data || (v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/rabbitmq")
	}
	if !data {
		t.Error("rabbitmq has no named volume at /var/lib/rabbitmq: rooms would not survive a re-creation")
	}
}

// TestComposeMatchesBrokerFiles: the replicas' broker settings agree with
// rabbitmq.conf (ports, vhost) and definitions.json (user, password).
func TestComposeMatchesBrokerFiles(t *testing.T) {
	u := composeBrokerUser(t)
	settings := rabbittest.ConfigSettings(repoFile(t, "rabbitmq/rabbitmq.conf"))
	wantConf := map[string]string{
		"listeners.tcp.default": "5672",
		"stomp.listeners.tcp.1": "61613",
		"web_stomp.tcp.port":    "15674",
		"management.tcp.port":   "15672",
		"web_stomp.ws_frame":    "binary",
		"loopback_users.guest":  "true",
		"stomp.default_vhost":   u.VHost,
	}
	for k, v := range wantConf {
		if settings[k] != v {
			t.Errorf("rabbitmq.conf: %s = %q, want %q", k, settings[k], v)
		}
	}
	defs := readDefinitions(t)
	user, ok := defs.user(u.Login)
	if !ok {
		t.Fatalf("definitions.json has no user %q (compose CHATRELAY_BROKER_LOGIN)", u.Login)
	}
	if !rabbittest.CheckPasswordHash(user.PasswordHash, u.Passcode) {
		t.Errorf("definitions.json: the password hash of %q does not match compose's CHATRELAY_BROKER_PASSCODE", u.Login)
	}
	if !defs.hasVHost(u.VHost) {
		t.Errorf("definitions.json has no vhost %q", u.VHost)
	}
	plugins := repoFile(t, "rabbitmq/enabled_plugins")
	for _, plugin := range []string{"rabbitmq_management", "rabbitmq_stomp", "rabbitmq_web_stomp"} {
		if !strings.Contains(plugins, plugin) {
			t.Errorf("rabbitmq/enabled_plugins lacks %s", plugin)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(plugins), "].") {
		t.Errorf("rabbitmq/enabled_plugins is not an Erlang list term: %q", plugins)
	}
}

// TestComposeMatchesNginx: nginx balances over exactly the replica
// services, on the port their CHATRELAY_HTTP_ADDR names.
func TestComposeMatchesNginx(t *testing.T) {
	conf := repoFile(t, "docker/nginx.conf")
	servers := regexp.MustCompile(`(?m)^\s*server\s+([^\s;{]+)[^;{]*;`).FindAllStringSubmatch(conf, -1)
	seen := map[string]int{}
	for _, m := range servers {
		seen[m[1]]++
	}
	for _, name := range replicas {
		if seen[name+":8080"] != 2 {
			t.Errorf("nginx.conf names %s:8080 %d times, want twice (plain and SockJS upstreams)", name, seen[name+":8080"])
		}
	}
	if len(seen) != len(replicas) {
		t.Errorf("nginx.conf upstream servers %v, want only %v on port 8080", seen, replicas)
	}
	if n := strings.Count(conf, "listen 8080;"); n != 1 {
		t.Errorf(`nginx.conf has %d "listen 8080;" lines, want 1`, n)
	}
}

// TestComposeEnvironmentLoads: every CHATRELAY_* variable compose.yaml
// gives the replicas names a key of config.yaml, and the image's
// config.yaml with that environment yields the intended settings.
func TestComposeEnvironmentLoads(t *testing.T) {
	cfg := loadServiceConfig(t, "compose.yaml", loadProject(t).Services["chatrelay1"])
	u := composeBrokerUser(t)
	if cfg.Broker.Mode != config.BrokerRabbitMQ ||
		!slices.Equal(cfg.Broker.Addresses, []string{"rabbitmq:61613"}) ||
		!slices.Equal(cfg.Broker.AMQPAddresses, []string{"rabbitmq:5672"}) ||
		cfg.Broker.Login != u.Login || cfg.Broker.Passcode != u.Passcode || cfg.Broker.VHost != u.VHost {
		t.Errorf("broker settings %+v", cfg.Broker)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.HTTP.APIKey != "" {
		t.Errorf("http settings %+v", cfg.HTTP)
	}
	if cfg.Limits.MaxConnectionsPerAddress < 1000 {
		t.Errorf("limits.max_connections_per_address %d: behind nginx every client has nginx's address", cfg.Limits.MaxConnectionsPerAddress)
	}
}

// loadServiceConfig checks that every CHATRELAY_* variable the compose
// file gives service s names a key of config.yaml, then loads config.yaml
// with that environment (for the rest of the test) as the image does.
func loadServiceConfig(t *testing.T, file string, s types.ServiceConfig) config.Config {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(repoFile(t, "config.yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			keys[strings.ToUpper(prefix+k)] = true
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+"_", sub)
			}
		}
	}
	walk("", doc)
	for k, v := range s.Environment {
		name, ok := strings.CutPrefix(k, "CHATRELAY_")
		if !ok {
			continue
		}
		if !keys[name] {
			t.Errorf("%s sets %s, which names no key of config.yaml", file, k)
		}
		val := ""
		if v != nil {
			val = *v
		}
		t.Setenv(k, val)
	}
	cfg, err := config.Load(filepath.Join(testkit.RepoRoot(t), "config.yaml"))
	if err != nil {
		t.Fatalf("config.yaml with the environment %s gives %s: %v", file, s.Name, err)
	}
	return cfg
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
