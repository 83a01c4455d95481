package rabbittest

import (
	"fmt"
	"time"
)

// RoomIDArg is the stream argument chatrelay records a room's id in
// (rabbitstore's roomIDArg; rabbitstore's own tests import this package,
// so it cannot be imported here).
const RoomIDArg = "x-chatrelay-room-id"

// RoomStream returns the queue among qs that holds the history of chat
// room id in vhost: the stream whose RoomIDArg argument is id, or, for a
// room created before stream names carried the room's name, the one
// named room.<id>.
func RoomStream(qs []Queue, vhost, id string) (Queue, bool) {
	for _, q := range qs {
		if q.Vhost != vhost {
			continue
		}
		if arg, _ := q.Arguments[RoomIDArg].(string); arg == id || q.Name == "room."+id {
			return q, true
		}
	}
	return Queue{}, false
}

// RoomStreamName waits up to 10 s for the management API to list the
// stream of room id in vhost (it lists a new queue within a statistics
// interval or two) and returns its name.
func (n *Node) RoomStreamName(vhost, id string) (string, error) {
	return roomStreamName(n.MgmtGet, vhost, id)
}

// RoomStreamName is Node.RoomStreamName through any running node.
func (c *Cluster) RoomStreamName(vhost, id string) (string, error) {
	return roomStreamName(c.MgmtGet, vhost, id)
}

func roomStreamName(get func(path string, out any) error, vhost, id string) (string, error) {
	var name string
	err := WaitFor(10*time.Second, func() (bool, error) {
		var qs []Queue
		if err := get("/api/queues", &qs); err != nil {
			return false, err
		}
		q, ok := RoomStream(qs, vhost, id)
		name = q.Name
		return ok, nil
	})
	if err != nil {
		return "", fmt.Errorf("rabbittest: stream of room %s in vhost %s: %w", id, vhost, err)
	}
	return name, nil
}
