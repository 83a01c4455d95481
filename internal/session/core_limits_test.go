package session

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"chatrelay/internal/relay"
	"chatrelay/internal/stomp"
)

// TestCoreMaxSubscriptions: the SUBSCRIBE past limits.max_subscriptions
// is an ERROR and a policy close, and never reaches the upstream.
func TestCoreMaxSubscriptions(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.MaxSubscriptions = 2 })
	c.connect()
	if err := c.in(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a"), frame("SUBSCRIBE", "", "id:2", "destination:/topic/b")); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(frame("SUBSCRIBE", "", "id:3", "destination:/topic/c", "receipt:r3")))
	c.expect("ERROR", "message:too many subscriptions", "receipt-id:r3")
	c.closedWith(ClosePolicy)
	if got, want := c.up.log(), []string{"SUBSCRIBE 1 /topic/a", "SUBSCRIBE 2 /topic/b"}; !slices.Equal(got, want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

// TestCoreMaxTransactions: the BEGIN past limits.max_transactions is an
// ERROR and a policy close; a finished transaction frees its place.
func TestCoreMaxTransactions(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.MaxTransactions = 1 })
	c.connect()
	if err := c.in(frame("BEGIN", "", "transaction:t1"), frame("COMMIT", "", "transaction:t1"), frame("BEGIN", "", "transaction:t2")); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(frame("BEGIN", "", "transaction:t3")))
	c.expect("ERROR", "message:too many transactions")
	c.closedWith(ClosePolicy)
	if got, want := c.up.log(), []string{"BEGIN t1", "COMMIT t1", "BEGIN t2"}; !slices.Equal(got, want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

// TestCoreMaxTransactionBytes: the SEND that would make the open
// transactions hold more than limits.max_transaction_bytes is an ERROR
// and a policy close; COMMIT and ABORT give back what they held.
func TestCoreMaxTransactionBytes(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.MaxTxBytes = 200 })
	c.connect()
	body := strings.Repeat("x", 100) // with its headers: over 100 bytes, under 200
	send := func(tx string) string { return frame("SEND", body, "destination:/topic/a", "transaction:"+tx) }
	if err := c.in(
		frame("BEGIN", "", "transaction:t1"), send("t1"), frame("COMMIT", "", "transaction:t1"),
		frame("BEGIN", "", "transaction:t2"), send("t2"), frame("ABORT", "", "transaction:t2"),
		frame("BEGIN", "", "transaction:t3"), send("t3"),
	); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(send("t3")))
	f := c.expect("ERROR", "message:transaction too large")
	if !strings.Contains(string(f.Body), "limits.max_transaction_bytes") {
		t.Errorf("ERROR body %q does not name the limit", f.Body)
	}
	c.closedWith(ClosePolicy)
	sends := 0
	for _, call := range c.up.log() {
		if strings.HasPrefix(call, "SEND ") {
			sends++
		}
	}
	if sends != 3 {
		t.Fatalf("upstream saw %d SENDs, want 3: %q", sends, c.up.log())
	}
}

// TestCoreRefusedSend: a SEND the broker refuses (*relay.RefusedError)
// ends the session with an ERROR carrying the broker's reason and the
// SEND's receipt-id, and a policy close; any other failure is a server
// error.
func TestCoreRefusedSend(t *testing.T) {
	c := newCore(t, stomp.V12, nil)
	c.connect()
	c.up.sendErr = &relay.RefusedError{Reason: "access_refused"}
	c.ended(c.in(frame("SEND", "x", "destination:/topic/a", "receipt:s1")))
	f := c.expect("ERROR", "message:access_refused", "receipt-id:s1")
	if want := c.up.sendErr.Error(); string(f.Body) != want {
		t.Errorf("ERROR body %q, want %q", f.Body, want)
	}
	c.closedWith(ClosePolicy)

	c = newCore(t, stomp.V12, nil)
	c.connect()
	c.up.sendErr = errors.New("no upstream connection")
	c.ended(c.in(frame("SEND", "x", "destination:/topic/a")))
	c.expect("ERROR", "message:send failed")
	c.closedWith(CloseServerError)
}

// TestCoreRefusedCommit: a COMMIT whose SENDs the broker refuses ends the
// session with an ERROR carrying the broker's reason.
func TestCoreRefusedCommit(t *testing.T) {
	c := newCore(t, stomp.V12, nil)
	c.connect()
	c.up.commitErr = &relay.RefusedError{Reason: "not_found"}
	if err := c.in(frame("BEGIN", "", "transaction:t"), frame("SEND", "x", "destination:/topic/a", "transaction:t")); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(frame("COMMIT", "", "transaction:t", "receipt:c1")))
	c.expect("ERROR", "message:not_found", "receipt-id:c1")
	c.closedWith(ClosePolicy)
}

// TestCoreFailFrameResultUsed: every failFrame call hands on its error
// (returns it, assigns it or passes it): a dropped one would let the read
// loop handle frames after the session's final ERROR.
func TestCoreFailFrameResultUsed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && isFailFrame(call) {
				calls++
			}
			if stmt, ok := n.(*ast.ExprStmt); ok {
				if call, ok := stmt.X.(*ast.CallExpr); ok && isFailFrame(call) {
					t.Errorf("%s: failFrame's result is dropped", fset.Position(call.Pos()))
				}
			}
			return true
		})
	}
	if calls < 30 {
		t.Fatalf("found %d failFrame calls: the scan is broken", calls)
	}
}

func isFailFrame(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "failFrame"
}
