package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path such as jobs[1].schedule; "" for the whole file
	Msg  string
}

// String formats the problem as "file:line: key: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is returned by Load for an invalid configuration. Its message is the
// first problem on one line; Problems holds them all.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	msg := e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more; run crmsync check-config)", n)
	}
	return msg
}

// ErrInvalid is the class of every configuration error: errors.Is(err, ErrInvalid).
var ErrInvalid = errors.New("invalid configuration")

// Is makes errors.Is(err, ErrInvalid) true for *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Option changes how Load and Parse validate.
type Option func(*loader)

// WithoutSecrets loads a configuration for commands that call no API
// (status): no service's token, API key or ${VAR} is needed. Secrets written
// literally in the file are still refused.
func WithoutSecrets() Option {
	return func(l *loader) { l.noSecrets = true }
}

// ForRun loads a configuration for a command that runs only the named jobs
// or steps (crmsync run JOB|STEP…, backfill): the secrets and the ${VAR}s of
// services they do not call are not needed (a backfill needs the Omnichat
// token, not the LINE or Okeybot ones). A name that is neither a job nor a
// step needs nothing; the command reports it. Without ForRun every service
// some job calls is needed.
func ForRun(names ...string) Option {
	return func(l *loader) { l.runNames, l.forRun = names, true }
}

// Load reads, expands, decodes, defaults and validates the file at path.
// getenv supplies the environment (os.Getenv in production).
func Load(path string, getenv func(string) string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}}}
	}
	return Parse(path, data, getenv, opts...)
}

// Parse is Load for configuration already in memory; name is used in messages.
func Parse(name string, data []byte, getenv func(string) string, opts ...Option) (*Config, error) {
	l := &loader{file: name, getenv: getenv, lines: map[string]int{}, unset: map[string][]string{}, raw: map[string]string{}}
	for _, o := range opts {
		o(l)
	}
	cfg, err := l.load(data)
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	return cfg, nil
}

type loader struct {
	noSecrets bool     // WithoutSecrets
	forRun    bool     // ForRun
	runNames  []string // ForRun's jobs and steps
	needed    map[string]bool
	file      string
	getenv    func(string) string
	lines     map[string]int      // key path → line
	unset     map[string][]string // key path → environment variables referenced but unset
	raw       map[string]string   // key path → the value as written, before expansion
	probs     []Problem
}

func (l *loader) addf(key, format string, args ...any) {
	l.probs = append(l.probs, Problem{File: l.file, Line: l.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of key, or of its nearest parent that has one.
func (l *loader) lineOf(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if n, ok := l.lines[k]; ok {
			return n
		}
	}
	return 0
}

func parentKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i >= 0 {
			return k[:i]
		}
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

func (l *loader) load(data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []Problem{l.yamlProblem(err)}}
	}
	cfg := &Config{}
	if root.Kind == 0 { // empty file
		l.applyDefaults(cfg)
		l.validate(cfg)
		return l.result(cfg)
	}

	l.walk(&root, "") // records every key's line and expands ${VAR}

	// Unknown keys are structural: find them in the text as written, so the
	// line numbers are the user's.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var probe Config
	if err := dec.Decode(&probe); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Error{Problems: []Problem{l.yamlProblem(err)}}
		}
		for _, msg := range te.Errors {
			if strings.Contains(msg, " not found in type ") {
				l.probs = append(l.probs, l.unknownKey(msg))
			}
		}
		if len(l.probs) > 0 {
			return nil, &Error{Problems: l.probs}
		}
	}

	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				l.probs = append(l.probs, l.typeProblem(msg))
			}
			return nil, &Error{Problems: l.probs}
		}
		return nil, &Error{Problems: []Problem{l.yamlProblem(err)}}
	}
	l.applyDefaults(cfg)
	l.validate(cfg)
	return l.result(cfg)
}

func (l *loader) result(cfg *Config) (*Config, error) {
	if len(l.probs) > 0 {
		sort.SliceStable(l.probs, func(i, j int) bool { return l.probs[i].Line < l.probs[j].Line })
		return nil, &Error{Problems: l.probs}
	}
	return cfg, nil
}

var (
	yamlLineRe    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	notFoundRe    = regexp.MustCompile(`field (\S+) not found in type \w+\.(\w+)`)
	envRefRe      = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)
	cannotUnmarRe = regexp.MustCompile("cannot unmarshal !!(\\w+) `([^`]*)` into (\\S+)")
)

func (l *loader) yamlProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{File: l.file, Line: n, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{File: l.file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (l *loader) unknownKey(msg string) Problem {
	p := l.yamlProblem(errors.New(msg))
	m := notFoundRe.FindStringSubmatch(msg)
	if m == nil {
		return p
	}
	p.Msg = "unknown key (check the spelling; keys are snake_case)"
	for k, line := range l.lines {
		if line == p.Line && (k == m[1] || strings.HasSuffix(k, "."+m[1])) {
			p.Key = k
			return p
		}
	}
	p.Msg = fmt.Sprintf("unknown key %q (check the spelling; keys are snake_case)", m[1])
	return p
}

func (l *loader) typeProblem(msg string) Problem {
	p := l.yamlProblem(errors.New(msg))
	if m := cannotUnmarRe.FindStringSubmatch(msg); m != nil {
		want := m[3]
		switch want {
		case "time.Duration":
			want = "a duration such as 30s, 15m or 24h"
		case "int":
			want = "a whole number"
		case "float64":
			want = "a number"
		case "bool", "*bool":
			want = "true or false"
		case "[]string":
			want = "a list"
		}
		p.Msg = fmt.Sprintf("%q is not %s", m[2], want)
		for k, line := range l.lines {
			if line == p.Line && (p.Key == "" || len(k) > len(p.Key)) {
				p.Key = k
			}
		}
	}
	return p
}

// written reports whether the file sets key itself (a value, or a ${VAR}).
func (l *loader) written(key string) bool {
	_, ok := l.lines[key]
	return ok
}

// walk records the line of every key, and expands ${VAR} and
// ${VAR:-default} in every scalar value, remembering unset variables.
func (l *loader) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			l.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			l.lines[p] = k.Line
			l.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			l.lines[p] = c.Line
			l.walk(c, p)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		l.raw[path] = n.Value
		n.Value = envRefRe.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRefRe.FindStringSubmatch(ref)
			if v := l.getenv(m[1]); v != "" {
				return v
			}
			if strings.Contains(ref, ":-") {
				return m[2]
			}
			l.unset[path] = append(l.unset[path], m[1])
			return ""
		})
		if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return
		}
		// A plain ${RATE:-40} resolves again after expansion, so it can
		// decode as a number, a duration or a boolean.
		n.Tag = ""
	}
}
