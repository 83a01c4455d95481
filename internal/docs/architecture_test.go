package docs

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// modulePath is the module's import path; module packages are imported
// as modulePath + "/" + their directory.
const modulePath = "chatrelay"

// docPath is the document the test keeps true, relative to the module
// root.
const docPath = "docs/architecture.md"

// goPackage is what the test reads of one directory of Go files.
type goPackage struct {
	dir     string          // relative to the module root, slash-separated
	imports map[string]bool // module packages the non-test files import, by directory
	hasDoc  bool            // some file carries a package doc comment
	gos     []string        // "file:function" of each go statement in non-test files
}

// archDoc is what the test reads of docs/architecture.md.
type archDoc struct {
	packages map[string][]string // package map: directory → listed imports (directories)
	gos      []string            // goroutine inventory: "file:function", one per row
}

func TestPackageMapListsEveryPackage(t *testing.T) {
	pkgs, doc := load(t)
	for dir := range pkgs {
		if _, ok := doc.packages[dir]; !ok {
			t.Errorf("%s: package %s has no row in the package map: add `| `%s` | what it is | imports |`", docPath, dir, dir)
		}
	}
	for dir := range doc.packages {
		if _, ok := pkgs[dir]; !ok {
			t.Errorf("%s: the package map lists %s, which is not a package of the module", docPath, dir)
		}
	}
}

func TestPackageMapImports(t *testing.T) {
	pkgs, doc := load(t)
	for dir, p := range pkgs {
		listed, ok := doc.packages[dir]
		if !ok {
			continue // TestPackageMapListsEveryPackage reports it
		}
		for imp := range p.imports {
			if !slices.Contains(listed, imp) {
				t.Errorf("%s: %s imports %s, which its row in the package map does not list", docPath, dir, imp)
			}
		}
		for _, imp := range listed {
			if !p.imports[imp] {
				t.Errorf("%s: the package map says %s imports %s, but it does not (any more)", docPath, dir, imp)
			}
		}
	}
}

func TestEveryPackageHasDocComment(t *testing.T) {
	pkgs, _ := load(t)
	for dir, p := range pkgs {
		if !p.hasDoc {
			t.Errorf("package %s has no package doc comment (add a doc.go or one at the top of its main file)", dir)
		}
	}
}

func TestGoroutineInventoryMatchesCode(t *testing.T) {
	pkgs, doc := load(t)
	var code []string
	for _, p := range pkgs {
		code = append(code, p.gos...)
	}
	if len(code) != len(doc.gos) {
		t.Errorf("%s: the goroutine inventory has %d rows; non-test code has %d go statements", docPath, len(doc.gos), len(code))
	}
	want, have := count(code), count(doc.gos)
	for k, n := range want {
		if have[k] < n {
			t.Errorf("%s: %d go statement(s) in %s, %d row(s) in the goroutine inventory: add who starts it, what it owns and how it ends", docPath, n, k, have[k])
		}
	}
	for k, n := range have {
		if want[k] < n {
			t.Errorf("%s: %d row(s) for %s in the goroutine inventory, %d go statement(s) in the code", docPath, n, k, want[k])
		}
	}
	if len(code) == 0 {
		t.Fatal("found no go statement at all: the scan is broken")
	}
}

// TestParsersSeeRows guards the test itself: a document whose tables the
// parser no longer recognises must not pass as an empty one.
func TestParsersSeeRows(t *testing.T) {
	doc, err := parseDoc(strings.NewReader(strings.Join([]string{
		"## 2. Goroutine inventory",
		"| go statement (file:function) | started by | owns | ends |",
		"|---|---|---|---|",
		"| `internal/a/a.go:T.run` | x | y | z |",
		"| `internal/a/a.go:T.run` | x | y | z |",
		"## 3. Package map",
		"| package | what it is | imports |",
		"|---|---|---|",
		"| `internal/a` | a thing, `not` an import | `stomp`, `rooms/feed` |",
		"| `cmd/b` | b | none |",
		"## 4. Other",
		"| `internal/c` | not in the map | none |",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.gos, []string{"internal/a/a.go:T.run", "internal/a/a.go:T.run"}) {
		t.Errorf("goroutine rows: got %q", doc.gos)
	}
	if len(doc.packages) != 2 || !slices.Equal(doc.packages["internal/a"], []string{"internal/stomp", "internal/rooms/feed"}) ||
		len(doc.packages["cmd/b"]) != 0 {
		t.Errorf("package rows: got %q", doc.packages)
	}
}

// count counts equal strings.
func count(xs []string) map[string]int {
	m := map[string]int{}
	for _, x := range xs {
		m[x]++
	}
	return m
}

// loaded is the module and the document, read once for all the tests.
var loaded struct {
	once sync.Once
	pkgs map[string]*goPackage
	doc  *archDoc
	err  error
}

// load returns the module's packages and the document.
func load(t *testing.T) (map[string]*goPackage, *archDoc) {
	t.Helper()
	loaded.once.Do(func() { loaded.pkgs, loaded.doc, loaded.err = read() })
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	return loaded.pkgs, loaded.doc
}

// read scans the module and parses the document.
func read() (map[string]*goPackage, *archDoc, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, nil, err
	}
	pkgs, err := scanModule(root)
	if err != nil {
		return nil, nil, err
	}
	if len(pkgs) < 10 {
		return nil, nil, fmt.Errorf("found only %d packages under %s: the scan is broken", len(pkgs), root)
	}
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(docPath)))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	doc, err := parseDoc(f)
	return pkgs, doc, err
}

