package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one run, as chatbench prints it and writes it
// as JSON.
type Report struct {
	Tool            string    `json:"tool"`
	Label           string    `json:"label,omitempty"`
	Mode            Mode      `json:"mode"`
	RunID           string    `json:"run_id"`
	Started         time.Time `json:"started"`
	URLs            []string  `json:"urls"`
	Clients         int       `json:"clients"`
	Rooms           int       `json:"rooms"`
	Senders         int       `json:"senders"`
	MessageBytes    int       `json:"message_bytes"`
	Idle            bool      `json:"idle"`
	Rates           []float64 `json:"rates,omitempty"`
	WarmupSeconds   float64   `json:"warmup_seconds"`
	DurationSeconds float64   `json:"duration_seconds"`
	P99LimitMs      float64   `json:"p99_limit_ms"`

	Connect ConnectReport `json:"connect"`
	Steps   []StepReport  `json:"steps,omitempty"`
	// MaxSustainedRate is the highest offered rate of a sustained step
	// (every message delivered once, p99 within the limit); 0 if none.
	MaxSustainedRate float64 `json:"max_sustained_rate"`
	// MaxSustainedDeliveredPerSec is that step's delivered messages/s.
	MaxSustainedDeliveredPerSec float64      `json:"max_sustained_delivered_per_sec"`
	Warmup                      WarmupReport `json:"warmup"`
	Errors                      ErrorReport  `json:"errors"`
	Drops                       int64        `json:"drops"`
	Reconnects                  int64        `json:"reconnects"`
	// OtherMessages counts MESSAGEs without a benchmark marker (presence
	// announcements, say).
	OtherMessages int64 `json:"other_messages"`
	// JoinDeliveries counts the MESSAGEs without a marker that reached
	// the clients by the end of the settle after connecting: what the
	// clients' joins cost in deliveries (ENTER announcements), to be
	// compared with the clients (O(members)) and their square.
	JoinDeliveries int64 `json:"join_deliveries"`

	RSS []RSSReport `json:"rss,omitempty"`
	// RSSDeltaKB sums every pid's growth from before connecting to
	// connected; RSSPerConnBytes divides it by the connected clients.
	RSSDeltaKB      int64   `json:"rss_delta_kb"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	// BrokerRSSDeltaKB is the same growth for the broker pids.
	BrokerRSSDeltaKB int64         `json:"broker_rss_delta_kb"`
	Broker           *BrokerReport `json:"broker,omitempty"`
	// JoinStorm is a join storm's outcome (Config.JoinStorm); its OK
	// decides the report's.
	JoinStorm *JoinStormReport `json:"join_storm,omitempty"`
	// RoomsScale is a rooms-at-scale run's creation phase and broker
	// readings (Config.RoomsScale); its OK is part of the report's.
	RoomsScale *RoomsScaleReport `json:"rooms_scale,omitempty"`
	// Reads is a reads run's totals and check (Config.Reads); its OK is
	// part of the report's.
	Reads *ReadsReport `json:"reads,omitempty"`
	// OK: every client connected and stayed, no error of any kind, and
	// every measured message was delivered exactly once.
	OK bool `json:"ok"`
}

// ConnectReport describes the connection phase.
type ConnectReport struct {
	Connected int64   `json:"connected"`
	Failed    int64   `json:"failed"`
	Seconds   float64 `json:"seconds"`
	// PerSecond is the connect rate achieved: connections made over the
	// whole ramp, from the first dial to the last setup's end (each
	// connection counted once its CONNECT and SUBSCRIBE were receipted).
	PerSecond float64 `json:"per_second"`
	// SourceAddrs is how many client source addresses were rotated over
	// (0: the kernel picked).
	SourceAddrs int `json:"source_addrs,omitempty"`
}

// newConnectReport describes a ramp that made connected of total
// connections in d.
func newConnectReport(connected, total int64, d time.Duration) ConnectReport {
	c := ConnectReport{Connected: connected, Failed: total - connected, Seconds: d.Seconds()}
	if d > 0 {
		c.PerSecond = float64(connected) / d.Seconds()
	}
	return c
}

// StepReport is one rate step's measured phase. Expected is the sum over
// sent messages of their room's members when sent; Delivered counts first
// receipts only, Duplicates the rest.
type StepReport struct {
	Rate            float64 `json:"rate"`
	SendSeconds     float64 `json:"send_seconds"`
	DeliverySeconds float64 `json:"delivery_seconds"`
	Sent            int64   `json:"sent"`
	Skipped         int64   `json:"skipped"`
	SendErrors      int64   `json:"send_errors"`
	Expected        int64   `json:"expected"`
	Delivered       int64   `json:"delivered"`
	Lost            int64   `json:"lost"`
	Duplicates      int64   `json:"duplicates"`
	Reordered       int64   `json:"reordered"`
	SentPerSec      float64 `json:"sent_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`
	Latency         Latency `json:"latency"`
	SendLagMax      float64 `json:"send_lag_max_ms"`
	// ServerCPU and BrokerCPU are the CPU the -pid and -broker-pid
	// processes used in the measured phase, in cores (CPU seconds per
	// second), ToolCPU this load tool's (read with them); 0 when not read.
	ServerCPU float64 `json:"server_cpu,omitempty"`
	BrokerCPU float64 `json:"broker_cpu,omitempty"`
	ToolCPU   float64 `json:"tool_cpu,omitempty"`
	// Activity is a reads run's read and typing traffic in the measured
	// phase (Config.Reads).
	Activity *StepActivity `json:"activity,omitempty"`
	// Errors counts errors of every kind and drops that happened from
	// the step's warm-up to the end of its drain.
	Errors int64 `json:"errors"`
	// Sustained: every message delivered exactly once, nothing skipped,
	// no error during the step, p99 within the limit.
	Sustained bool `json:"sustained"`
}

