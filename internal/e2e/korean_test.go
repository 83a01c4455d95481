package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// koreanTimeout bounds TestBrowserKorean: the stack, two browsers, and a
// RabbitMQ stop and start.
const koreanTimeout = 5 * time.Minute

// koreanResult is korean.mjs's result line.
type koreanResult struct {
	RoomID          string `json:"roomId"`
	ConflictText    string `json:"conflictText"`
	ConflictAction  string `json:"conflictAction"`
	BannerAfterJoin bool   `json:"bannerAfterJoin"`
	Refusal         struct {
		Reason    string `json:"reason"`
		InputKept bool   `json:"inputKept"`
		ByteCount string `json:"byteCount"`
		Over      bool   `json:"over"`
		Pending   int    `json:"pending"`
	} `json:"refusal"`
	MediumInputCleared bool `json:"mediumInputCleared"`
	ReasonHiddenAfter  bool `json:"reasonHiddenAfter"`
	Reload             struct {
		Lang          string `json:"lang"`
		Before        int    `json:"before"`
		After         int    `json:"after"`
		OffsetsUnique bool   `json:"offsetsUnique"`
		DMKept        int    `json:"dmKept"`
		UserInput     string `json:"userInput"`
		Status        string `json:"status"`
	} `json:"reload"`
	PresenceLines []string `json:"presenceLines"`
	Outage        struct {
		PendingState string `json:"pendingState"`
		PendingLabel string `json:"pendingLabel"`
		PendingText  string `json:"pendingText"`
		InputCleared bool   `json:"inputCleared"`
		CopiesA      int    `json:"copiesA"`
		CopiesB      int    `json:"copiesB"`
		StatusA      string `json:"statusA"`
	} `json:"outage"`
	Drop struct {
		PendingState  string `json:"pendingState"`
		CopiesA       int    `json:"copiesA"`
		CopiesB       int    `json:"copiesB"`
		PresenceAdded int    `json:"presenceAdded"`
	} `json:"drop"`
	ReplicaStop struct {
		Banners map[string][]string `json:"banners"`
	} `json:"replicaStop"`
	Screenshots []screenshot `json:"screenshots"`
	Pages       map[string]struct {
		PageErrors []string `json:"pageErrors"`
		Banner     string   `json:"banner"`
	} `json:"pages"`
}

// screenshot is one screenshot korean.mjs saved, with the page checks
// made just before it.
type screenshot struct {
	File         string   `json:"file"`
	Lang         string   `json:"lang"`
	Width        int      `json:"width"`
	PageLang     string   `json:"pageLang"`
	ScrollWidth  int      `json:"scrollWidth"`
	InnerWidth   int      `json:"innerWidth"`
	Overflow     bool     `json:"overflow"`
	Offscreen    []string `json:"offscreen"`
	Covered      []string `json:"covered"`
	Untranslated []string `json:"untranslated"`
}

