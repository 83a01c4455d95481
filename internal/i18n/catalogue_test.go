package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// declaredCodes finds every code the server can put in an error: each
// string constant named Code* in a non-test file of the module's
// internal packages, by parsing the source, so that a new code needs no
// list to be kept by hand. It returns where each code is declared.
func declaredCodes(t *testing.T) map[string]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	codes := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !codeName.MatchString(name.Name) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(root, path)
					codes[v] = rel + ": " + name.Name
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

// codeName matches the names of error code constants.
var codeName = regexp.MustCompile(`^Code[A-Z]`)

// TestEveryCodeTranslated: every code declared anywhere has its text in
// Korean and English; the scan finds the codes known today (so that it
// cannot pass by finding nothing); and the catalogue holds no text for a
// code that no longer exists.
func TestEveryCodeTranslated(t *testing.T) {
	codes := declaredCodes(t)
	for _, known := range []string{"bad_request", "not_found", "forbidden", "internal", "rate_limited",
		"subscribe_refused", "subscription_ended", "room_unavailable", "reply_too_large", "not_stored", "busy", "unavailable"} {
		if _, ok := codes[known]; !ok {
			t.Errorf("the scan did not find code %q", known)
		}
	}
	var names []string
	for c := range codes {
		names = append(names, c)
	}
	sort.Strings(names)
	t.Logf("%d codes: %v", len(names), names)
	for _, c := range names {
		for _, l := range Supported() {
			if !Has(l, c) {
				t.Errorf("code %q (%s) has no %s text in the catalogue", c, codes[c], l)
			}
		}
	}
	for _, k := range Keys() {
		code, _, _ := strings.Cut(k, ".")
		if _, ok := codes[code]; !ok {
			t.Errorf("catalogue key %q: no Code* constant declares %q", k, code)
		}
	}
}

// placeholder matches a {name} to fill in.
var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// TestTextsComplete: every entry has both languages, with the same
// {name} values to fill in.
func TestTextsComplete(t *testing.T) {
	for k, tx := range catalogue {
		if tx.en == "" || tx.ko == "" {
			t.Errorf("%s: en %q, ko %q", k, tx.en, tx.ko)
			continue
		}
		en, ko := placeholder.FindAllString(tx.en, -1), placeholder.FindAllString(tx.ko, -1)
		sort.Strings(en)
		sort.Strings(ko)
		if strings.Join(en, " ") != strings.Join(ko, " ") {
			t.Errorf("%s: English fills %v, Korean %v", k, en, ko)
		}
		if !strings.ContainsFunc(tx.ko, func(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 }) {
			t.Errorf("%s: the Korean text %q has no Hangul", k, tx.ko)
		}
	}
}
