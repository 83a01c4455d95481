package i18n

import "testing"

// TestNegotiate: entries are tried by q-value, ties in order, q=0 and
// malformed entries are skipped, and only ko and en count.
func TestNegotiate(t *testing.T) {
	cases := []struct {
		header string
		want   Lang // "" means none
	}{
		{"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", Ko},
		{"en-US,en;q=0.9,ko;q=0.8", En},
		{"ko", Ko},
		{"KO-kr", Ko},
		{"en;q=0.5, ko;q=0.8", Ko},      // q decides, not order
		{"fr-FR,fr;q=0.9,ko;q=0.3", Ko}, // unsupported first: the next
		{"ko;q=0,en", En},               // q=0: not Korean
		{"ko;q=0.000, en;q=0.001", En},
		{"ja, zh", ""},
		{"*", ""},
		{"", ""},
		{"ko;q=abc, en", En},           // a bad q-value skips that entry
		{"ko;q=1.5, en;q=0.1", En},     // q above 1
		{"ko;q=0.12345, en;q=0.1", En}, // more than three decimals
		{"@@@, ;;;, ko-KR", Ko},        // garbage entries skipped
		{"@@@;q=x,,;;", ""},
		{"ko;level=1;q=0.4, en;q=0.3", Ko}, // other parameters ignored
		{"x-klingon, en", En},
	}
	for _, c := range cases {
		got, ok := Negotiate(c.header)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("Negotiate(%q) = %q, %v; want %q", c.header, got, ok, c.want)
		}
	}
}

// TestChoose: the CONNECT header wins, then the handshake, then the
// default; a header naming nothing supported does not win.
func TestChoose(t *testing.T) {
	cases := []struct {
		connect, handshake string
		def, want          Lang
	}{
		{"ko", "en", En, Ko},
		{"en", "ko-KR", En, En},
		{"", "ko-KR,ko;q=0.9", En, Ko},
		{"fr", "ko", En, Ko},
		{"garbage;;q=", "", En, En},
		{"garbage;;q=", "", Ko, Ko},
		{"", "", "", Default},
	}
	for _, c := range cases {
		if got := Choose(c.connect, c.handshake, c.def); got != c.want {
			t.Errorf("Choose(%q, %q, %q) = %q, want %q", c.connect, c.handshake, c.def, got, c.want)
		}
	}
}

// TestParse: configuration values name a supported language.
func TestParse(t *testing.T) {
	for in, want := range map[string]Lang{"en": En, "ko": Ko, "ko-KR": Ko, " en ": En} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fr", "*", "korean!"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", in, got)
		}
	}
}

// TestText fills values in and falls back to English.
func TestText(t *testing.T) {
	if got, want := Text(Ko, "subscription_ended.room_deleted", "room", "r1"), "r1 방이 삭제되어 구독이 끝났습니다."; got != want {
		t.Errorf("ko: %q, want %q", got, want)
	}
	if got, want := Text(En, "subscription_ended.room_deleted", "room", "r1"), "room r1 was deleted; the subscription has ended"; got != want {
		t.Errorf("en: %q, want %q", got, want)
	}
	if got := Text("fr", "internal"); got != "internal error" {
		t.Errorf("unsupported language: %q, want the English text", got)
	}
	if got := Text(Ko, "no_such_key"); got != "" {
		t.Errorf("unknown key: %q", got)
	}
}
