// Package apispec holds only tests: of the AsyncAPI document of the STOMP
// interface that GET /api/asyncapi.json serves (internal/httpapi's
// asyncapi.yaml). It is valid for @asyncapi/parser, it covers every
// destination of the destination policy's defaults and every /app route
// the server registers, and its message schemas name the fields the Go
// types put on the wire.
package apispec
