package relay

import "testing"

// TestPublishKeyFoldsRoomsAndUsers: server publishes to rooms, their side
// topics and users share one probe per destination shape; other shapes,
// and headers RabbitMQ reads, still tell probes apart.
func TestPublishKeyFoldsRoomsAndUsers(t *testing.T) {
	same := [][2]string{
		{"/topic/room.a1", "/topic/room.b2"},
		{"/topic/room.a1.reads", "/topic/room.b2.reads"},
		{"/topic/room.a1.typing", "/topic/room.b2.reads"},
		{"/topic/user.ann.reads", "/topic/user.bob~2e.messages"},
	}
	for _, p := range same {
		if publishKey(p[0], nil) != publishKey(p[1], nil) {
			t.Errorf("%s and %s take two probes", p[0], p[1])
		}
	}
	apart := [][2]string{
		{"/topic/room.a1", "/topic/room.a1.reads"},
		{"/topic/room.a1", "/topic/user.a1"},
		{"/topic/rooms", "/topic/room.a1"},
		{"/queue/a", "/queue/b"},
	}
	for _, p := range apart {
		if publishKey(p[0], nil) == publishKey(p[1], nil) {
			t.Errorf("%s and %s share a probe", p[0], p[1])
		}
	}
}
