package stack

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// compose.cluster.yaml is compose.yaml with the single broker replaced by
// a 3-node RabbitMQ cluster. Docker is not needed: the tests load the file
// with compose-go and check it against compose.yaml, rabbitmq/cluster.conf
// and config.yaml.

// clusterFile is the cluster recipe's compose file.
const clusterFile = "compose.cluster.yaml"

// rabbitNodes are the RabbitMQ services of compose.cluster.yaml.
var rabbitNodes = []string{"rabbit1", "rabbit2", "rabbit3"}

// TestComposeClusterServices: the services, their images (those of
// compose.yaml), host names, published ports and the shared Erlang cookie.
func TestComposeClusterServices(t *testing.T) {
	p := loadCompose(t, clusterFile)
	single := loadProject(t)
	want := append(append([]string{"nginx"}, rabbitNodes...), replicas...)
	sort.Strings(want)
	if got := sortedCopy(p.ServiceNames()); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	wantPorts := map[string]string{"nginx": "8080->8080", "rabbit1": "15672->15672", "rabbit2": "15673->15672", "rabbit3": "15674->15672"}
	for name, s := range p.Services {
		var got []string
		for _, port := range s.Ports {
			got = append(got, port.Published+"->"+strconv.FormatUint(uint64(port.Target), 10))
			if name != "nginx" && port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s on %q, want the loopback interface only", name, port.Published, port.HostIP)
			}
		}
		if w := wantPorts[name]; (w == "" && len(got) != 0) || (w != "" && !slices.Equal(got, []string{w})) {
			t.Errorf("service %s publishes %v, want %q", name, got, w)
		}
	}
	var cookie string
	for _, name := range rabbitNodes {
		s := p.Services[name]
		if s.Image != single.Services["rabbitmq"].Image {
			t.Errorf("service %s image %q, compose.yaml's rabbitmq has %q", name, s.Image, single.Services["rabbitmq"].Image)
		}
		if s.Hostname != name {
			t.Errorf("service %s hostname %q: the node name rabbit@HOST must be the one cluster.conf lists", name, s.Hostname)
		}
		c := env(s, "RABBITMQ_ERLANG_COOKIE")
		if c == "" || (cookie != "" && c != cookie) {
			t.Errorf("service %s Erlang cookie %q: every node needs the same, non-empty one", name, c)
		}
		cookie = c
	}
	if p.Services["nginx"].Image != single.Services["nginx"].Image {
		t.Errorf("nginx image %q, compose.yaml has %q", p.Services["nginx"].Image, single.Services["nginx"].Image)
	}
}

// TestComposeClusterHealthAndOrder: every service has a healthcheck; the
// nodes boot in parallel (a node restarted alone must not wait for
// another); the replicas start once every node is healthy, nginx once
// both replicas are.
func TestComposeClusterHealthAndOrder(t *testing.T) {
	p := loadCompose(t, clusterFile)
	for name, s := range p.Services {
		if hc := s.HealthCheck; hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Interval == nil || hc.Retries == nil {
			t.Errorf("service %s: missing or incomplete healthcheck %+v", name, hc)
		}
	}
	nodesHealthy := map[string]string{}
	for _, name := range rabbitNodes {
		nodesHealthy[name] = types.ServiceConditionHealthy
		if deps := p.Services[name].DependsOn; len(deps) != 0 {
			t.Errorf("service %s depends on %v; the nodes boot in parallel", name, deps)
		}
		// health is the node's own: one node down must leave the
		// others healthy
		if hc := p.Services[name].HealthCheck; hc != nil && strings.Contains(strings.Join(hc.Test, " "), "await_online_nodes") {
			t.Errorf("service %s: healthcheck %v depends on the other nodes", name, hc.Test)
		}
	}
	for _, name := range replicas {
		checkDependsOn(t, p.Services[name], nodesHealthy)
		if hc := p.Services[name].HealthCheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "/readyz") {
			t.Errorf("service %s: healthcheck %v does not probe /readyz", name, hc.Test)
		}
	}
	checkDependsOn(t, p.Services["nginx"], map[string]string{
		"chatrelay1": types.ServiceConditionHealthy,
		"chatrelay2": types.ServiceConditionHealthy,
	})
}

// TestComposeClusterReplicas: each replica lists every node, in the same
// order, for STOMP and for AMQP, loads as a valid configuration, and
// otherwise has the settings compose.yaml gives its replicas (build,
// broker user, vhost).
func TestComposeClusterReplicas(t *testing.T) {
	p := loadCompose(t, clusterFile)
	single := loadProject(t)
	var stompAddrs, amqpAddrs []string
	for _, name := range rabbitNodes {
		stompAddrs = append(stompAddrs, name+":61613")
		amqpAddrs = append(amqpAddrs, name+":5672")
	}
	differ := []string{"CHATRELAY_BROKER_ADDRESSES", "CHATRELAY_BROKER_AMQP_ADDRESSES", "CHATRELAY_ROOMS_HISTORY_REPLICAS"}
	for _, name := range replicas {
		s, one := p.Services[name], single.Services[name]
		t.Run(name, func(t *testing.T) {
			cfg := loadServiceConfig(t, clusterFile, s)
			if !slices.Equal(cfg.Broker.Addresses, stompAddrs) {
				t.Errorf("broker.addresses %v, want every node: %v", cfg.Broker.Addresses, stompAddrs)
			}
			if !slices.Equal(cfg.Broker.AMQPAddresses, amqpAddrs) {
				t.Errorf("broker.amqp_addresses %v, want every node: %v", cfg.Broker.AMQPAddresses, amqpAddrs)
			}
			if cfg.Rooms.History.Replicas < 0 || cfg.Rooms.History.Replicas > len(rabbitNodes) {
				t.Errorf("rooms.history.replicas %d on a cluster of %d", cfg.Rooms.History.Replicas, len(rabbitNodes))
			}
			for k, v := range one.Environment {
				if slices.Contains(differ, k) {
					continue
				}
				if w, ok := s.Environment[k]; !ok || (v == nil) != (w == nil) || (v != nil && *v != *w) {
					t.Errorf("%s differs from compose.yaml's %s", k, name)
				}
			}
			for k := range s.Environment {
				if _, ok := one.Environment[k]; !ok && !slices.Contains(differ, k) {
					t.Errorf("%s is not in compose.yaml's %s", k, name)
				}
			}
			if s.Build == nil || one.Build == nil || s.Build.Context != one.Build.Context || s.Build.Dockerfile != one.Build.Dockerfile || s.Image != one.Image {
				t.Errorf("build %+v image %q, compose.yaml has %+v %q", s.Build, s.Image, one.Build, one.Image)
			}
		})
	}
}

