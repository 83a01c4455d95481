package monitoring

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"chatrelay/internal/config"
	"chatrelay/internal/servertest"
	"chatrelay/internal/testkit"
)

// The files under test, relative to the repository's root.
const (
	rulesFile     = "deploy/prometheus/chatrelay-alerts.yaml"
	ruleTestsFile = "deploy/prometheus/chatrelay-alerts.test.yaml"
	dashboardFile = "deploy/grafana/chatrelay-dashboard.json"
)

// rules is the part of a Prometheus rules file the tests read.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTests is the part of a promtool test file the tests read.
type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

// panel is one dashboard panel.
type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readRules(t *testing.T) rules {
	t.Helper()
	var r rules
	if err := yaml.Unmarshal(readFile(t, rulesFile), &r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return r
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(readFile(t, dashboardFile))))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestAlertRules runs promtool on the rules and their unit tests, and
// checks that every alert has a test where it fires.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	testkit.Require(t, testkit.Promtool, err)
	dir := filepath.Join(testkit.RepoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(ruleTestsFile)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	var tests ruleTests
	if err := yaml.Unmarshal(readFile(t, ruleTestsFile), &tests); err != nil {
		t.Fatalf("%s: %v", ruleTestsFile, err)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("alert %s has no promtool test in which it fires", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
			}
		}
	}
}

// TestDashboard checks the dashboard's shape: a uid, a data source and a
// replica variable, unique panel ids on a 24-column grid, and every
// graph querying the chosen replicas, one series per replica.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("dashboard uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Fatalf("template variables %v, want datasource and instance", vars)
	}
	ids := map[int]bool{}
	graphs := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		graphs++
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q query %s: not limited to the chosen replicas", p.Title, q.RefID)
			}
			if p.Type == "timeseries" && !strings.Contains(q.Expr, "by (instance") && !strings.HasPrefix(q.Expr, "chatrelay_") &&
				!strings.HasPrefix(q.Expr, "rate(process_") && !strings.HasPrefix(q.Expr, "process_") && !strings.HasPrefix(q.Expr, "go_") &&
				!strings.Contains(q.Expr, "by (instance, le)") {
				t.Errorf("panel %q query %s: %s keeps no series per replica", p.Title, q.RefID, q.Expr)
			}
		}
	}
	if graphs < 10 {
		t.Errorf("%d graphs, want the dozen of the issue", graphs)
	}
}

// metricName finds the metric names in a PromQL expression: every
// identifier of chatrelay's, the Go runtime's or the process collector's,
// and up.
var metricName = regexp.MustCompile(`\b(chatrelay_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+|up)\b`)

// TestNamedMetricsExist scrapes a replica's /metrics and checks that every
// metric the rules and the dashboard name is one it exports (up is
// Prometheus's own).
func TestNamedMetricsExist(t *testing.T) {
	testkit.SkipShort(t, testkit.Tool{Name: "an in-process replica"})
	cfg := config.Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	r := servertest.Start(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), 15*time.Second)
	resp, err := http.Get(r.HTTP() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	exported := map[string]bool{"up": true}
	for name, f := range families {
		exported[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	if !exported["chatrelay_ready"] || !exported["chatrelay_upstream_up"] {
		t.Fatalf("/metrics lacks chatrelay_ready or chatrelay_upstream_up: %d families", len(families))
	}
	named := map[string][]string{} // metric → where
	for _, g := range readRules(t).Groups {
		for _, rule := range g.Rules {
			for _, m := range metricName.FindAllString(rule.Expr, -1) {
				named[m] = append(named[m], "alert "+rule.Alert)
			}
		}
	}
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			for _, m := range metricName.FindAllString(q.Expr, -1) {
				named[m] = append(named[m], "panel "+p.Title)
			}
		}
	}
	if len(named) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: %v", len(named), named)
	}
	var missing []string
	for m, where := range named {
		if !exported[m] {
			missing = append(missing, m+" ("+strings.Join(slices.Compact(where), ", ")+")")
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("metrics named but not exported by a replica:\n%s", strings.Join(missing, "\n"))
	}
	t.Logf("%d metric names, all exported", len(named))
}