// WarmupReport counts the unmeasured messages.
type WarmupReport struct {
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Skipped   int64 `json:"skipped"`
}

// ErrorReport counts errors by kind and keeps the first few messages.
type ErrorReport struct {
	ErrorFrames   int64    `json:"error_frames"`
	SocketErrors  int64    `json:"socket_errors"`
	ConnectErrors int64    `json:"connect_errors"`
	SendErrors    int64    `json:"send_errors"`
	HandlerErrors int64    `json:"handler_errors"`
	Samples       []string `json:"samples,omitempty"`
}

// Total is the number of errors of every kind.
func (e ErrorReport) Total() int64 {
	return e.ErrorFrames + e.SocketErrors + e.ConnectErrors + e.SendErrors + e.HandlerErrors
}

// RSSReport is one server process's resident memory in KiB.
type RSSReport struct {
	Pid         int   `json:"pid"`
	BeforeKB    int64 `json:"before_kb"`
	ConnectedKB int64 `json:"connected_kb"`
	EndKB       int64 `json:"end_kb"`
	PeakKB      int64 `json:"peak_kb"`
	// Broker marks a broker process (-broker-pid), not in RSSPerConnBytes.
	Broker bool `json:"broker,omitempty"`
}

// BrokerReport is RabbitMQ's object totals before and after connecting.
type BrokerReport struct {
	Before    map[string]int64 `json:"before"`
	Connected map[string]int64 `json:"connected"`
	Delta     map[string]int64 `json:"delta"`
}

// newReport starts a report from the run's configuration.
func newReport(cfg *Config) *Report {
	rep := &Report{
		Tool: "chatbench", Label: cfg.Label, Mode: cfg.Mode, RunID: cfg.RunID, Started: time.Now().UTC(),
		URLs: cfg.URLs, Clients: cfg.Clients, Rooms: cfg.Rooms, Senders: cfg.Senders,
		MessageBytes: cfg.MessageBytes, Idle: cfg.Idle,
		WarmupSeconds: cfg.Warmup.Seconds(), DurationSeconds: cfg.Duration.Seconds(),
		P99LimitMs: ms(cfg.P99Limit),
	}
	if !cfg.Idle {
		rep.Rates = cfg.Rates
	}
	return rep
}

