package kube

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"chatrelay/internal/config"
	"chatrelay/internal/testkit"
)

// externalValue stands in for a Secret created outside the build: long
// enough for every check config.Load makes (auth.jwt.secret: 32 bytes).
const externalValue = "external-secret-value-stands-in-for-the-real-one"

// containerEnv returns the replicas' environment as the kubelet would set
// it: the ConfigMaps of envFrom, then env (which wins), Secrets read from
// the build or stood in for by externalValue. Field references are left out.
func containerEnv(t testing.TB, m *manifest) map[string]string {
	t.Helper()
	_, c := chatrelayDeployment(t, m)
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps are expected", ef)
		}
		cm := m.configMap(ef.ConfigMapRef.Name)
		if cm == nil {
			t.Fatalf("envFrom: no ConfigMap %s", ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = externalValue
			for _, s := range m.Secrets {
				if r := e.ValueFrom.SecretKeyRef; s.Name == r.Name {
					env[e.Name] = string(s.Data[r.Key]) + s.StringData[r.Key]
				}
			}
		}
	}
	return env
}

// effectiveConfig loads config.yaml with the replicas' environment, as the
// image does (chatrelay -config /etc/chatrelay/config.yaml), for the rest
// of the test. It fails when the settings do not validate.
func effectiveConfig(t *testing.T, m *manifest) config.Config {
	t.Helper()
	clearChatrelayEnv(t)
	for k, v := range containerEnv(t, m) {
		if strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, v)
		}
	}
	cfg, err := config.Load(filepath.Join(testkit.RepoRoot(t), "config.yaml"))
	if err != nil {
		t.Fatalf("config.yaml with the manifests' environment: %v", err)
	}
	return cfg
}

// clearChatrelayEnv empties any CHATRELAY_* variable of the test's own
// environment (viper takes an empty one as unset).
func clearChatrelayEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

// defaultConfig is config.yaml alone.
func defaultConfig(t *testing.T) config.Config {
	t.Helper()
	clearChatrelayEnv(t)
	cfg, err := config.Load(filepath.Join(testkit.RepoRoot(t), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// configEnvNames lists the variable of every key config.yaml shows
// (CHATRELAY_AUTH_JWT_SECRET for auth.jwt.secret).
func configEnvNames(t testing.TB) map[string]bool {
	t.Helper()
	var doc map[string]any
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "config.yaml"))
	if err == nil {
		err = yaml.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		names[prefix] = true
		if sub, ok := v.(map[string]any); ok {
			for k, v := range sub {
				walk(prefix+"_"+strings.ToUpper(k), v)
			}
		}
	}
	walk(config.EnvPrefix, doc)
	return names
}

// port returns the port of host:port.
func port(t testing.TB, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnvironmentMatchesConfig: every CHATRELAY_* variable names a key of
// config.yaml, the settings validate, compose.yaml's variables are all set
// here too, and the container port is http.addr's, which is config.yaml's
// default (the image's HEALTHCHECK assumes it).
func TestEnvironmentMatchesConfig(t *testing.T) {
	keys := configEnvNames(t)
	def := defaultConfig(t)
	composeEnv := composeReplicaEnv(t)
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			env := containerEnv(t, m)
			for k := range env {
				if strings.HasPrefix(k, config.EnvPrefix+"_") && !keys[k] {
					t.Errorf("%s names no key of config.yaml: it would be ignored", k)
				}
			}
			for _, k := range composeEnv {
				if _, ok := env[k]; !ok {
					t.Errorf("compose.yaml sets %s for the replicas; the manifests do not", k)
				}
			}
			cfg := effectiveConfig(t, m)
			_, c := chatrelayDeployment(t, m)
			want := port(t, def.HTTP.Addr)
			if got := port(t, cfg.HTTP.Addr); got != want {
				t.Errorf("http.addr port %s, config.yaml's default %s", got, want)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].Protocol != "TCP" {
				t.Fatalf("container ports %+v, want the one TCP port http", c.Ports)
			}
			if got := c.Ports[0].ContainerPort; want != strconv.Itoa(int(got)) {
				t.Errorf("containerPort %d, http.addr port %s", got, want)
			}
			if cfg.Broker.Mode != "rabbitmq" {
				t.Errorf("broker.mode %q, want rabbitmq", cfg.Broker.Mode)
			}
			if o == "production" && cfg.Auth.Mode == "none" {
				t.Error("production runs auth.mode none: anyone may claim any name")
			}
		})
	}
}

// composeReplicaEnv lists the CHATRELAY_* variables compose.yaml gives the
// replicas (its x-chatrelay block).
func composeReplicaEnv(t testing.TB) []string {
	t.Helper()
	var doc struct {
		X struct {
			Environment map[string]any `yaml:"environment"`
		} `yaml:"x-chatrelay"`
	}
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "compose.yaml"))
	if err == nil {
		err = yaml.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range doc.X.Environment {
		names = append(names, k)
	}
	if len(names) == 0 {
		t.Fatal("compose.yaml: no x-chatrelay environment")
	}
	slices.Sort(names)
	return names
}
