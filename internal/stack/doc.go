// Package stack holds the deployment's acceptance tests; it has no code of
// its own. The tests check the files that put chatrelay into production the
// way their consumers read them, without Docker:
//
//   - compose.yaml, loaded with compose-go (what docker compose uses):
//     services, published ports, healthchecks, start order, the replicas'
//     broker settings, and that every mounted file and the Dockerfile exist;
//   - docker/Dockerfile: pinned images, static non-root build, healthcheck;
//   - docker/nginx.conf, run by a real nginx (internal/nginxtest) in front
//     of test backends and of real replicas: WebSocket upgrades,
//     round-robin, SockJS session stickiness, forwarded headers, failover;
//   - rabbitmq/rabbitmq.conf, rabbitmq/enabled_plugins and
//     rabbitmq/definitions.json, booted on a private RabbitMQ node
//     (internal/rabbittest): real chatrelay replicas run rooms and messages
//     with the least-privilege relay user, which can do nothing more.
//
// Without nginx the nginx tests skip (CHATRELAY_TEST_REQUIRE_NGINX=1 makes
// that a failure); without RabbitMQ the broker tests skip
// (CHATRELAY_TEST_REQUIRE_RABBITMQ=1 makes that a failure).
package stack