// finish fills the report from the run's counters and probes.
func (rep *Report) finish(r *runner, rss *rssProbe, before, connected map[string]int64) {
	for i := 0; i < r.ran; i++ {
		s := r.steps[i].summary(r.cfg.P99Limit)
		rep.Steps = append(rep.Steps, s)
		if s.Sustained && s.Rate > rep.MaxSustainedRate {
			rep.MaxSustainedRate, rep.MaxSustainedDeliveredPerSec = s.Rate, s.DeliveredPerSec
		}
	}
	rep.Warmup = WarmupReport{Sent: r.warmSent.Load(), Delivered: r.warmDelivered.Load(), Skipped: r.skipped.Load()}
	r.samplesMu.Lock()
	rep.Errors = ErrorReport{
		ErrorFrames: r.errorFrames.Load(), SocketErrors: r.socketErrors.Load(), ConnectErrors: r.connectErrors.Load(),
		SendErrors: r.sendErrors.Load(), HandlerErrors: r.handlerErrors.Load(),
		Samples: append([]string(nil), r.samples...),
	}
	r.samplesMu.Unlock()
	rep.Drops, rep.Reconnects, rep.OtherMessages = r.drops.Load(), r.reconnects.Load(), r.other.Load()
	servers := 0
	for j, pid := range rss.pids {
		kb := rss.kb[j]
		rep.RSS = append(rep.RSS, RSSReport{Pid: pid, BeforeKB: kb[0], ConnectedKB: kb[1], EndKB: kb[2], PeakKB: rss.hwm[j], Broker: rss.broker[j]})
		if kb[0] < 0 || kb[1] < 0 {
			continue
		}
		if rss.broker[j] {
			rep.BrokerRSSDeltaKB += kb[1] - kb[0]
		} else {
			rep.RSSDeltaKB += kb[1] - kb[0]
			servers++
		}
	}
	if rep.Connect.Connected > 0 && servers > 0 {
		rep.RSSPerConnBytes = float64(rep.RSSDeltaKB*1024) / float64(rep.Connect.Connected)
	}
	if before != nil || connected != nil {
		b := &BrokerReport{Before: before, Connected: connected, Delta: map[string]int64{}}
		for k, v := range connected {
			b.Delta[k] = v - before[k]
		}
		rep.Broker = b
	}
	// steps a sweep did not reach (or the message bound cut) do not count
	rep.OK = rep.Connect.Failed == 0 && rep.Errors.Total() == 0 && rep.Drops == 0
	if !rep.Idle {
		rep.OK = rep.OK && len(rep.Steps) > 0
		for _, s := range rep.Steps {
			rep.OK = rep.OK && s.Sent > 0 && s.Lost == 0 && s.Duplicates == 0 && s.Skipped == 0 && s.SendErrors == 0
		}
	}
	if rs := rep.RoomsScale; rs != nil {
		rs.judge(r.probeErrors.Load())
		rep.OK = rep.OK && rs.OK
	}
	if r.cfg.Reads {
		rep.OK = rep.OK && rep.Reads != nil && rep.Reads.OK
	}
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rep, nil
}

// name is the run's name in tables: its label, or its run id.
func (rep *Report) name() string {
	if rep.Label != "" {
		return rep.Label
	}
	return rep.RunID
}

// sourceNote says where the clients dialled from.
func sourceNote(n int) string {
	if n == 0 {
		return "kernel-chosen source address"
	}
	return fmt.Sprintf("%d source addresses", n)
}

