package presence

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJoinLeave(t *testing.T) {
	type op struct {
		join       bool
		room, user string
		want       bool // Join's first or Leave's last
	}
	tests := []struct {
		name    string
		ops     []op
		members map[string][]string
	}{
		{"first join", []op{{true, "7", "alice", true}},
			map[string][]string{"7": {"alice"}}},
		{"second tab is not first", []op{{true, "7", "alice", true}, {true, "7", "alice", false}},
			map[string][]string{"7": {"alice"}}},
		{"leave one of two tabs", []op{{true, "7", "alice", true}, {true, "7", "alice", false}, {false, "7", "alice", false}},
			map[string][]string{"7": {"alice"}}},
		{"leave last tab", []op{{true, "7", "alice", true}, {true, "7", "alice", false},
			{false, "7", "alice", false}, {false, "7", "alice", true}},
			map[string][]string{"7": {}}},
		{"leave without join", []op{{false, "7", "alice", false}},
			map[string][]string{"7": {}}},
		{"extra leave", []op{{true, "7", "alice", true}, {false, "7", "alice", true}, {false, "7", "alice", false}},
			map[string][]string{"7": {}}},
		{"rooms are separate", []op{{true, "7", "alice", true}, {true, "8", "alice", true}, {false, "8", "alice", true}},
			map[string][]string{"7": {"alice"}, "8": {}}},
		{"sorted", []op{{true, "7", "carol", true}, {true, "7", "alice", true}, {true, "7", "bob", true}},
			map[string][]string{"7": {"alice", "bob", "carol"}, "x": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			p := New(Options{Now: clock.Now, After: clock.After})
			for i, o := range tt.ops {
				var got bool
				if o.join {
					got = p.Join(o.room, o.user)
				} else {
					got = p.Leave(o.room, o.user)
				}
				if got != o.want {
					t.Fatalf("op %d (%+v) = %v, want %v", i, o, got, o.want)
				}
			}
			for room, want := range tt.members {
				if got := p.Members(room); !reflect.DeepEqual(got, want) {
					t.Errorf("Members(%q) = %#v, want %#v", room, got, want)
				}
			}
		})
	}
}

func TestReceive(t *testing.T) {
	tests := []struct {
		name    string
		bodies  []string
		wantErr bool
		members map[string][]string
	}{
		{"snapshot", []string{`{"replica":"r2","seq":1,"rooms":{"7":["bob","alice"]}}`}, false,
			map[string][]string{"7": {"alice", "bob"}, "8": {}}},
		{"union of replicas", []string{
			`{"replica":"r2","seq":1,"rooms":{"7":["bob"]}}`,
			`{"replica":"r3","seq":1,"rooms":{"7":["bob","carol"]}}`}, false,
			map[string][]string{"7": {"bob", "carol"}}},
		{"newer replaces", []string{
			`{"replica":"r2","seq":1,"rooms":{"7":["bob"]}}`,
			`{"replica":"r2","seq":2,"rooms":{"8":["bob"]}}`}, false,
			map[string][]string{"7": {}, "8": {"bob"}}},
		{"stale ignored", []string{
			`{"replica":"r2","seq":2,"rooms":{"7":["bob"]}}`,
			`{"replica":"r2","seq":1,"rooms":{"8":["bob"]}}`}, false,
			map[string][]string{"7": {"bob"}, "8": {}}},
		{"empty snapshot drops replica", []string{
			`{"replica":"r2","seq":1,"rooms":{"7":["bob"]}}`,
			`{"replica":"r2","seq":2,"rooms":{}}`}, false,
			map[string][]string{"7": {}}},
		{"own snapshot ignored", []string{`{"replica":"me","seq":1,"rooms":{"7":["ghost"]}}`}, false,
			map[string][]string{"7": {}}},
		{"bad room ids and users dropped", []string{
			`{"replica":"r2","seq":1,"rooms":{"7.#":["x"],"":["y"],"7":["", "bob", "` + strings.Repeat("u", 300) + `"]}}`}, false,
			map[string][]string{"7": {"bob"}, "7.#": {}}},
		{"malformed", []string{`{"replica":`}, true, nil},
		{"not an object", []string{`[1]`}, true, nil},
		{"no replica", []string{`{"seq":1,"rooms":{"7":["bob"]}}`}, true, map[string][]string{"7": {}}},
		{"long replica", []string{`{"replica":"` + strings.Repeat("r", 129) + `","rooms":{"7":["bob"]}}`}, true,
			map[string][]string{"7": {}}},
		{"users not strings", []string{`{"replica":"r2","rooms":{"7":[1]}}`}, true, map[string][]string{"7": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			p := New(Options{ReplicaID: "me", Now: clock.Now, After: clock.After})
			var err error
			for _, b := range tt.bodies {
				err = errors.Join(err, p.Receive([]byte(b)))
			}
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrBadSnapshot)) {
				t.Fatalf("Receive error %v, want error %v", err, tt.wantErr)
			}
			for room, want := range tt.members {
				if got := p.Members(room); !reflect.DeepEqual(got, want) {
					t.Errorf("Members(%q) = %#v, want %#v", room, got, want)
				}
			}
		})
	}
}

