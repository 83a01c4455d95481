package kube

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"chatrelay/internal/testkit"
)

// rabbitConf parses a RabbitMQ new-style config file: key = value lines.
func rabbitConf(t testing.TB, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not key = value: %q", line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// repoText reads a file of the repository.
func repoText(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// definitions is the part of rabbitmq/definitions.json the operators get.
type definitions struct {
	Vhosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Users []struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	} `json:"users"`
	Permissions []struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	} `json:"permissions"`
}

// operatorSet are rabbitmq.conf keys the Cluster Operator sets itself or
// that do not apply on Kubernetes: listeners (the operator uses the default
// ports, which the test compares below), Web-STOMP (not enabled), and the
// definitions file and loopback_users (users come from the Topology
// Operator; the operator's default user replaces guest).
var operatorSet = regexp.MustCompile(`^(listeners\.|stomp\.listeners\.|management\.tcp\.|web_stomp\.|load_definitions$|loopback_users\.)`)

// TestRabbitmqCluster: three nodes in production, the plugins of
// rabbitmq/enabled_plugins, rabbitmq/rabbitmq.conf's settings (any key
// there is either in additionalConfig with the same value or set by the
// operator), compose.yaml's image, and the ports and host the replicas use.
func TestRabbitmqCluster(t *testing.T) {
	conf := rabbitConf(t, repoText(t, "rabbitmq/rabbitmq.conf"))
	for k, v := range rabbitConf(t, repoText(t, "rabbitmq/cluster.conf")) {
		conf[k] = v
	}
	plugins := strings.Split(strings.Trim(strings.TrimSpace(repoText(t, "rabbitmq/enabled_plugins")), "[]."), ",")
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			if len(m.RabbitmqClusters) != 1 {
				t.Fatalf("%d RabbitmqClusters, want 1", len(m.RabbitmqClusters))
			}
			c := m.RabbitmqClusters[0]
			if r := c.Spec.Replicas; r == nil || (o == "production" && *r != 3) || *r%2 == 0 {
				t.Errorf("replicas %s: want 3 in production, an odd count anyway", deref(r))
			}
			got := c.Spec.Rabbitmq.AdditionalPlugins
			for _, p := range plugins {
				if p = strings.TrimSpace(p); p != "rabbitmq_web_stomp" && !slices.Contains(got, p) {
					t.Errorf("plugin %s of rabbitmq/enabled_plugins is not enabled", p)
				}
			}
			for _, p := range got {
				if !regexp.MustCompile(`^\w+$`).MatchString(p) {
					t.Errorf("plugin %q: the operator's schema wants ^\\w+$", p)
				}
			}
			extra := c.Spec.Rabbitmq.AdditionalConfig
			if len(extra) > 2000 {
				t.Errorf("additionalConfig is %d bytes; the operator's schema allows 2000", len(extra))
			}
			set := rabbitConf(t, extra)
			for k, v := range set {
				if want, ok := conf[k]; !ok || want != v {
					t.Errorf("additionalConfig %s = %s; rabbitmq/ has %q", k, v, want)
				}
			}
			for k := range conf {
				if _, ok := set[k]; !ok && !operatorSet.MatchString(k) && !strings.HasPrefix(k, "cluster_formation.") {
					t.Errorf("rabbitmq/ sets %s; additionalConfig does not", k)
				}
			}
			var compose struct {
				Services map[string]struct {
					Image string `yaml:"image"`
				} `yaml:"services"`
			}
			if err := yaml.Unmarshal([]byte(repoText(t, "compose.yaml")), &compose); err != nil {
				t.Fatal(err)
			}
			if want := compose.Services["rabbitmq"].Image; c.Spec.Image != want {
				t.Errorf("image %q, compose.yaml runs %q", c.Spec.Image, want)
			}

			cfg := effectiveConfig(t, m)
			for _, a := range []struct {
				addrs []string
				key   string
			}{{cfg.Broker.Addresses, "stomp.listeners.tcp.1"}, {cfg.Broker.AMQPAddresses, "listeners.tcp.default"}} {
				if len(a.addrs) == 0 {
					t.Errorf("no broker address for %s", a.key)
				}
				for _, addr := range a.addrs {
					host, p, err := net.SplitHostPort(addr)
					if err != nil || host != c.Name || p != conf[a.key] {
						t.Errorf("broker address %s: want the cluster's Service %s on port %s (%s in rabbitmq.conf)", addr, c.Name, conf[a.key], a.key)
					}
				}
			}
			if v := set["stomp.default_vhost"]; v != cfg.Broker.VHost {
				t.Errorf("stomp.default_vhost %q, the replicas' broker.vhost %q", v, cfg.Broker.VHost)
			}
		})
	}
}

// TestRabbitmqTopology: the Vhost, User and Permission are
// rabbitmq/definitions.json's vhost and least-privilege user, and the user
// is created from the Secret the replicas log in with.
func TestRabbitmqTopology(t *testing.T) {
	var defs definitions
	if err := json.Unmarshal([]byte(repoText(t, "rabbitmq/definitions.json")), &defs); err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			cfg := effectiveConfig(t, m)
			if len(m.Vhosts) != 1 || len(m.Users) != 1 || len(m.Permissions) != 1 {
				t.Fatalf("%d Vhosts, %d Users, %d Permissions: want one each", len(m.Vhosts), len(m.Users), len(m.Permissions))
			}
			v, u, p := m.Vhosts[0], m.Users[0], m.Permissions[0]
			if len(defs.Vhosts) != 1 || v.Spec.Name != defs.Vhosts[0].Name || v.Spec.Name != cfg.Broker.VHost {
				t.Errorf("Vhost %q; definitions.json %v; broker.vhost %q", v.Spec.Name, defs.Vhosts, cfg.Broker.VHost)
			}
			var found bool
			for _, dp := range defs.Permissions {
				if dp.User != cfg.Broker.Login {
					continue
				}
				found = true
				got := p.Spec.Permissions
				if p.Spec.Vhost != dp.Vhost || got.Configure != dp.Configure || got.Write != dp.Write || got.Read != dp.Read {
					t.Errorf("Permission %+v on %s, definitions.json %+v", got, p.Spec.Vhost, dp)
				}
			}
			if !found && o == "dev" {
				t.Errorf("definitions.json has no permissions for the dev broker login %q", cfg.Broker.Login)
			}
			for _, du := range defs.Users {
				if du.Name == "chatrelay" && !slices.Equal(du.Tags, u.Spec.Tags) {
					t.Errorf("User tags %v, definitions.json %v", u.Spec.Tags, du.Tags)
				}
			}
			login, pass := envRef(t, m, "CHATRELAY_BROKER_LOGIN"), envRef(t, m, "CHATRELAY_BROKER_PASSCODE")
			s := u.Spec.ImportCredentialsSecret
			if s == nil || login.Name != s.Name || pass.Name != s.Name || login.Key != "username" || pass.Key != "password" {
				t.Errorf("replicas log in with %s/%s and %s/%s; the User is made from %v", login.Name, login.Key, pass.Name, pass.Key, s)
			}
		})
	}
}