// WriteTable prints the report for people.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	label := ""
	if rep.Label != "" {
		label = "  label=" + rep.Label
	}
	fmt.Fprintf(tw, "chatbench\tmode=%s%s  clients=%d rooms=%d senders=%d  urls=%s\n",
		rep.Mode, label, rep.Clients, rep.Rooms, rep.Senders, strings.Join(rep.URLs, ","))
	fmt.Fprintf(tw, "connect\t%d/%d in %.1fs = %.0f/s (%d failed; %s)\n", rep.Connect.Connected, rep.Clients, rep.Connect.Seconds,
		rep.Connect.PerSecond, rep.Connect.Failed, sourceNote(rep.Connect.SourceAddrs))
	if rep.JoinStorm == nil {
		fmt.Fprintf(tw, "joins\t%d deliveries caused by joins (%.1f per client)\n", rep.JoinDeliveries, float64(rep.JoinDeliveries)/float64(max(rep.Clients, 1)))
	}
	tw.Flush()
	if len(rep.Steps) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "rate/s\tsent\tskipped\texpected\tdelivered\tlost\tdup\tdelivered/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsend lag ms\terrors\tsustained\t")
		for _, s := range rep.Steps {
			fmt.Fprintf(tw, "%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%v\t\n",
				s.Rate, s.Sent, s.Skipped+s.SendErrors, s.Expected, s.Delivered, s.Lost, s.Duplicates, s.DeliveredPerSec,
				s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, s.SendLagMax, s.Errors, s.Sustained)
		}
		tw.Flush()
		if err := writeStepCosts(w, rep.Steps); err != nil {
			return err
		}
	}
	if rep.Reads != nil {
		if err := rep.Reads.writeTable(w); err != nil {
			return err
		}
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	e := rep.Errors
	fmt.Fprintf(tw, "errors\terror-frames=%d socket=%d connect=%d send=%d handler=%d  drops=%d reconnects=%d other-messages=%d\n",
		e.ErrorFrames, e.SocketErrors, e.ConnectErrors, e.SendErrors, e.HandlerErrors, rep.Drops, rep.Reconnects, rep.OtherMessages)
	for _, s := range e.Samples {
		fmt.Fprintf(tw, "\t%s\n", s)
	}
	for _, p := range rep.RSS {
		what := "rss"
		if p.Broker {
			what = "broker rss"
		}
		fmt.Fprintf(tw, "%s\tpid %d: %d kB before, %d kB connected, %d kB end, %d kB peak\n", what, p.Pid, p.BeforeKB, p.ConnectedKB, p.EndKB, p.PeakKB)
	}
	if len(rep.RSS) > 0 {
		fmt.Fprintf(tw, "memory\tservers %+d kB for %d connections: %.0f bytes/connection; brokers %+d kB\n",
			rep.RSSDeltaKB, rep.Connect.Connected, rep.RSSPerConnBytes, rep.BrokerRSSDeltaKB)
	}
	if b := rep.Broker; b != nil {
		fmt.Fprintf(tw, "broker\t%s\n", brokerLine(b))
	}
	if rep.JoinStorm != nil {
		tw.Flush()
		if err := rep.JoinStorm.writeTable(w); err != nil {
			return err
		}
	} else if !rep.Idle {
		if rep.RoomsScale != nil {
			tw.Flush()
			if err := rep.RoomsScale.writeTable(w); err != nil {
				return err
			}
		}
		fmt.Fprintf(tw, "sustained\tmax %.0f msgs/s in (%.0f delivered/s) with p99 <= %.0f ms\n",
			rep.MaxSustainedRate, rep.MaxSustainedDeliveredPerSec, rep.P99LimitMs)
	}
	fmt.Fprintf(tw, "result\t%s\n", map[bool]string{true: "OK", false: "NOT OK"}[rep.OK])
	return tw.Flush()
}

