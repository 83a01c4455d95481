package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"chatrelay/internal/config"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
)

// defaultLimits are the room creation limits of the default config.
func defaultLimits() roomlimit.Limits {
	c := config.Defaults().Rooms.Create
	return roomlimit.Limits{MaxRooms: c.MaxRooms, UserPerMinute: c.UserPerMinute, UserBurst: c.UserBurst,
		UserQuota: c.UserQuota, AddressPerMinute: c.AddressPerMinute, AddressBurst: c.AddressBurst,
		AddressQuota: c.AddressQuota, MaxTracked: c.MaxTracked}
}

// limitedEnv is an API with a Limiter over its store; verified says
// whether user names are checked (auth.mode static or jwt).
func limitedEnv(lim roomlimit.Limits, verified bool) *env {
	var e *env
	e = newEnv(func(o *Options) {
		o.Identify = passcodePW
		o.VerifiedUsers = verified
		o.Limiter = roomlimit.New(lim, lazyLister{&e})
	})
	return e
}

// lazyLister lists the store of an env built after the Limiter.
type lazyLister struct{ e **env }

func (l lazyLister) List() []rooms.Room { return (*l.e).store.List() }

// createFrom POSTs a room from a client address.
func (e *env) createFrom(t *testing.T, addr, name, auth string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	req := httptest.NewRequest("POST", "/api/rooms", strings.NewReader(string(body)))
	req.RemoteAddr = addr
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.json); err != nil {
		t.Fatalf("body %q: %v", a.raw, err)
	}
	return a
}

// TestRoomFloodFromOneAddress: with the default limits, 300 anonymous
// creations from one address make at most the address quota of rooms;
// every other answer is a 429 naming the limit's config key, rates with a
// Retry-After. Another address, and the room list, keep working.
func TestRoomFloodFromOneAddress(t *testing.T) {
	lim := defaultLimits()
	e := limitedEnv(lim, false)
	created := 0
	for i := 0; i < 300; i++ {
		a := e.createFrom(t, "203.0.113.9:4000", fmt.Sprintf("flood-%d-%s", i, strings.Repeat("‹", 90)), "")
		switch a.status {
		case http.StatusCreated:
			created++
			continue
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("creation %d: %d %s", i, a.status, a.raw)
		}
		key, _ := a.field("key").(string)
		msg, _ := a.field("error").(string)
		if !strings.HasPrefix(key, "rooms.create.") || !strings.Contains(msg, key) {
			t.Fatalf("creation %d: refusal names no config key: %s", i, a.raw)
		}
		if a.field("code") == roomlimit.CodeRate {
			if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("creation %d: rate refusal with Retry-After %q", i, a.header.Get("Retry-After"))
			}
		}
	}
	if created < 1 || created > lim.AddressQuota {
		t.Fatalf("%d rooms created, want 1 to the quota %d", created, lim.AddressQuota)
	}
	// the same /64 is the same client
	if a := e.createFrom(t, "[2001:db8:1:2::1]:80", "v6-a", ""); a.status != 201 {
		t.Fatalf("first IPv6 client: %d %s", a.status, a.raw)
	}
	for i := 0; i < 20; i++ {
		a := e.createFrom(t, fmt.Sprintf("[2001:db8:1:2::%x]:80", i+2), fmt.Sprint("v6-", i), "")
		if a.status == 201 {
			created++
		}
	}
	if got := len(e.store.List()); got > 2*lim.AddressQuota {
		t.Fatalf("%d rooms after a /64 rotated addresses, want at most %d", got, 2*lim.AddressQuota)
	}
	if a := e.createFrom(t, "198.51.100.1:5000", "legit", ""); a.status != 201 {
		t.Fatalf("another address: %d %s", a.status, a.raw)
	}
	if a := e.do(t, "GET", "/api/rooms", "", ""); a.status != 200 || a.field("rooms") == nil {
		t.Fatalf("list: %d %s", a.status, a.raw)
	}
}

