package rooms

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// PageOf is Store.Page over n rooms sorted by Seq, the i-th of which is
// at(i): a binary search finds the first room past after, then rooms are
// kept until limit, looking on for one more to tell whether more follow.
// Stores call it with their lock held.
func PageOf(n int, at func(int) Room, after int64, limit int, keep func(Room) bool) ([]Room, bool) {
	i := sort.Search(n, func(i int) bool { return at(i).Seq > after })
	out := make([]Room, 0, min(limit, n-i))
	for ; i < n; i++ {
		r := at(i)
		if keep != nil && !keep(r) {
			continue
		}
		if len(out) >= limit {
			return out, true
		}
		out = append(out, r)
	}
	return out, false
}

// OriginOf is what a room records of the client address it was created
// from (a clientaddr.Key): a digest, so that the registry, which operators
// can read in the broker, holds no addresses, while every replica computes
// the same value for the same client.
func OriginOf(addrKey string) string {
	if addrKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("chatrelay room origin\x00" + addrKey))
	return hex.EncodeToString(sum[:12])
}