// TestBrowserKorean is the web page's acceptance test: headless Chromium
// in the Korean locale, users 철수 and 영희, room 채팅방, a refused
// 3,000-character message that stays in the input, a 1,300-character one
// delivered, a private message, a reload that restores the session, and
// RabbitMQ stopped and started with a message typed during the outage
// shown as sending, then delivered once, the banners cleared; then a
// dropped connection (the message typed meanwhile is sent once, no
// ENTER/LEAVE line is added) and a replica shutting down (its pages show
// the server's notice, reconnect to the other replica and clear it). Screenshots
// at 1280 and 390 px in Korean and English are saved (the path is logged;
// CHATRELAY_E2E_ARTIFACTS keeps them) and checked for horizontal overflow
// and untranslated strings.
func TestBrowserKorean(t *testing.T) {
	tl := requireTools(t)
	node := rabbittest.Require(t, rabbit)
	ctx, cancel := context.WithTimeout(context.Background(), koreanTimeout)
	defer cancel()
	s := startStack(t, ctx, node)
	t.Cleanup(func() {
		// the next test needs the broker whatever happened here
		if !node.Running() {
			if err := node.StartAgain(); err != nil {
				t.Errorf("restarting RabbitMQ after the test: %v", err)
			}
		}
	})

	artifacts := filepath.Join(t.TempDir(), "screenshots")
	if dir := os.Getenv(artifactsEnv); dir != "" {
		artifacts = filepath.Join(dir, "korean")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set %s=DIR to keep them)", artifacts, artifactsEnv)

	dir := t.TempDir()
	timeout := time.Until(deadlineOf(ctx)) - 15*time.Second
	p := startBrowserScript(t, ctx, filepath.Join(filepath.Dir(tl.script), "korean.mjs"), dir, map[string]any{
		"base":        s.base,
		"chromium":    tl.chromium,
		"userDataDir": filepath.Join(dir, "profiles"),
		"artifacts":   artifacts,
		"timeoutMs":   timeout.Milliseconds(),
	})

	var res koreanResult
	var failure *jsLine
	gotResult := false
	sc := p.lines
	for sc.Scan() {
		var line struct {
			jsLine
			Action string `json:"action"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Logf("korean.mjs: %s", sc.Text())
			continue
		}
		switch line.Type {
		case "step":
			t.Logf("%6.1fs %s", float64(line.MS)/1000, line.Step)
		case "ask":
			answer := map[string]any{"id": line.ID}
			begin := time.Now()
			var err error
			switch line.Action {
			case "stop":
				err = node.Stop()
			case "start":
				err = node.StartAgain()
			case "stop-replica":
				err = stopBusyReplica(s)
			default:
				err = &askError{line.What + " " + line.Action}
			}
			if err != nil {
				answer["error"] = err.Error()
			}
			t.Logf("        %s: %v in %v", line.Action, errString(err), time.Since(begin).Round(time.Millisecond))
			p.answer(answer)
		case "result":
			if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
				t.Fatalf("unreadable result %s: %v", sc.Text(), err)
			}
			gotResult = true
		case "fail":
			l := line.jsLine
			failure = &l
		}
	}
	waitErr := p.wait()
	if failure != nil {
		t.Fatalf("korean run failed at step %q: %s\npages: %s\nnode stderr:\n%s\nscreenshots in %s",
			failure.Step, failure.Error, indentJSON(failure.Pages), p.stderr.String(), artifacts)
	}
	if waitErr != nil || !gotResult {
		t.Fatalf("korean.mjs ended with %v and no result (test context: %v)\nnode stderr:\n%s", waitErr, ctx.Err(), p.stderr.String())
	}
	checkKorean(t, res)
}

// stopBusyReplica stops (SIGTERM, as an orchestrator would) the first
// replica that holds a STOMP session and waits until it has exited.
func stopBusyReplica(s *stack) error {
	for _, r := range s.replicas {
		m, err := r.sessions()
		if err != nil || total(m) == 0 {
			continue
		}
		if err := r.proc.Signal(syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-r.proc.Exited():
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s did not exit within 30 s of SIGTERM", r.name)
		}
	}
	return fmt.Errorf("no replica holds a session")
}

// askError is a question korean.mjs asked that the test cannot answer.
type askError struct{ what string }

func (e *askError) Error() string { return "unknown question " + e.what }

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// checkKorean checks what korean.mjs saw.
func checkKorean(t *testing.T, r koreanResult) {
	t.Helper()
	if !strings.Contains(r.ConflictText, "채팅방") || !strings.Contains(r.ConflictText, "이미 있습니다") || r.ConflictAction != "입장하기" {
		t.Errorf("409 offer: text %q, action %q; want the Korean offer to join 채팅방", r.ConflictText, r.ConflictAction)
	}
	if r.BannerAfterJoin {
		t.Errorf("the 409 banner stayed after joining the existing room")
	}
	rf := r.Refusal
	if !strings.Contains(rf.Reason, "9000바이트") || !strings.Contains(rf.Reason, "4096") || !rf.InputKept || !rf.Over || rf.Pending != 0 {
		t.Errorf("3,000-character message: reason %q, input kept %v, count %q (over %v), pending %d; want a Korean reason naming 9000 and 4096 bytes, the text kept, nothing sent",
			rf.Reason, rf.InputKept, rf.ByteCount, rf.Over, rf.Pending)
	}
	if rf.ByteCount != "9000 / 4096바이트" {
		t.Errorf("byte count reads %q, want %q", rf.ByteCount, "9000 / 4096바이트")
	}
	if !r.MediumInputCleared || !r.ReasonHiddenAfter {
		t.Errorf("1,300-character message: input cleared %v, reason hidden %v", r.MediumInputCleared, r.ReasonHiddenAfter)
	}
	rl := r.Reload
	if rl.Lang != "en" || rl.Status != "online" || rl.After < rl.Before || rl.Before < 2 || !rl.OffsetsUnique || rl.DMKept != 1 || rl.UserInput != "영희" {
		t.Errorf("after the reload: %+v; want English (chosen before the reload, over the browser's Korean), the %d messages back once each, the private message, the name", rl, rl.Before)
	}
	for _, line := range r.PresenceLines {
		if strings.HasSuffix(line, " 영희") && strings.HasPrefix(line, "LEAVE") {
			t.Errorf("철수's page shows 영희 leaving across her reload: %q", r.PresenceLines)
			break
		}
	}
	if n := countPrefix(r.PresenceLines, "ENTER 영희"); n > 1 {
		t.Errorf("철수's page shows 영희 entering %d times: %q", n, r.PresenceLines)
	}
	o := r.Outage
	if o.PendingState != "sending" || o.PendingLabel != "보내는 중…" || o.PendingText != "브로커가 없는 동안 보낸 메시지" || !o.InputCleared {
		t.Errorf("message typed during the outage: %+v; want it shown as 보내는 중…", o)
	}
	if o.CopiesA != 1 || o.CopiesB != 1 {
		t.Errorf("message typed during the outage shown %d times on 철수's page, %d on 영희's; want once", o.CopiesA, o.CopiesB)
	}
	if o.StatusA != "connected" {
		t.Errorf("철수's page is %q after the outage", o.StatusA)
	}
	d := r.Drop
	if d.PendingState != "sending" || d.CopiesA != 1 || d.CopiesB != 1 || d.PresenceAdded != 0 {
		t.Errorf("message typed while 영희's connection was down: %+v; want shown as sending, then once on each page, and no ENTER/LEAVE line added", d)
	}
	kicked := 0
	for name, banners := range r.ReplicaStop.Banners {
		for _, b := range banners {
			if b != "서버가 다시 시작하는 중입니다. 다시 연결하는 중…" {
				t.Errorf("%s's page showed %q when its replica shut down; want the Korean restart notice", name, b)
			}
		}
		if len(banners) > 0 {
			kicked++
		}
	}
	if kicked == 0 {
		t.Errorf("no page showed a banner when a replica shut down: %v", r.ReplicaStop.Banners)
	}
	for name, p := range r.Pages {
		if len(p.PageErrors) > 0 || p.Banner != "" {
			t.Errorf("%s's page: uncaught errors %q, banner %q", name, p.PageErrors, p.Banner)
		}
	}
	want := map[string]bool{"ko-1280": false, "ko-390": false, "en-1280": false, "en-390": false}
	for _, s := range r.Screenshots {
		key := s.Lang + "-" + strconv.Itoa(s.Width)
		if _, ok := want[key]; ok {
			want[key] = true
		}
		if s.PageLang != s.Lang || s.Overflow || s.ScrollWidth > s.InnerWidth || len(s.Offscreen) > 0 || len(s.Covered) > 0 || len(s.Untranslated) > 0 {
			t.Errorf("%s: page lang %q, scrollWidth %d of %d, controls off screen %q, covered %q, untranslated %q",
				filepath.Base(s.File), s.PageLang, s.ScrollWidth, s.InnerWidth, s.Offscreen, s.Covered, s.Untranslated)
		}
		f, err := os.Open(s.File)
		if err != nil {
			t.Errorf("screenshot: %v", err)
			continue
		}
		img, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || img.Width != s.Width {
			t.Errorf("%s: %d px wide (%v), want %d", s.File, img.Width, err, s.Width)
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no screenshot %s", k)
		}
	}
	t.Logf("%d screenshots checked; room %s; presence lines on 철수's page %q; drop %+v; banners when a replica stopped %q",
		len(r.Screenshots), r.RoomID, r.PresenceLines, r.Drop, r.ReplicaStop.Banners)
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
