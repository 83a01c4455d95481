package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a rooms-at-scale run (Config.RoomsScale), so that a typo
// cannot create millions of rooms or messages.
const (
	// MaxScaleRooms bounds the rooms a run creates.
	MaxScaleRooms = 1_000_000
	// MaxHistoryMessages bounds the messages posted to each history room.
	MaxHistoryMessages = 100
	// MaxCheckpoints bounds the broker readings between rooms.
	MaxCheckpoints = 20
)

// scale is a rooms-at-scale run's creation phase: its counters and
// latency histograms, shared by the creating goroutines.
type scale struct {
	r                     *runner
	created, createErrors atomic.Int64
	posted, postErrors    atomic.Int64
	create, post          Histogram
}

// HasHistory reports whether room i of a rooms-at-scale run gets history
// messages: the rooms where floor((i+1)·fraction) steps up, so that any
// prefix of the rooms holds its fraction of history rooms (0.5: every
// second room).
func HasHistory(i int, fraction float64) bool {
	if fraction <= 0 {
		return false
	}
	if fraction >= 1 {
		return true
	}
	return int(float64(i+1)*fraction) > int(float64(i)*fraction)
}

// ActiveRooms returns the indexes of the active rooms among total: active
// of them spread evenly (j·total/active), so that they are created
// throughout the run rather than all first or last.
func ActiveRooms(total, active int) []int {
	active = min(active, total)
	out := make([]int, active)
	for j := range out {
		out[j] = int(int64(j) * int64(total) / int64(active))
	}
	return out
}

// DefaultCheckpoints are the room counts the broker is read at when none
// are given: every power of ten from 1,000 below total, and total.
func DefaultCheckpoints(total int) []int {
	var cps []int
	for n := 1000; n < total; n *= 10 {
		cps = append(cps, n)
	}
	return append(cps, total)
}

// validateScale reports a rooms-at-scale configuration that cannot run.
func (c *Config) validateScale() error {
	switch {
	case c.Mode != ModeChatrelay:
		return fmt.Errorf("rooms at scale go through chatrelay's API: mode chatrelay, not %s", c.Mode)
	case c.RoomsScale > MaxScaleRooms:
		return fmt.Errorf("%d rooms: at most %d", c.RoomsScale, MaxScaleRooms)
	case c.Rooms > c.RoomsScale:
		return fmt.Errorf("%d active rooms of %d created", c.Rooms, c.RoomsScale)
	case c.HistoryMessages < 0 || c.HistoryMessages > MaxHistoryMessages:
		return fmt.Errorf("%d history messages per room: want 0..%d", c.HistoryMessages, MaxHistoryMessages)
	case c.HistoryFraction < 0 || c.HistoryFraction > 1:
		return fmt.Errorf("history fraction %v: want 0..1", c.HistoryFraction)
	case len(c.Checkpoints) > MaxCheckpoints:
		return fmt.Errorf("%d checkpoints: at most %d", len(c.Checkpoints), MaxCheckpoints)
	case c.ArchiveWait < 0:
		return fmt.Errorf("archive wait %v: want 0 (none) or more", c.ArchiveWait)
	case c.ArchiveMaxStreams < 0:
		return fmt.Errorf("archive bound %d room streams: want 0 (the default) or more", c.ArchiveMaxStreams)
	case c.ArchiveWait > 0 && c.Mgmt == "":
		return errors.New("an archive wait counts room streams through the management API: give -mgmt")
	case c.ArchiveWait == 0 && c.ArchiveMaxStreams > 0:
		return errors.New("an archive bound without an archive wait: give -archive-wait")
	}
	for i, n := range c.Checkpoints {
		if n <= 0 || n > c.RoomsScale || (i > 0 && n <= c.Checkpoints[i-1]) {
			return fmt.Errorf("checkpoints %v: want ascending counts within 1..%d", c.Checkpoints, c.RoomsScale)
		}
	}
	return nil
}

// scaleDefaults fills a rooms-at-scale run's unset fields: the default
// checkpoints, RoomsScale always the last one, 8 creations in flight,
// an archive wait's bound Rooms + ArchiveSlack room streams.
func (c *Config) scaleDefaults() {
	if len(c.Checkpoints) == 0 {
		c.Checkpoints = DefaultCheckpoints(c.RoomsScale)
	}
	if n := len(c.Checkpoints); c.Checkpoints[n-1] < c.RoomsScale {
		c.Checkpoints = append(c.Checkpoints, c.RoomsScale)
	}
	if c.CreateConcurrency <= 0 {
		c.CreateConcurrency = roomsInFlight
	}
	if c.CreateP99 <= 0 {
		c.CreateP99 = 5 * time.Millisecond
	}
	if c.ArchiveWait > 0 && c.ArchiveMaxStreams == 0 {
		c.ArchiveMaxStreams = c.Rooms + ArchiveSlack
	}
}

