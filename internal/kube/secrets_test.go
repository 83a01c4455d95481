package kube

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// externalRow is a row of the "Secrets" table in deploy/kubernetes/README.md:
// | `name` | `key`, `key` | ...
var externalRow = regexp.MustCompile("^\\|\\s*`([a-z0-9.-]+)`\\s*\\|\\s*((?:`[^`]+`(?:,\\s*)?)+)\\s*\\|")

// externalSecrets reads the Secrets created outside the build, with their
// keys, from the table under "## Secrets" in deploy/kubernetes/README.md.
func externalSecrets(t testing.TB) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(kustomizeDir(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Secrets"
			continue
		}
		if !in {
			continue
		}
		if sm := externalRow.FindStringSubmatch(line); sm != nil {
			for _, k := range strings.Split(sm[2], ",") {
				out[sm[1]] = append(out[sm[1]], strings.Trim(strings.TrimSpace(k), "`"))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("deploy/kubernetes/README.md: no Secrets table under \"## Secrets\"")
	}
	return out
}

// TestProductionSecretsAreExternal: production generates no Secret (no
// password is in the repository), and every Secret it uses is documented.
// The dev overlay generates the same Secrets with the documented keys.
func TestProductionSecretsAreExternal(t *testing.T) {
	external := externalSecrets(t)
	prod := load(t, "production")
	for _, s := range prod.Secrets {
		t.Errorf("production builds Secret %s: production Secrets are created outside the repository", s.Name)
	}
	dev := load(t, "dev")
	for _, s := range dev.Secrets {
		want, ok := external[s.Name]
		if !ok {
			t.Errorf("dev Secret %s is not documented in deploy/kubernetes/README.md", s.Name)
			continue
		}
		keys, _ := dev.secretKeys(s.Name, nil)
		for _, k := range want {
			if !strings.Contains(" "+strings.Join(keys, " ")+" ", " "+k+" ") {
				t.Errorf("dev Secret %s lacks the documented key %s", s.Name, k)
			}
		}
	}
}

// TestCrossReferences: every name one object gives another resolves.
func TestCrossReferences(t *testing.T) {
	external := externalSecrets(t)
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			for _, err := range checkRefs(load(t, o), external) {
				t.Error(err)
			}
		})
	}
}