// brokerLine prints object totals as "connections 2→22 (+20) ...".
func brokerLine(b *BrokerReport) string {
	keys := []string{"connections", "channels", "queues", "consumers"}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d→%d (%+d)", k, b.Before[k], b.Connected[k], b.Delta[k]))
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown prints reports as one markdown table: a row per step, or
// one per idle run; join storms get a table of their own.
func WriteMarkdown(w io.Writer, all []*Report) error {
	var b strings.Builder
	var reports, storms []*Report
	for _, rep := range all {
		if rep.JoinStorm != nil {
			storms = append(storms, rep)
		} else {
			reports = append(reports, rep)
		}
	}
	if len(reports) > 0 {
		writeRuns(&b, reports)
	}
	writeJoinStorms(&b, storms)
	var scaled []*Report
	for _, rep := range reports {
		if rep.RoomsScale != nil {
			scaled = append(scaled, rep)
		}
	}
	writeRoomsScale(&b, scaled)
	writeCosts(&b, reports)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRuns writes the rows of runs with rate steps or idle holds, and
// their ratios.
func writeRuns(b *strings.Builder, reports []*Report) {
	b.WriteString("| run | mode | clients | rooms | rate in/s | sent | expected | delivered | lost | dup | delivered/s | p50 ms | p90 ms | p99 ms | max ms | errors | drops | RSS/conn | broker RSS Δ | broker connections / queues / consumers (Δ) | ok |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, rep := range reports {
		mem, bmem := "-", "-"
		for _, p := range rep.RSS {
			if p.Broker {
				bmem = fmt.Sprintf("%+.1f MiB", float64(rep.BrokerRSSDeltaKB)/1024)
			} else {
				mem = fmt.Sprintf("%.1f KiB", rep.RSSPerConnBytes/1024)
			}
		}
		broker := "-"
		if rep.Broker != nil {
			c, d := rep.Broker.Connected, rep.Broker.Delta
			broker = fmt.Sprintf("%d (%+d) / %d (%+d) / %d (%+d)", c["connections"], d["connections"],
				c["queues"], d["queues"], c["consumers"], d["consumers"])
		}
		ok := map[bool]string{true: "yes", false: "**no**"}[rep.OK]
		name := rep.name()
		errs := rep.Errors.Total() + rep.Connect.Failed
		if len(rep.Steps) == 0 {
			fmt.Fprintf(b, "| %s | %s | %d | %d | idle | | | | | | | | | | | %d | %d | %s | %s | %s | %s |\n",
				name, rep.Mode, rep.Connect.Connected, rep.Rooms, errs, rep.Drops, mem, bmem, broker, ok)
			continue
		}
		for _, s := range rep.Steps {
			fmt.Fprintf(b, "| %s | %s | %d | %d | %.0f | %d | %d | %d | %d | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %d | %d | %s | %s | %s | %s |\n",
				name, rep.Mode, rep.Connect.Connected, rep.Rooms, s.Rate, s.Sent, s.Expected, s.Delivered, s.Lost, s.Duplicates,
				s.DeliveredPerSec, s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, errs, rep.Drops, mem, bmem, broker,
				map[bool]string{true: "yes", false: "**no**"}[s.Sustained && rep.Connect.Failed == 0])
		}
	}
	writeRatios(b, reports)
}

// writeRatios adds, for each scenario (the label up to its first '-')
// with a chatrelay run and a rate sweep, how chatrelay's highest sustained
// delivered messages/s compares with the other modes' in the same run.
func writeRatios(b *strings.Builder, reports []*Report) {
	var scenarios []string
	by := map[string][]*Report{}
	for _, rep := range reports {
		if rep.Idle || rep.Label == "" {
			continue
		}
		sc, _, _ := strings.Cut(rep.Label, "-")
		if by[sc] == nil {
			scenarios = append(scenarios, sc)
		}
		by[sc] = append(by[sc], rep)
	}
	header := false
	for _, sc := range scenarios {
		var relay *Report
		for _, rep := range by[sc] {
			if rep.Mode == ModeChatrelay {
				relay = rep
			}
		}
		if relay == nil {
			continue
		}
		for _, rep := range by[sc] {
			if rep.Mode == relay.Mode {
				continue // (r): two chatrelay runs, compared step by step instead
			}
			if !header {
				b.WriteString("\n| scenario | chatrelay max sustained in/s (delivered/s) | vs | its max sustained in/s (delivered/s) | chatrelay ÷ it (delivered/s) |\n|---|--:|---|--:|--:|\n")
				header = true
			}
			ratio := "-"
			if rep.MaxSustainedDeliveredPerSec > 0 {
				ratio = fmt.Sprintf("%.2f", relay.MaxSustainedDeliveredPerSec/rep.MaxSustainedDeliveredPerSec)
			}
			fmt.Fprintf(b, "| %s | %s (%.0f) | %s | %s (%.0f) | %s |\n", sc, sustainedRate(relay), relay.MaxSustainedDeliveredPerSec,
				rep.Mode, sustainedRate(rep), rep.MaxSustainedDeliveredPerSec, ratio)
		}
	}
	if header {
		b.WriteString("\n≥: the highest rate tried was sustained, so the limit is higher (add rates to the sweep); a ratio involving one is a bound, not a measurement.\n")
	}
}

// sustainedRate prints a report's highest sustained rate, marked "≥"
// when it is the highest rate the run tried.
func sustainedRate(rep *Report) string {
	top := 0.0
	for _, r := range rep.Rates {
		top = max(top, r)
	}
	if rep.MaxSustainedRate > 0 && rep.MaxSustainedRate >= top {
		return fmt.Sprintf("≥%.0f", rep.MaxSustainedRate)
	}
	return fmt.Sprintf("%.0f", rep.MaxSustainedRate)
}
