// Package testkit holds the helpers every package's tests share: waiting
// on a condition with a deadline (Eventually, WaitFor), a free loopback
// address (FreeAddr), the repository root (RepoRoot), waiting for a URL to
// answer 200 (WaitOK), finding the temporary directories of harnesses
// whose test died (WriteOwner, StaleDirs), and one way to require an
// external tool (Require): skip loudly without it, fail when its
// CHATRELAY_TEST_REQUIRE_* variable is 1, and always skip under
// `go test -short`, the inner-loop lane that starts no external process.
//
// Its files are not _test.go files so that other packages' tests can
// import it; outside tests only bench/rabbitnode (a benchmark tool) does.
package testkit
