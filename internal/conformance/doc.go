// Package conformance holds the protocol conformance suite: one table of
// STOMP frame exchanges, each reduced to an observable result (the frames
// a client sees, with the headers that matter), run against RabbitMQ
// Web-STOMP directly and against chatrelay in both broker modes with a
// permissive policy. A row passes when chatrelay's result equals
// RabbitMQ's, or, for a row where chatrelay differs on purpose, equals
// the result the README section named by the row describes.
//
// The package has no code of its own outside its tests; this file is its
// documentation.
package conformance
