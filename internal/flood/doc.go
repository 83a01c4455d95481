// Package flood holds the combined abuse test: one attacking address runs
// every known flood at once (durable-queue churn, room creation, presence
// churn, /app/rooms churn, SockJS session injection, slow HTTP) against two
// replicas sharing one RabbitMQ node, while a crowd of ordinary
// @stomp/stompjs users chats. It checks the promise the README makes: one
// client can only hurt itself. The package has no code outside its tests.
package flood
