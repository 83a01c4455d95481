package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// roomTimeout bounds room creation and the wait until every replica
// knows every room.
const roomTimeout = 60 * time.Second

// httpClient is used for the REST and management APIs.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// setupRooms names the run's rooms; in chatrelay mode it creates them
// through the REST API and waits until every target replica knows them.
func (r *runner) setupRooms(ctx context.Context) error {
	cfg := &r.cfg
	r.rooms = make([]*room, cfg.Rooms)
	for i := range r.rooms {
		id := "cb" + cfg.RunID + "r" + strconv.Itoa(i)
		rm := &room{index: i, id: id, dest: "/topic/room." + id}
		if cfg.Mode == ModeWebSTOMP {
			rm.dest = "/topic/chatbench." + cfg.RunID + "." + id
		}
		r.rooms[i] = rm
	}
	if cfg.Mode != ModeChatrelay {
		return nil
	}
	api := cfg.API
	if api == "" {
		api = HTTPBase(cfg.URLs[0])
	}
	ctx, cancel := context.WithTimeout(ctx, roomTimeout)
	defer cancel()
	begin := time.Now()
	errs := make(chan error, len(r.rooms))
	forEachRoom(r.rooms, func(rm *room) {
		name := "chatbench-" + cfg.RunID + "-" + strconv.Itoa(rm.index)
		var id string
		var err error
		if cfg.Reads {
			rm.owner = memberLogin(cfg, rm.index)
			id, err = CreatePrivateRoom(ctx, api, cfg.APIKey, name, rm.owner, r.members(rm))
		} else {
			id, err = CreateRoom(ctx, api, cfg.APIKey, name)
		}
		if err != nil {
			errs <- err
			return
		}
		rm.id, rm.dest = id, "/topic/room."+id
		rm.readDest, rm.typingDest = "/app/rooms/"+id+"/read", "/app/rooms/"+id+"/typing"
	})
	close(errs)
	r.created = true // the ones that were created are deleted at the end
	if err := <-errs; err != nil {
		r.deleteRooms()
		return err
	}
	if err := r.waitVisible(ctx, r.rooms); err != nil {
		return err
	}
	r.logf("%d rooms created and visible on the replica(s) in %.1fs", len(r.rooms), time.Since(begin).Seconds())
	return nil
}

// waitVisible waits until every target replica knows every room.
func (r *runner) waitVisible(ctx context.Context, rooms []*room) error {
	seen := map[string]bool{}
	for _, u := range r.cfg.URLs {
		base := HTTPBase(u)
		if seen[base] {
			continue
		}
		seen[base] = true
		for _, rm := range rooms {
			if err := waitRoom(ctx, base, rm.id, roomAuth(r.cfg.APIKey, rm.owner)); err != nil {
				return err
			}
		}
	}
	return nil
}

// HTTPBase turns a WebSocket endpoint (ws://host:port/ws) into the base
// HTTP URL of the same server (http://host:port).
func HTTPBase(wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		return wsURL
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + u.Host
}

// CreateRoom creates a public room through chatrelay's REST API, with
// the API key when key is not "", and returns its id.
func CreateRoom(ctx context.Context, api, key, name string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	return postRoom(ctx, api, roomAuth(key, ""), name, body)
}

// CreatePrivateRoom creates a private room owned by owner with members
// through chatrelay's REST API and returns its id: with the API key
// naming the owner when key is not "", else as the owner (HTTP Basic
// with an empty passcode, which auth.mode none accepts; the per-address
// creation limits then apply).
func CreatePrivateRoom(ctx context.Context, api, key, name, owner string, members []string) (string, error) {
	req := map[string]any{"name": name, "private": true, "members": members}
	if key != "" {
		req["owner"] = owner
	}
	body, _ := json.Marshal(req)
	return postRoom(ctx, api, roomAuth(key, owner), name, body)
}

// roomAuth is the Authorization header a run's room requests carry: the
// API key when there is one, else HTTP Basic as the room's owner (when
// the room has one, a private room), else none.
func roomAuth(key, owner string) string {
	switch {
	case key != "":
		return "Bearer " + key
	case owner != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(owner+":"))
	}
	return ""
}

// postRoom sends POST /api/rooms with body and auth (the Authorization
// header, when not "") and returns the new room's id.
func postRoom(ctx context.Context, api, auth, name string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/api/rooms", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create room %s: %w", name, err)
	}
	defer resp.Body.Close()
	var out struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated || out.ID == "" {
		return "", fmt.Errorf("create room %s: HTTP %d %s", name, resp.StatusCode, out.Error)
	}
	return out.ID, nil
}

// waitRoom polls GET /api/rooms/{id} on one replica until it answers 200;
// auth, when not "", is the Authorization header (a private room answers
// its owner, members and the API key only).
func waitRoom(ctx context.Context, base, id, auth string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/rooms/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("room %s never visible on %s (last: %s): %w", id, base, last, ctx.Err())
		case <-t.C:
		}
	}
}

