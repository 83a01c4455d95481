package web

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"chatrelay/internal/jsclient"
	"chatrelay/internal/testkit"
)

// collapseScript runs static/render.js's collapse over the message lists
// read from stdin and prints the messages kept, as "TYPE sender".
const collapseScript = `
const fs = require("fs"), vm = require("vm");
const ctx = { chatrelayI18n: { t: (k) => k, lang: () => "en" } };
ctx.globalThis = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync("static/render.js", "utf8"), ctx);
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map((c) =>
  ctx.chatrelayRender.collapse(c.map((s) => { const [type, sender] = s.split(" "); return { type, sender }; }))
    .map((m) => m.type + " " + m.sender))));
`

// TestCollapsePresence: the page hides ENTER/LEAVE noise (a reconnect's
// LEAVE then ENTER, repeated ENTERs) and keeps real arrivals, departures
// and every TALK.
func TestCollapsePresence(t *testing.T) {
	testkit.Require(t, testkit.Node, jsclient.Available())
	cases := []struct{ in, want string }{
		{"ENTER a,TALK a,LEAVE a,ENTER a,TALK a", "ENTER a,TALK a,TALK a"}, // a reconnect
		{"ENTER a,ENTER a,ENTER b", "ENTER a,ENTER b"},
		{"ENTER a,TALK a,ENTER a", "ENTER a,TALK a"}, // already shown present
		{"ENTER a,LEAVE a", ""},                      // came and went
		{"ENTER a,TALK a,LEAVE a", "ENTER a,TALK a,LEAVE a"},
		{"LEAVE a,TALK b,LEAVE a", "LEAVE a,TALK b"},
		{"ENTER a,TALK a,LEAVE a,TALK b,ENTER a", "ENTER a,TALK a,LEAVE a,TALK b,ENTER a"}, // left for real, came back later
		{"TALK a,TALK b", "TALK a,TALK b"},
	}
	var in [][]string
	for _, c := range cases {
		in = append(in, strings.Split(c.in, ","))
	}
	raw, _ := json.Marshal(in)
	cmd := exec.Command("node", "-e", collapseScript)
	cmd.Stdin = strings.NewReader(string(raw))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got [][]string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("unreadable %s (%v)", out, err)
	}
	for i, c := range cases {
		var want []string
		if c.want != "" {
			want = strings.Split(c.want, ",")
		}
		if len(got[i]) == 0 {
			got[i] = nil
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("collapse(%s) = %q, want %q", c.in, got[i], want)
		}
	}
}

// attachmentScript runs static/render.js's attachmentList over the lists
// read from stdin, on a minimal DOM, and prints each link as
// "tag|href|text".
const attachmentScript = `
const fs = require("fs"), vm = require("vm");
const node = (tag) => ({ tag, children: [], textContent: "", href: "", append(...c) { this.children.push(...c); } });
const ctx = { chatrelayI18n: { t: (k) => k, lang: () => "en" }, document: { createElement: node } };
ctx.globalThis = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync("static/render.js", "utf8"), ctx);
const lists = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(lists.map((l) => {
  const ul = ctx.chatrelayRender.attachmentList(l);
  return ul ? ul.children.map((li) => li.children.map((a) => a.tag + "|" + a.href + "|" + a.textContent).join()) : null;
})));
`

// TestAttachmentLinks: https links become links named by the file, a URL
// the server would never accept is shown but not linked, and a message
// without attachments gets no list.
func TestAttachmentLinks(t *testing.T) {
	testkit.Require(t, testkit.Node, jsclient.Available())
	in := `[
		[{"url":"https://cdn.example.com/p.png","name":"사진.png"},{"url":"https://e.com/x"}],
		[{"url":"javascript:alert(1)","name":"click"}],
		[],
		null
	]`
	cmd := exec.Command("node", "-e", attachmentScript)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got [][]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("unreadable %s (%v)", out, err)
	}
	want := [][]string{
		{"a|https://cdn.example.com/p.png|사진.png", "a|https://e.com/x|https://e.com/x"},
		{"span||click"},
		nil,
		nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attachment links %q, want %q", got, want)
	}
}

// messageItemScript runs static/render.js's messageItem over the messages
// read from stdin, on a minimal DOM, and prints for each its class,
// data-edited, data-deleted and the texts of its children.
const messageItemScript = `
const fs = require("fs"), vm = require("vm");
const node = (tag) => {
  const n = { tag, className: "", children: [], textContent: "", dataset: {}, append(...c) { this.children.push(...c); } };
  n.classList = { add: (c) => { n.className += " " + c; } };
  return n;
};
const ctx = { chatrelayI18n: { t: (k) => k, lang: () => "en" }, document: { createElement: node } };
ctx.globalThis = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync("static/render.js", "utf8"), ctx);
const msgs = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(msgs.map((m) => {
  const li = ctx.chatrelayRender.messageItem(m, "me");
  return [li.className.trim(), li.dataset.edited || "", li.dataset.deleted || "", ...li.children.map((c) => c.textContent)];
})));
`

// TestMessageItemRevisions: an edited message shows its text and the
// "(edited)" mark; a deleted one shows the tombstone text and nothing of
// what it said, whatever the message still carries.
func TestMessageItemRevisions(t *testing.T) {
	testkit.Require(t, testkit.Node, jsclient.Available())
	msgs := `[
	  {"id":"a","type":"TALK","sender":"bob","message":"fixed","editedAt":"2026-12-07T12:00:00Z","sentAt":""},
	  {"id":"b","type":"TALK","sender":"bob","message":"leftover","deleted":true,"attachments":[{"url":"https://x/y"}],"sentAt":""},
	  {"id":"c","type":"TALK","sender":"bob","message":"plain","sentAt":""}
	]`
	cmd := exec.Command("node", "-e", messageItemScript)
	cmd.Stdin = strings.NewReader(msgs)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got [][]string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 3 {
		t.Fatalf("unreadable %s (%v)", out, err)
	}
	want := [][]string{
		{"msg msg-talk", "1", "", "", "bob", "fixed", "msg.edited"},
		{"msg msg-talk deleted", "", "1", "", "bob", "msg.deleted"},
		{"msg msg-talk", "", "", "", "bob", "plain"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("items %q, want %q", got, want)
	}
}