// scaleRooms is a rooms-at-scale run's setup, in place of setupRooms: it
// creates RoomsScale rooms through the REST API (HistoryMessages pushed
// into the HistoryFraction of them), reads the broker before the first
// and at every checkpoint (with ArchiveWait, once the room streams are
// down to ArchiveMaxStreams or the wait is over), and leaves the Rooms
// active ones in r.rooms (every created one in r.allRooms, deleted at the
// end).
func (r *runner) scaleRooms(ctx context.Context, rep *RoomsScaleReport) error {
	cfg := &r.cfg
	api := cfg.API
	if api == "" {
		api = HTTPBase(cfg.URLs[0])
	}
	all := make([]*room, cfg.RoomsScale)
	for i := range all {
		id := "cb" + cfg.RunID + "r" + strconv.Itoa(i)
		all[i] = &room{index: i, id: id, dest: "/topic/room." + id}
	}
	r.allRooms, r.created = all, true
	s := &scale{r: r}
	base := r.brokerSnapshot(ctx, 0)
	rep.Baseline = base
	r.logf("broker before: %s", base.line())
	begin := time.Now()
	done := 0
	for _, cp := range cfg.Checkpoints {
		forEachRoomPaced(ctx, all[done:cp], cfg.CreateConcurrency, cfg.CreateRate, func(rm *room, due time.Time) { s.createOne(ctx, api, rm, due) })
		if err := ctx.Err(); err != nil {
			return err
		}
		done = cp
		elapsed := time.Since(begin)
		var archive *ArchiveCatchUp
		if cfg.ArchiveWait > 0 {
			a := r.waitArchived(ctx)
			archive = &a
			r.logf("%d rooms: archive wait %s", cp, a)
		}
		snap := r.brokerSnapshot(ctx, cp)
		snap.CreateSeconds = elapsed.Seconds()
		snap.Archive = archive
		rep.Checkpoints = append(rep.Checkpoints, snap)
		r.logf("%d rooms (%d failed) in %.1fs, create p99 %.1f ms; broker %s; per room since start: %s",
			cp, s.createErrors.Load(), elapsed.Seconds(), ms(s.create.Quantile(0.99)), snap.line(), snap.perRoom(base))
	}
	rep.CreateSeconds = time.Since(begin).Seconds()
	s.fill(rep)
	if s.created.Load() == 0 {
		return fmt.Errorf("no room created: %s", strings.Join(r.samples, "; "))
	}
	r.rooms = nil
	for _, i := range ActiveRooms(len(all), cfg.Rooms) {
		if all[i].made { // a room that failed is counted already
			r.rooms = append(r.rooms, all[i])
		}
	}
	if len(r.rooms) < cfg.Rooms {
		r.logf("%d of the %d active rooms were not created: the load runs in %d", cfg.Rooms-len(r.rooms), cfg.Rooms, len(r.rooms))
	}
	ctx, cancel := context.WithTimeout(ctx, roomTimeout)
	defer cancel()
	return r.waitVisible(ctx, r.rooms)
}

// createOne creates one room, timing the request from due (when it was
// meant to start: a paced creation that waited for a free slot counts its
// wait), and pushes its history messages when it is a history room.
func (s *scale) createOne(ctx context.Context, api string, rm *room, due time.Time) {
	cfg := &s.r.cfg
	id, err := CreateRoom(ctx, api, cfg.APIKey, "chatbench-"+cfg.RunID+"-"+strconv.Itoa(rm.index))
	if err != nil {
		if ctx.Err() == nil {
			s.createErrors.Add(1)
			s.r.note("create", err)
		}
		return
	}
	s.create.Record(time.Since(due))
	s.created.Add(1)
	rm.id, rm.dest, rm.made = id, "/topic/room."+id, true
	if !HasHistory(rm.index, cfg.HistoryFraction) {
		return
	}
	for k := 0; k < cfg.HistoryMessages; k++ {
		t0 := time.Now()
		if err := PushMessage(ctx, api, cfg.APIKey, id, fmt.Sprintf("history %d of room %d", k, rm.index)); err != nil {
			if ctx.Err() == nil {
				s.postErrors.Add(1)
				s.r.note("push", err)
			}
			return
		}
		s.post.Record(time.Since(t0))
		s.posted.Add(1)
	}
}

// fill copies the creation phase's counters into the report.
func (s *scale) fill(rep *RoomsScaleReport) {
	rep.Created, rep.CreateErrors = s.created.Load(), s.createErrors.Load()
	rep.Posted, rep.PostErrors = s.posted.Load(), s.postErrors.Load()
	rep.Create, rep.Post = s.create.Summary(), s.post.Summary()
	if rep.CreateSeconds > 0 {
		rep.CreatePerSec = float64(rep.Created) / rep.CreateSeconds
	}
}

// PushMessage posts one TALK message into a room through chatrelay's
// push API (POST /api/rooms/{id}/messages, which takes the API key).
func PushMessage(ctx context.Context, api, key, roomID, text string) error {
	body, _ := json.Marshal(map[string]string{"message": text, "type": "TALK", "sender": "chatbench"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/api/rooms/"+url.PathEscape(roomID)+"/messages", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("push to room %s: %w", roomID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
		var out struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return fmt.Errorf("push to room %s: HTTP %d %s", roomID, resp.StatusCode, out.Error)
	}
	return nil
}

// forEachRoomN runs fn for every room, at most n at once, and returns
// when every call has returned.
func forEachRoomN(rooms []*room, n int, fn func(rm *room)) {
	forEachRoomPaced(context.Background(), rooms, n, 0, func(rm *room, _ time.Time) { fn(rm) })
}

// forEachRoomPaced runs fn for every room, at most n at once, and returns
// when every call has returned. With a positive rate the calls are due on
// an open-loop Schedule of rate per second (fn gets that due time, also
// when it had to wait for one of the n slots); otherwise each starts as
// soon as a slot is free, due when it starts. It stops starting calls
// when ctx ends.
func forEachRoomPaced(ctx context.Context, rooms []*room, n int, rate float64, fn func(rm *room, due time.Time)) {
	sched := Schedule{Start: time.Now(), Rate: rate, Limit: -1}
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for k, rm := range rooms {
		due := time.Now()
		if rate > 0 {
			due = sched.Due(int64(k))
			waitCtx(ctx, time.Until(due))
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		// one goroutine per room in flight (at most n): it owns that
		// room (its id, its requests) until wg.Wait
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(rm, due)
		}()
	}
	wg.Wait()
}
