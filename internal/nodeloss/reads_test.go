package nodeloss

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/readstate"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
)

// restAs sends a JSON request to base as user (HTTP Basic) and decodes
// the answer into out (when not nil); it returns the status.
func restAs(t *testing.T, base, method, path, user string, body, out any) int {
	t.Helper()
	var rd bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = *bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, &rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":")))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// waitPositions waits until the replica at base shows user in room the
// positions want (as readstate.View.Positions).
func waitPositions(t *testing.T, base, user, room string, want map[string]int64, within time.Duration) {
	t.Helper()
	var v readstate.View
	err := rabbittest.WaitFor(within, func() (bool, error) {
		v = readstate.View{}
		if restAs(t, base, "GET", "/api/rooms/"+room+"/reads", user, nil, &v) != http.StatusOK {
			return false, nil
		}
		for u, o := range want {
			if got, ok := v.Positions[u]; !ok || got != o {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("positions at %s: %v, want %v: %v", base, v.Positions, want, err)
	}
}

// TestReadPositionsSurviveNodeLoss stops the node leading the reads
// stream: a position set before is kept, a position set on the other
// replica while the node is down reaches the first replica, and a replica
// started during the outage loads both.
func TestReadPositionsSurviveNodeLoss(t *testing.T) {
	c := rabbittest.RequireCluster(t)
	cfg := clusterConfig(c)
	cfg.Rooms.Reads.Flush = 100 * time.Millisecond
	a, b := startReplica(t, cfg), startReplica(t, cfg)
	var room struct{ ID string }
	if st := restAs(t, a.HTTP(), "POST", "/api/rooms", "ra", map[string]any{"name": unique(t), "private": true, "members": []string{"rb"}}, &room); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		return restAs(t, b.HTTP(), "GET", "/api/rooms/"+room.ID, "rb", nil, nil) == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("room not on b: %v", err)
	}
	ra := connect(t, a.URL(), "ra")
	for i := range 3 {
		send := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", fmt.Sprint(i))
		send.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"m%d"}`, room.ID, i))
		if err := ra.Send(send); err != nil {
			t.Fatal(err)
		}
		if f, err := ra.Expect(stomp.RECEIPT, 15*time.Second); err != nil {
			t.Fatalf("message %d: %v %v", i, f, err)
		}
	}
	var page struct {
		Messages []struct{ Offset int64 }
	}
	if st := restAs(t, a.HTTP(), "GET", "/api/rooms/"+room.ID+"/messages?limit=3", "ra", nil, &page); st != http.StatusOK || len(page.Messages) != 3 {
		t.Fatalf("history: %d %+v", st, page)
	}
	newest, oldest := page.Messages[0].Offset, page.Messages[2].Offset
	if st := restAs(t, a.HTTP(), "PUT", "/api/rooms/"+room.ID+"/read", "ra", map[string]any{"offset": oldest}, nil); st != http.StatusOK {
		t.Fatalf("ra's read: %d", st)
	}
	waitPositions(t, b.HTTP(), "rb", room.ID, map[string]int64{"ra": oldest}, 10*time.Second)

	var leader *rabbittest.Node
	err = rabbittest.WaitFor(rabbittest.ClusterTimeout, func() (bool, error) {
		n, err := c.StreamLeader("/", rabbitstore.ReadsStream)
		leader = n
		return err == nil && n != nil, nil
	})
	if err != nil {
		t.Fatalf("no leader of %s: %v", rabbitstore.ReadsStream, err)
	}
	t.Logf("stopping %s, leader of %s", leader, rabbitstore.ReadsStream)
	if err := c.StopNode(leader); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if st := restAs(t, b.HTTP(), "PUT", "/api/rooms/"+room.ID+"/read", "rb", map[string]any{"offset": newest}, nil); st != http.StatusOK {
		t.Fatalf("rb's read during the outage: %d", st)
	}
	both := map[string]int64{"ra": oldest, "rb": newest}
	waitPositions(t, a.HTTP(), "ra", room.ID, both, 60*time.Second)
	t.Logf("rb's position set during the outage reached the other replica in %v", time.Since(t0).Round(time.Millisecond))
	d := startReplica(t, cfg)
	waitPositions(t, d.HTTP(), "ra", room.ID, both, 30*time.Second)
}