// TestCreateNeedsUserWhenVerified: in auth.mode static or jwt creating a
// room takes a signed-in user or the API key.
func TestCreateNeedsUserWhenVerified(t *testing.T) {
	e := limitedEnv(defaultLimits(), true)
	if a := e.createFrom(t, "192.0.2.1:1", "anon", ""); a.status != 401 {
		t.Fatalf("anonymous: %d %s", a.status, a.raw)
	}
	if a := e.createFrom(t, "192.0.2.1:1", "ann's", basic("ann", "pw")); a.status != 201 || a.field("createdBy") != "ann" {
		t.Fatalf("signed in: %d %s", a.status, a.raw)
	}
	if a := e.createFrom(t, "192.0.2.1:1", "key's", "Bearer "+testKey); a.status != 201 {
		t.Fatalf("API key: %d %s", a.status, a.raw)
	}
}

// TestUserQuota: a verified user owns at most user_quota rooms, whatever
// the pace; other users from the same address are not held back.
func TestUserQuota(t *testing.T) {
	lim := defaultLimits()
	lim.UserPerMinute, lim.UserBurst = 6000, 1000 // the quota, not the rate, is tested
	e := limitedEnv(lim, true)
	created := 0
	for i := 0; i < lim.UserQuota+5; i++ {
		a := e.createFrom(t, "192.0.2.1:1", fmt.Sprint("ann-", i), basic("ann", "pw"))
		switch {
		case a.status == 201:
			created++
		case a.status != 429 || a.field("key") != roomlimit.KeyUserQuota || a.header.Get("Retry-After") != "":
			t.Fatalf("creation %d: %d %v %s", i, a.status, a.header, a.raw)
		}
	}
	if created != lim.UserQuota {
		t.Fatalf("ann owns %d rooms, want %d", created, lim.UserQuota)
	}
	for i := 0; i < lim.AddressQuota+2; i++ {
		if a := e.createFrom(t, "192.0.2.1:1", fmt.Sprint("u-", i), basic(fmt.Sprint("u", i), "pw")); a.status != 201 {
			t.Fatalf("user u%d from ann's address: %d %s", i, a.status, a.raw)
		}
	}
	// deleting one makes room for another
	if a := e.do(t, "DELETE", "/api/rooms/1", "", basic("ann", "pw")); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	if a := e.createFrom(t, "192.0.2.1:1", "ann-again", basic("ann", "pw")); a.status != 201 {
		t.Fatalf("after a deletion: %d %s", a.status, a.raw)
	}
}

// TestClaimedNamesCountPerAddress: in auth.mode none any name can be
// claimed, so new names from one address do not buy more rooms.
func TestClaimedNamesCountPerAddress(t *testing.T) {
	lim := defaultLimits()
	lim.AddressPerMinute, lim.AddressBurst = 6000, 1000
	e := limitedEnv(lim, false)
	created := 0
	for i := 0; i < 3*lim.AddressQuota; i++ {
		if a := e.createFrom(t, "192.0.2.5:1", fmt.Sprint("r", i), basic(fmt.Sprint("name", i), "pw")); a.status == 201 {
			created++
		} else if a.field("key") != roomlimit.KeyAddressQuota {
			t.Fatalf("creation %d: %d %s", i, a.status, a.raw)
		}
	}
	if created != lim.AddressQuota {
		t.Fatalf("%d rooms from one address under rotating names, want %d", created, lim.AddressQuota)
	}
}

// TestGlobalCap: the cap on all rooms holds for the API key too.
func TestGlobalCap(t *testing.T) {
	lim := defaultLimits()
	lim.MaxRooms = 3
	e := limitedEnv(lim, false)
	for i := 0; i < 3; i++ {
		if a := e.createFrom(t, fmt.Sprintf("192.0.2.%d:1", i), fmt.Sprint("r", i), ""); a.status != 201 {
			t.Fatalf("room %d: %d %s", i, a.status, a.raw)
		}
	}
	a := e.createFrom(t, "192.0.2.99:1", "one more", "Bearer "+testKey)
	if a.status != 429 || a.field("key") != roomlimit.KeyMaxRooms || a.field("code") != roomlimit.CodeQuota {
		t.Fatalf("over the cap: %d %s", a.status, a.raw)
	}
}
