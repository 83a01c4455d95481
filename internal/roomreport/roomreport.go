// Package roomreport is the operator's view of a deployment's rooms, as
// `chatrelay rooms` prints it: every room with its id, name, RabbitMQ
// stream, members online across replicas and message rate.
//
// Rooms, streams and online counts come from one replica's GET
// /api/admin/rooms (API key). Message rates come from RabbitMQ's
// management API: the message count of each room's stream, sampled twice;
// the replicas themselves only see the rooms they follow. RabbitMQ's own
// rate of a stream's message count (messages_details.rate) stayed 0 on
// RabbitMQ 3.10 while messages arrived, hence the two samples.
package roomreport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"chatrelay/internal/httpapi"
)

// Sources says where a report's data comes from.
type Sources struct {
	// Server is a replica's base URL (http://host:8080); APIKey its
	// http.api_key.
	Server, APIKey string
	// Management is the base URL of RabbitMQ's management API
	// (http://host:15672); empty: no message counts or rates. User and
	// Password log into it; VHost is the replicas' broker.vhost.
	Management, User, Password, VHost string
	// Client makes the requests (default: a client with a 10 s timeout).
	Client *http.Client
}

// Snapshot is what the sources said at one moment.
type Snapshot struct {
	At    time.Time
	Admin httpapi.AdminView
	// Messages is the message count of each stream by name (nil
	// without a management API).
	Messages map[string]int64
}

// Take reads the replica's admin view and, with a management API, the
// message count of every stream of the vhost.
func (s Sources) Take(ctx context.Context) (Snapshot, error) {
	snap := Snapshot{At: time.Now()}
	if err := s.get(ctx, strings.TrimRight(s.Server, "/")+"/api/admin/rooms", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+s.APIKey)
	}, &snap.Admin); err != nil {
		return Snapshot{}, fmt.Errorf("replica: %w", err)
	}
	if s.Management == "" {
		return snap, nil
	}
	vhost := s.VHost
	if vhost == "" {
		vhost = "/"
	}
	var queues []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Messages int64  `json:"messages"`
	}
	u := strings.TrimRight(s.Management, "/") + "/api/queues/" + url.PathEscape(vhost) + "?columns=name,type,messages"
	if err := s.get(ctx, u, func(r *http.Request) { r.SetBasicAuth(s.User, s.Password) }, &queues); err != nil {
		return Snapshot{}, fmt.Errorf("management API: %w", err)
	}
	snap.Messages = make(map[string]int64, len(queues))
	for _, q := range queues {
		if q.Type == "stream" {
			snap.Messages[q.Name] = q.Messages
		}
	}
	return snap, nil
}

// get GETs u, lets auth add credentials, and decodes a 200 answer's JSON
// into out.
func (s Sources) get(ctx context.Context, u string, auth func(*http.Request), out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	auth(req)
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// Row is one room of a report.
type Row struct {
	httpapi.AdminRoom
	// Messages is the stream's message count at the second sample
	// (nil: unknown, no management API or no stream).
	Messages *int64 `json:"messages"`
	// Rate is the messages per second the stream grew by between the
	// samples (nil: unknown, or the stream shrank as retention dropped
	// old segments).
	Rate *float64 `json:"messagesPerSecond"`
}

// Report is a deployment's rooms as `chatrelay rooms` prints them.
type Report struct {
	Replica httpapi.ReplicaView `json:"replica"`
	// Interval is the time between the samples the rates come from.
	Interval time.Duration `json:"-"`
	Rooms    []Row         `json:"rooms"`
}

// Compare builds the report of the rooms in second, with the rates of
// their streams between first and second.
func Compare(first, second Snapshot) Report {
	rep := Report{Replica: second.Admin.Replica, Interval: second.At.Sub(first.At), Rooms: []Row{}}
	secs := rep.Interval.Seconds()
	for _, room := range second.Admin.Rooms {
		row := Row{AdminRoom: room}
		if n, ok := second.Messages[room.Stream]; ok && room.Stream != "" {
			row.Messages = &n
			if m, ok := first.Messages[room.Stream]; ok && n >= m && secs > 0 {
				rate := float64(n-m) / secs
				row.Rate = &rate
			}
		}
		rep.Rooms = append(rep.Rooms, row)
	}
	return rep
}

// Take samples the sources twice, interval apart (bounded by ctx), and
// returns the report.
func Take(ctx context.Context, s Sources, interval time.Duration) (Report, error) {
	first, err := s.Take(ctx)
	if err != nil {
		return Report{}, err
	}
	if s.Management == "" || interval <= 0 {
		return Compare(first, first), nil
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	second, err := s.Take(ctx)
	if err != nil {
		return Report{}, err
	}
	return Compare(first, second), nil
}