// moduleRoot finds the directory of the module's go.mod above the test's
// working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module "+modulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// scanModule parses every Go file of the module under root, by directory.
func scanModule(root string) (map[string]*goPackage, error) {
	pkgs := map[string]*goPackage{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		dir := pathDir(rel)
		p := pkgs[dir]
		if p == nil {
			p = &goPackage{dir: dir, imports: map[string]bool{}}
			pkgs[dir] = p
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Doc != nil && docNamesPackage(f) {
			p.hasDoc = true
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil
		}
		for _, imp := range f.Imports {
			v, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if dep, ok := strings.CutPrefix(v, modulePath+"/"); ok {
				p.imports[dep] = true
			}
		}
		p.gos = append(p.gos, goStatements(rel, f)...)
		return nil
	})
	return pkgs, err
}

// pathDir is the slash-separated directory of a slash-separated path.
func pathDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

// docNamesPackage reports whether f's package comment is a proper one:
// "Package <name> ..." or, for a command, "Command <name> ...".
func docNamesPackage(f *ast.File) bool {
	text := f.Doc.Text()
	if f.Name.Name == "main" {
		return strings.HasPrefix(text, "Command ")
	}
	return strings.HasPrefix(text, "Package "+f.Name.Name+" ")
}

// goStatements returns "file:function" for each go statement of f, the
// function being the enclosing top-level one ("Type.method" for a
// method).
func goStatements(rel string, f *ast.File) []string {
	var out []string
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := funcName(fd)
		ast.Inspect(fd, func(n ast.Node) bool {
			if _, ok := n.(*ast.GoStmt); ok {
				out = append(out, rel+":"+name)
			}
			return true
		})
	}
	// a go statement outside any function cannot exist, but one in a
	// package-level var's function literal can
	for _, decl := range f.Decls {
		if gd, ok := decl.(*ast.GenDecl); ok {
			ast.Inspect(gd, func(n ast.Node) bool {
				if _, ok := n.(*ast.GoStmt); ok {
					out = append(out, rel+":(package level)")
				}
				return true
			})
		}
	}
	return out
}

// funcName names a function declaration: "Name" or "Type.Name".
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fmt.Sprintf("%T.%s", t, fd.Name.Name)
}

var (
	goRowRE   = regexp.MustCompile("^\\| `([^`]+\\.go:[^`]+)` \\|")
	pkgRowRE  = regexp.MustCompile("^\\| `([^`]+)` \\|")
	backticks = regexp.MustCompile("`([^`]+)`")
)

// parseDoc reads the goroutine inventory and the package map: the table
// rows under the headings that name them, up to the next heading.
func parseDoc(r io.Reader) (*archDoc, error) {
	doc := &archDoc{packages: map[string][]string{}}
	sc := bufio.NewScanner(r)
	section := ""
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			switch {
			case strings.Contains(line, "Goroutine inventory"):
				section = "goroutines"
			case strings.Contains(line, "Package map"):
				section = "packages"
			default:
				section = ""
			}
			continue
		}
		switch section {
		case "goroutines":
			if m := goRowRE.FindStringSubmatch(line); m != nil {
				doc.gos = append(doc.gos, m[1])
			}
		case "packages":
			m := pkgRowRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			cells := strings.Split(strings.Trim(line, "| "), "|")
			if len(cells) < 3 {
				return nil, fmt.Errorf("package map row %q: want package | what it is | imports", line)
			}
			if _, dup := doc.packages[m[1]]; dup {
				return nil, fmt.Errorf("package map lists %s twice", m[1])
			}
			var imports []string
			for _, im := range backticks.FindAllStringSubmatch(cells[len(cells)-1], -1) {
				imports = append(imports, "internal/"+im[1])
			}
			doc.packages[m[1]] = imports
		}
	}
	return doc, sc.Err()
}
