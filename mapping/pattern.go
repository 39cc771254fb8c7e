package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// pattern matches tag names. Syntax (documented in doc.go):
//
//	re:<expr>  a Go regexp (RE2), unanchored, matched against the tag as written
//	otherwise  a glob over the whole tag, compared after Key (case and width
//	           folded): * matches any run of characters, ? exactly one
type pattern struct {
	text string
	re   *regexp.Regexp
	glob bool // match against Key(s) rather than s
}

func compilePattern(s string) (pattern, error) {
	if s == "" {
		return pattern{}, errors.New("empty pattern")
	}
	if expr, ok := strings.CutPrefix(s, "re:"); ok {
		re, err := regexp.Compile(expr)
		if err != nil {
			return pattern{}, fmt.Errorf("invalid regexp %q: %w", expr, err)
		}
		return pattern{text: s, re: re}, nil
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, r := range Key(s) {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil { // cannot happen: every literal is quoted
		return pattern{}, fmt.Errorf("invalid glob %q: %w", s, err)
	}
	return pattern{text: s, re: re, glob: true}, nil
}

func (p pattern) match(s, key string) bool {
	if p.glob {
		return p.re.MatchString(key)
	}
	return p.re.MatchString(s)
}

// matchAny reports whether any pattern matches the tag s (with key Key(s)).
func matchAny(ps []pattern, s, key string) bool {
	for _, p := range ps {
		if p.match(s, key) {
			return true
		}
	}
	return false
}

// rank returns the index of the first pattern that matches, or len(ps).
func rank(ps []pattern, s, key string) int {
	for i, p := range ps {
		if p.match(s, key) {
			return i
		}
	}
	return len(ps)
}
