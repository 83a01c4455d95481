package httpapi

import (
	"net/http"
	"time"
)

// AdminView is the answer of GET /api/admin/rooms: every room this
// replica knows, with the broker stream holding its history and its
// members online across replicas, and the replica's own broker
// connections, named as RabbitMQ's management UI lists them. Only the API
// key may read it: it lists private rooms too.
type AdminView struct {
	Replica ReplicaView `json:"replica"`
	Rooms   []AdminRoom `json:"rooms"`
}

// ReplicaView names a replica and its broker connections.
type ReplicaView struct {
	// ID is the replica's name (broker.replica_id or its default).
	ID string `json:"id"`
	// Connections are the replica's open broker connections.
	Connections []BrokerConnection `json:"connections"`
}

// BrokerConnection is one broker connection of a replica.
type BrokerConnection struct {
	// Protocol is "AMQP 0-9-1" or "STOMP".
	Protocol string `json:"protocol"`
	// Name is what the management UI shows: the connection_name of an
	// AMQP connection; "CLIENT -> BROKER" (the address pair RabbitMQ
	// names a STOMP connection by) for a STOMP one.
	Name string `json:"name"`
}

// AdminRoom is one room as an operator sees it.
type AdminRoom struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Private   bool      `json:"private"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// Stream is the RabbitMQ stream of the room's history ("" with the
	// embedded broker).
	Stream string `json:"stream"`
	// Online counts the room's members online across replicas.
	Online int `json:"online"`
}

// adminRooms handles GET /api/admin/rooms (API key only).
func (a *api) adminRooms(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireKey(r); err != nil {
		return err
	}
	view := AdminView{Rooms: []AdminRoom{}}
	if a.opts.Replica != nil {
		view.Replica = a.opts.Replica()
	}
	if view.Replica.Connections == nil {
		view.Replica.Connections = []BrokerConnection{}
	}
	for _, room := range a.opts.Store.List() {
		online := 0
		if a.opts.Presence != nil {
			online = len(a.opts.Presence.Members(room.ID))
		}
		view.Rooms = append(view.Rooms, AdminRoom{
			ID: room.ID, Name: room.Name, Private: room.Private, CreatedAt: room.CreatedAt,
			CreatedBy: room.CreatedBy, Stream: room.Stream, Online: online,
		})
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}
