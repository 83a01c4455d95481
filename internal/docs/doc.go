// Package docs keeps docs/architecture.md true to the code. It has no code
// of its own: its test parses the document and every non-test Go file of
// the module, and fails when
//   - a package (under internal/, cmd/ or elsewhere in the module) has no
//     row in the package map, or a row names a package that does not
//     exist;
//   - a package's imports of module packages differ from its row's list;
//   - a package has no package doc comment;
//   - the goroutine inventory's rows, counted by file and enclosing
//     function, differ from the `go` statements in non-test code.
//
// Run it with:
//
//	go test -count=1 ./internal/docs
package docs
