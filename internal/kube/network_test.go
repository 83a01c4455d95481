package kube

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// affinity is ingress-nginx's session affinity annotation.
const affinity = "nginx.ingress.kubernetes.io/affinity"

// Namespaces allowed to reach the replicas.
const (
	ingressNamespace    = "ingress-nginx"
	monitoringNamespace = "monitoring"
)

// policyFor returns the NetworkPolicy selecting the chatrelay pods.
func policyFor(t testing.TB, m *manifest) *networkingv1.NetworkPolicy {
	t.Helper()
	d, _ := chatrelayDeployment(t, m)
	var found *networkingv1.NetworkPolicy
	for _, np := range m.NetworkPolicies {
		if ps, err := m.selected(&np.Spec.PodSelector); err == nil && slices.ContainsFunc(ps, func(p pods) bool { return p.owner == "Deployment "+d.Name }) {
			if found != nil {
				t.Fatalf("NetworkPolicies %s and %s both select the replicas: their rules add up", found.Name, np.Name)
			}
			found = np
		}
	}
	if found == nil {
		t.Fatal("no NetworkPolicy selects the replicas: every pod may reach them")
	}
	return found
}

// TestNetworkPolicyReplicas: only the ingress controller's namespace and
// the monitoring namespace reach the replicas, and only on the http port
// (which carries /metrics: the monitoring rule is the /metrics rule).
func TestNetworkPolicyReplicas(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			np := policyFor(t, m)
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				t.Fatalf("policyTypes %v: no Ingress, so nothing is denied", np.Spec.PolicyTypes)
			}
			from := map[string]bool{}
			for i, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("rule %d admits every source", i)
				}
				if len(rule.Ports) == 0 {
					t.Errorf("rule %d admits every port", i)
				}
				for _, p := range rule.Ports {
					if p.Port == nil || p.Port.String() != "http" || p.EndPort != nil {
						t.Errorf("rule %d: port %v, want only http", i, p.Port)
					}
				}
				for _, peer := range rule.From {
					ns := ""
					if peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchExpressions) == 0 {
						ns = peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					}
					if peer.IPBlock != nil || (ns != ingressNamespace && ns != monitoringNamespace) || len(peer.NamespaceSelector.MatchLabels) != 1 {
						t.Errorf("rule %d: peer %+v is neither namespace %s nor %s", i, peer, ingressNamespace, monitoringNamespace)
						continue
					}
					from[ns] = true
				}
			}
			for _, ns := range []string{ingressNamespace, monitoringNamespace} {
				if !from[ns] {
					t.Errorf("namespace %s cannot reach the replicas", ns)
				}
			}
		})
	}
}

// TestNetworkPolicyBroker: the RabbitMQ pods admit the replicas on the
// STOMP and AMQP ports they are configured with, and no source on every
// port but their own nodes.
func TestNetworkPolicyBroker(t *testing.T) {
	m := load(t, "production")
	cfg := effectiveConfig(t, m)
	d, _ := chatrelayDeployment(t, m)
	var np *networkingv1.NetworkPolicy
	for _, p := range m.NetworkPolicies {
		if p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == m.RabbitmqClusters[0].Name {
			np = p
		}
	}
	if np == nil {
		t.Fatal("no NetworkPolicy selects the RabbitMQ pods")
	}
	want := map[string]bool{}
	for _, a := range append(slices.Clone(cfg.Broker.Addresses), cfg.Broker.AMQPAddresses...) {
		want[port(t, a)] = true
	}
	for _, rule := range np.Spec.Ingress {
		relay := false
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil {
				s := labels.SelectorFromSet(peer.PodSelector.MatchLabels)
				if s.Matches(labels.Set(d.Spec.Template.Labels)) {
					relay = true
				} else if peer.PodSelector.MatchLabels["app.kubernetes.io/name"] != m.RabbitmqClusters[0].Name {
					t.Errorf("peer %v is neither the replicas nor the RabbitMQ nodes", peer.PodSelector.MatchLabels)
				}
				continue
			}
			if len(rule.Ports) == 0 {
				t.Errorf("peer %+v may reach every port", peer)
			}
		}
		if relay {
			for _, p := range rule.Ports {
				if p.Port != nil {
					delete(want, strconv.Itoa(p.Port.IntValue()))
				}
			}
		}
	}
	for p := range want {
		t.Errorf("the replicas may not reach the broker's port %s", p)
	}
}

// TestIngressRoutes: WebSocket paths get an hour's timeouts (docker/
// nginx.conf's), SockJS a Service with cookie affinity, /metrics, /healthz
// and /readyz are refused at the ingress, and production serves TLS.
func TestIngressRoutes(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			routed := map[string]*networkingv1.Ingress{}
			for _, ing := range m.Ingresses {
				if c := ing.Spec.IngressClassName; c == nil || *c != "nginx" {
					t.Errorf("Ingress %s: ingressClassName %v, want nginx (the annotations are ingress-nginx's)", ing.Name, c)
				}
				for _, r := range ing.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						routed[p.Path] = ing
					}
					if o == "production" && (r.Host == "" || !slices.ContainsFunc(ing.Spec.TLS, func(tls networkingv1.IngressTLS) bool { return slices.Contains(tls.Hosts, r.Host) })) {
						t.Errorf("Ingress %s: host %q without TLS in production", ing.Name, r.Host)
					}
				}
			}
			for _, path := range []string{"/ws", "/ws-stomp"} {
				ing := routed[path]
				if ing == nil {
					t.Errorf("no Ingress routes %s", path)
					continue
				}
				for _, a := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
					if s, _ := strconv.Atoi(ing.Annotations["nginx.ingress.kubernetes.io/"+a]); s < 3600 {
						t.Errorf("Ingress %s (%s): %s %ds, want an hour at least", ing.Name, path, a, s)
					}
				}
			}
			if ing := routed["/ws-stomp"]; ing != nil && ing.Annotations[affinity] != "cookie" {
				t.Errorf("Ingress %s: SockJS without session affinity", ing.Name)
			}
			// ingress-nginx keeps affinity per backend Service: a Service
			// behind both a sticky and a plain Ingress would be one or the other.
			sticky := map[string]bool{}
			for _, ing := range m.Ingresses {
				for _, b := range ingressBackends(ing) {
					if s, seen := sticky[b.Name]; seen && s != (ing.Annotations[affinity] != "") {
						t.Errorf("Service %s is behind Ingresses with and without affinity", b.Name)
					}
					sticky[b.Name] = ing.Annotations[affinity] != ""
				}
			}
			for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
				ing := routed[path]
				if ing == nil {
					t.Errorf("%s is not routed to a refusing Ingress: the / prefix would serve it publicly", path)
					continue
				}
				deny := strings.Split(ing.Annotations["nginx.ingress.kubernetes.io/denylist-source-range"], ",")
				if !slices.Contains(deny, "0.0.0.0/0") || !slices.Contains(deny, "::/0") {
					t.Errorf("Ingress %s (%s): denylist-source-range %v, want 0.0.0.0/0 and ::/0", ing.Name, path, deny)
				}
				for _, r := range ing.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						if p.PathType == nil || *p.PathType != networkingv1.PathTypeExact {
							t.Errorf("Ingress %s: path %s is not Exact: it would refuse more than it should", ing.Name, p.Path)
						}
					}
				}
			}
		})
	}
}