// deleteRooms deletes the rooms a chatrelay run created (unless
// KeepRooms), so benchmark streams do not pile up in RabbitMQ; failures
// are noted, never fatal.
func (r *runner) deleteRooms() {
	if r.cfg.Mode != ModeChatrelay || r.cfg.KeepRooms || !r.created {
		return
	}
	if r.cfg.APIKey == "" {
		r.logf("rooms not deleted: deleting takes the API key (-api-key)")
		return
	}
	api := r.cfg.API
	if api == "" {
		api = HTTPBase(r.cfg.URLs[0])
	}
	rooms := r.rooms
	if r.allRooms != nil {
		rooms = r.allRooms
	}
	// deleting a room deletes its stream: 100,000 rooms take many minutes
	ctx, cancel := context.WithTimeout(context.Background(), roomTimeout+time.Duration(len(rooms))*20*time.Millisecond)
	defer cancel()
	var left atomic.Int64
	forEachRoom(rooms, func(rm *room) {
		if ctx.Err() != nil {
			left.Add(1) // counted once below, not one line per room
			return
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(api, "/")+"/api/rooms/"+url.PathEscape(rm.id), nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
		resp, err := httpClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				left.Add(1)
				return
			}
			r.logf("delete room %s: %v", rm.id, err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
			r.logf("delete room %s: HTTP %d", rm.id, resp.StatusCode)
		}
	})
	if n := left.Load(); n > 0 {
		r.logf("%d of %d rooms not deleted: %v", n, len(rooms), ctx.Err())
	}
}

// maxPrivateMembers bounds the members of a private room besides its
// owner (rooms.MaxMembers on the server).
const maxPrivateMembers = 1000

// members lists the logins of rm's clients but the first (its owner in a
// reads run): clients i with i % Rooms == rm.index.
func (r *runner) members(rm *room) []string {
	var out []string
	for i := rm.index + len(r.rooms); i < r.cfg.Clients; i += len(r.rooms) {
		out = append(out, memberLogin(&r.cfg, i))
	}
	return out
}

// roomsInFlight bounds the REST requests setupRooms and deleteRooms have
// in flight at once.
const roomsInFlight = 8

// forEachRoom runs fn for every room, at most roomsInFlight at once, and
// returns when every call has returned.
func forEachRoom(rooms []*room, fn func(rm *room)) {
	forEachRoomN(rooms, roomsInFlight, fn)
}

// brokerTotals reads RabbitMQ's object totals (connections, channels,
// queues, consumers, exchanges) from the management API; nil when no
// management URL is configured or it fails (the failure is noted).
func (r *runner) brokerTotals(ctx context.Context, phase string) map[string]int64 {
	if r.cfg.Mgmt == "" {
		return nil
	}
	totals, err := ObjectTotals(ctx, r.cfg.Mgmt, r.cfg.MgmtUser, r.cfg.MgmtPass)
	if err != nil {
		r.note("mgmt", fmt.Errorf("%s: %w", phase, err))
		return nil
	}
	return totals
}

// ObjectTotals GETs /api/overview and returns its object_totals.
func ObjectTotals(ctx context.Context, base, user, pass string) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/overview", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, pass)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("management overview: HTTP %d", resp.StatusCode)
	}
	var out struct {
		ObjectTotals map[string]int64 `json:"object_totals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.ObjectTotals, nil
}

// rssProbe reads the resident set size of server processes at three
// moments: before connecting, connected (after settling) and at the end.
type rssProbe struct {
	pids   []int
	broker []bool     // per pid: a broker process, reported apart
	kb     [][3]int64 // per pid, per moment; -1 when unreadable
	hwm    []int64
}

// newRSSProbe returns a probe for server and broker pids.
func newRSSProbe(pids, brokerPids []int) *rssProbe {
	p := &rssProbe{}
	for _, pid := range pids {
		p.pids, p.broker = append(p.pids, pid), append(p.broker, false)
	}
	for _, pid := range brokerPids {
		p.pids, p.broker = append(p.pids, pid), append(p.broker, true)
	}
	p.kb = make([][3]int64, len(p.pids))
	p.hwm = make([]int64, len(p.pids))
	return p
}

// read records every pid's VmRSS at moment i (0, 1 or 2).
func (p *rssProbe) read(i int) {
	for j, pid := range p.pids {
		rss, hwm, err := ReadRSS(pid)
		if err != nil {
			p.kb[j][i] = -1
			continue
		}
		p.kb[j][i] = rss
		p.hwm[j] = hwm
	}
}

// ReadRSS returns a process's VmRSS and VmHWM (peak) in KiB from
// /proc/<pid>/status.
func ReadRSS(pid int) (rssKB, hwmKB int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rssKB = -1
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(fields[0], 10, 64)
		if perr != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB = n
		case "VmHWM":
			hwmKB = n
		}
	}
	if rssKB < 0 {
		return 0, 0, fmt.Errorf("pid %d: no VmRSS in /proc status", pid)
	}
	return rssKB, hwmKB, sc.Err()
}

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to the hard limit and,
// when the hard limit is below need, tries to raise it too (which needs
// privilege). It returns the limits in force afterwards.
func RaiseFileLimit(need uint64) (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	want := lim
	if want.Max < need {
		want.Max = need
	}
	want.Cur = want.Max
	if err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil && want.Max != lim.Max {
		want.Max, want.Cur = lim.Max, lim.Max
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	if gerr := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); gerr != nil {
		return 0, 0, gerr
	}
	return lim.Cur, lim.Max, err
}
