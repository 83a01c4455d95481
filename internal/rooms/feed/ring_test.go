package feed

import (
	"math/rand/v2"
	"testing"

	"chatrelay/internal/rooms"
)

// entryAt returns an entry carrying offset off.
func entryAt(off int64) entry { return entry{msg: rooms.Message{Offset: off}} }

// TestRingMatchesModel pushes at both ends in random order and checks the
// ring against a plain slice after every step: the same entries in the
// same order, the same evictions, the storage never past size.
func TestRingMatchesModel(t *testing.T) {
	for _, size := range []int{1, 2, 3, minRingStorage - 1, minRingStorage, minRingStorage + 1, 100, 1000} {
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		r := newRing(size)
		var model []int64
		back, front := int64(0), int64(0) // next offsets at each end
		for step := 0; step < 4*size+50; step++ {
			if rng.IntN(4) == 0 {
				front--
				ok := r.pushFront(entryAt(front))
				if want := len(model) < size; ok != want {
					t.Fatalf("size %d step %d: pushFront = %v, want %v", size, step, ok, want)
				}
				if ok {
					model = append([]int64{front}, model...)
				}
			} else {
				old, evicted := r.pushBack(entryAt(back))
				model = append(model, back)
				back++
				if len(model) > size {
					if !evicted || old.msg.Offset != model[0] {
						t.Fatalf("size %d step %d: pushBack evicted (%d, %v), want (%d, true)", size, step, old.msg.Offset, evicted, model[0])
					}
					model = model[1:]
				} else if evicted {
					t.Fatalf("size %d step %d: pushBack evicted %d from a ring of %d/%d", size, step, old.msg.Offset, len(model)-1, size)
				}
			}
			if r.len() != len(model) || r.free() != size-len(model) {
				t.Fatalf("size %d step %d: len %d free %d, want %d %d", size, step, r.len(), r.free(), len(model), size-len(model))
			}
			if len(r.buf) > size {
				t.Fatalf("size %d step %d: storage %d past size", size, step, len(r.buf))
			}
			for i, off := range model {
				if got := r.at(i).msg.Offset; got != off {
					t.Fatalf("size %d step %d: at(%d) = %d, want %d", size, step, i, got, off)
				}
			}
		}
	}
}

// TestRingStorageFollowsContent checks that an empty ring allocates
// nothing and a ring holding a few entries holds little storage, whatever
// its bound.
func TestRingStorageFollowsContent(t *testing.T) {
	r := newRing(DefaultBuffer)
	if r.buf != nil {
		t.Fatalf("empty ring holds %d entries of storage", len(r.buf))
	}
	for i := 0; i < 3; i++ {
		r.pushBack(entryAt(int64(i)))
	}
	if len(r.buf) != minRingStorage {
		t.Fatalf("ring of 3 entries holds %d of storage, want %d", len(r.buf), minRingStorage)
	}
	for i := 3; i < 2*DefaultBuffer; i++ {
		r.pushBack(entryAt(int64(i)))
	}
	if len(r.buf) != DefaultBuffer || r.len() != DefaultBuffer || r.at(0).msg.Offset != DefaultBuffer {
		t.Fatalf("full ring: storage %d len %d oldest %d", len(r.buf), r.len(), r.at(0).msg.Offset)
	}
}