func TestReceiveTooLarge(t *testing.T) {
	p := New(Options{})
	if err := p.Receive(make([]byte, maxSnapshotBytes+1)); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("Receive = %v, want ErrBadSnapshot", err)
	}
}

func TestExpiryBoundary(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		want  []string
	}{
		{"fresh", 0, []string{"alice", "bob"}},
		{"just before expiry", DefaultExpiry - time.Nanosecond, []string{"alice", "bob"}},
		{"at expiry", DefaultExpiry, []string{"alice"}},
		{"long after", time.Hour, []string{"alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			p := New(Options{ReplicaID: "me", Now: clock.Now, After: clock.After})
			p.Join("7", "alice")
			if err := p.Receive([]byte(`{"replica":"r2","seq":1,"rooms":{"7":["bob"]}}`)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.after)
			if got := p.Members("7"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Members = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name       string
		in         Options
		wantExpiry time.Duration
	}{
		{"zero", Options{}, DefaultExpiry},
		{"expiry raised above interval", Options{Interval: 2 * time.Second, Expiry: time.Second}, 6 * time.Second},
		{"kept", Options{Interval: time.Second, Expiry: 5 * time.Second}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.in.withDefaults()
			if o.Expiry != tt.wantExpiry || o.Interval <= 0 || o.MinGap != DefaultMinGap ||
				o.Now == nil || o.After == nil || o.Logger == nil || len(o.ReplicaID) != 16 {
				t.Errorf("defaults %+v", o)
			}
		})
	}
	if a, b := New(Options{}).ReplicaID(), New(Options{}).ReplicaID(); a == b {
		t.Errorf("replica ids repeat: %s", a)
	}
}

func TestOccupied(t *testing.T) {
	clock := newFakeClock()
	p := New(Options{ReplicaID: "me", Now: clock.Now, After: clock.After})
	if got := p.Occupied(); len(got) != 0 {
		t.Fatalf("Occupied with nobody online = %v", got)
	}
	p.Join("7", "alice")
	p.Join("8", "alice")
	p.Leave("8", "alice")
	if err := p.Receive([]byte(`{"replica":"r2","seq":1,"rooms":{"7":["bob"],"9":["carol","dave"],"10":[]}}`)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"7": 2, "9": 2}
	if got := p.Occupied(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Occupied = %v, want %v", got, want)
	}
	for room, n := range want {
		if p.Online(room) != n {
			t.Errorf("Online(%s) = %d, Occupied says %d", room, p.Online(room), n)
		}
	}
	clock.Advance(DefaultExpiry) // r2's snapshot expires
	if got, want := p.Occupied(), map[string]int{"7": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Occupied after r2 expired = %v, want %v", got, want)
	}
}
