package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestCrossReferencesCatchMutations: each broken reference, made on a
// fresh copy of the production build in memory, makes checkRefs fail.
func TestCrossReferencesCatchMutations(t *testing.T) {
	external := externalSecrets(t)
	mutations := map[string]func(m *manifest){
		"Service selector": func(m *manifest) {
			m.Services[0].Spec.Selector["app.kubernetes.io/name"] = "chatrelay-typo"
		},
		"Service targetPort": func(m *manifest) {
			m.Services[0].Spec.Ports[0].TargetPort = intstr.FromString("web")
		},
		"pod template label": func(m *manifest) {
			m.Deployments[0].Spec.Template.Labels["app.kubernetes.io/component"] = "other"
		},
		"container port name": func(m *manifest) {
			m.Deployments[0].Spec.Template.Spec.Containers[0].Ports[0].Name = "web"
		},
		"secretKeyRef name": func(m *manifest) {
			envRef(t, m, "CHATRELAY_BROKER_PASSCODE").Name = "chatrelay-brokr"
		},
		"secretKeyRef key": func(m *manifest) {
			envRef(t, m, "CHATRELAY_AUTH_JWT_SECRET").Key = "jwt"
		},
		"configMapRef name": func(m *manifest) {
			m.Deployments[0].Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name = "chatrelay-env"
		},
		"service account": func(m *manifest) {
			m.Deployments[0].Spec.Template.Spec.ServiceAccountName = "default-sa"
		},
		"Ingress backend Service": func(m *manifest) {
			m.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "chatrelay-web"
		},
		"Ingress backend port": func(m *manifest) {
			m.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "web"
		},
		"Ingress TLS Secret": func(m *manifest) {
			m.Ingresses[0].Spec.TLS[0].SecretName = "chatrelay-cert"
		},
		"PodDisruptionBudget selector": func(m *manifest) {
			m.PDBs[0].Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "chatrelay-typo"
		},
		"HorizontalPodAutoscaler target": func(m *manifest) {
			m.HPAs[0].Spec.ScaleTargetRef.Name = "chat-relay"
		},
		"NetworkPolicy podSelector": func(m *manifest) {
			for _, np := range m.NetworkPolicies {
				np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] += "-typo"
			}
		},
		"NetworkPolicy port": func(m *manifest) {
			p := intstr.FromString("metrics")
			m.NetworkPolicies[0].Spec.Ingress[0].Ports[0].Port = &p
		},
		"RabbitMQ User Secret": func(m *manifest) {
			m.Users[0].Spec.ImportCredentialsSecret.Name = "chatrelay-rabbit"
		},
		"RabbitMQ cluster reference": func(m *manifest) {
			m.Permissions[0].Spec.RabbitmqClusterReference.Name = "rabbitmq"
		},
		"RabbitMQ permission vhost": func(m *manifest) {
			m.Permissions[0].Spec.Vhost = "/"
		},
		"RabbitMQ permission user": func(m *manifest) {
			m.Permissions[0].Spec.UserReference.Name = "relay"
		},
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			m := load(t, "production")
			if errs := checkRefs(m, external); len(errs) != 0 {
				t.Fatalf("unmutated build fails: %v", errs)
			}
			mutate(m)
			errs := checkRefs(m, external)
			if len(errs) == 0 {
				t.Fatal("the mutation went unnoticed")
			}
			t.Logf("caught: %v", errs[0])
		})
	}
}
