package kube

import (
	"path/filepath"
	"sync"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"chatrelay/internal/testkit"
)

// overlays are the kustomizations under deploy/kubernetes/overlays.
var overlays = []string{"dev", "production"}

// built caches each overlay's build: its objects as YAML documents.
var built = struct {
	sync.Mutex
	docs map[string][][]byte
}{docs: map[string][][]byte{}}

// kustomizeDir is deploy/kubernetes/<rel> in the repository.
func kustomizeDir(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(testkit.RepoRoot(t), "deploy", "kubernetes", filepath.FromSlash(rel))
}

// build runs kustomize on an overlay (as kubectl apply -k does) and
// returns one YAML document per object, built once per test binary.
func build(t testing.TB, overlay string) [][]byte {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if docs, ok := built.docs[overlay]; ok {
		return docs
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), kustomizeDir(t, "overlays/"+overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	var docs [][]byte
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", overlay, r.CurId(), err)
		}
		docs = append(docs, y)
	}
	built.docs[overlay] = docs
	return docs
}

// load builds an overlay and decodes it strictly into a fresh manifest,
// which a test may change at will.
func load(t testing.TB, overlay string) *manifest {
	t.Helper()
	m, err := decodeAll(build(t, overlay))
	if err != nil {
		t.Fatalf("%s: %v", overlay, err)
	}
	return m
}

// TestOverlaysBuild: both overlays build, every object decodes strictly,
// and each holds the objects the deployment needs.
func TestOverlaysBuild(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			counts := map[string]int{
				"Deployment": len(m.Deployments), "Service": len(m.Services),
				"Ingress": len(m.Ingresses), "NetworkPolicy": len(m.NetworkPolicies),
				"PodDisruptionBudget": len(m.PDBs), "HorizontalPodAutoscaler": len(m.HPAs),
				"ConfigMap": len(m.ConfigMaps), "ServiceAccount": len(m.ServiceAccounts),
				"Namespace": len(m.Namespaces), "RabbitmqCluster": len(m.RabbitmqClusters),
				"Vhost": len(m.Vhosts), "User": len(m.Users), "Permission": len(m.Permissions),
			}
			for kind, n := range counts {
				if n == 0 {
					t.Errorf("no %s in the build", kind)
				}
			}
			ns := m.Namespaces[0].Name
			for _, o := range m.objects {
				if o.kind != "Namespace" && o.namespace != ns {
					t.Errorf("%s %s in namespace %q, want %q", o.kind, o.name, o.namespace, ns)
				}
			}
		})
	}
}