// TestComposeClusterMounts: every bind-mounted file exists and is read
// only; each node mounts the broker files of compose.yaml where compose.yaml
// does, plus cluster.conf into conf.d after rabbitmq.conf, and keeps its
// data in a volume of its own.
func TestComposeClusterMounts(t *testing.T) {
	p := loadCompose(t, clusterFile)
	root := testkit.RepoRoot(t)
	// where compose.yaml mounts each file
	singleTargets := map[string]string{}
	for _, s := range loadProject(t).Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				rel, _ := filepath.Rel(root, v.Source)
				singleTargets[filepath.ToSlash(rel)] = v.Target
			}
		}
	}
	dataVolumes := map[string]string{} // volume → node
	for name, s := range p.Services {
		targets := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/rabbitmq" {
				if other, ok := dataVolumes[v.Source]; ok {
					t.Errorf("services %s and %s share data volume %s", name, other, v.Source)
				}
				dataVolumes[v.Source] = name
				continue
			}
			if v.Type != types.VolumeTypeBind {
				continue
			}
			st, err := os.Stat(v.Source)
			if err != nil {
				t.Errorf("service %s mounts %s: %v", name, v.Source, err)
				continue
			}
			if st.IsDir() || !v.ReadOnly {
				t.Errorf("service %s mounts %s (directory %v, read-only %v); want read-only files", name, v.Source, st.IsDir(), v.ReadOnly)
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s mounts %s from outside the repository", name, v.Source)
				continue
			}
			targets[filepath.ToSlash(rel)] = v.Target
		}
		if !slices.Contains(rabbitNodes, name) {
			continue
		}
		for _, src := range []string{"rabbitmq/enabled_plugins", "rabbitmq/rabbitmq.conf", "rabbitmq/definitions.json"} {
			if targets[src] == "" || targets[src] != singleTargets[src] {
				t.Errorf("service %s mounts %s at %q; compose.yaml mounts it at %q", name, src, targets[src], singleTargets[src])
			}
		}
		conf, own := targets["rabbitmq/cluster.conf"], targets["rabbitmq/rabbitmq.conf"]
		if path.Dir(conf) != "/etc/rabbitmq/conf.d" || !strings.HasSuffix(conf, ".conf") || path.Base(conf) <= path.Base(own) {
			t.Errorf("service %s mounts rabbitmq/cluster.conf at %q, want /etc/rabbitmq/conf.d/NN-name.conf after %s", name, conf, own)
		}
	}
	if len(dataVolumes) != len(rabbitNodes) {
		t.Errorf("data volumes %v, want one per node %v", dataVolumes, rabbitNodes)
	}
	if got := p.Services["nginx"].Volumes; len(got) != 1 || got[0].Source != filepath.Join(root, "docker", "nginx.conf") || got[0].Target != singleTargets["docker/nginx.conf"] {
		t.Errorf("nginx mounts %+v", got)
	}
}

// TestClusterConf: rabbitmq/cluster.conf parses as rabbitmq.conf does,
// lists exactly the compose nodes (rabbit@HOSTNAME) for classic_config peer
// discovery, pauses a minority on a partition, and sets nothing
// rabbitmq.conf sets (it is read after it and would win).
func TestClusterConf(t *testing.T) {
	p := loadCompose(t, clusterFile)
	settings := rabbittest.ConfigSettings(repoFile(t, "rabbitmq/cluster.conf"))
	if got := settings["cluster_formation.peer_discovery_backend"]; got != "classic_config" {
		t.Errorf("cluster_formation.peer_discovery_backend = %q, want classic_config", got)
	}
	if got := settings["cluster_partition_handling"]; got != "pause_minority" {
		t.Errorf("cluster_partition_handling = %q, want pause_minority", got)
	}
	var listed, want []string
	for k, v := range settings {
		if strings.HasPrefix(k, "cluster_formation.classic_config.nodes.") {
			listed = append(listed, v)
		}
	}
	for _, name := range rabbitNodes {
		want = append(want, "rabbit@"+p.Services[name].Hostname)
	}
	if !slices.Equal(sortedCopy(listed), sortedCopy(want)) {
		t.Errorf("cluster.conf lists nodes %v, want %v", listed, want)
	}
	if len(settings) != 2+len(want) {
		t.Errorf("cluster.conf sets %d keys (%v), want peer discovery and partition handling only", len(settings), settings)
	}
	shared := rabbittest.ConfigSettings(repoFile(t, "rabbitmq/rabbitmq.conf"))
	for k := range settings {
		if _, ok := shared[k]; ok {
			t.Errorf("cluster.conf sets %s, which rabbitmq.conf sets too", k)
		}
	}
}
