// Package strictjson decodes one JSON document into a Go value strictly, for
// config files and request bodies that a person writes: object keys match
// field names exactly (case included), a key may appear once, an unknown
// key is an error, and nothing but white space may follow the document.
// Its errors speak JSON, never Go: they name the field as a path
// (`backends[1].id`), the line, and what was expected ("string where an
// integer is expected"), so a message can go back to whoever wrote the
// input without leaking the program's types.
//
// It is [github.com/go-json-experiment/json] (the encoding/json/v2
// proposal) with unknown members rejected, plus the error translation.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a decoding error located in the document.
type Error struct {
	// Path names the value in error in the document's own terms:
	// "backends[1].id", "settings.rate", or "" for the document itself.
	Path string
	// Line is the 1-based line the error was found on.
	Line int
	// Msg says what is wrong ("unknown field", "string where an integer
	// is expected", "invalid character 'x' after top-level value").
	Msg string
}

// Error returns "path: msg (line n)", or "line n: msg" without a path.
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s (line %d)", e.Path, e.Msg, e.Line)
}

// Unmarshal decodes data into v (a non-nil pointer) strictly; the error,
// when data is not acceptable, is an [*Error]. An empty document is an
// error with the message "empty".
func Unmarshal(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Line: 1, Msg: "empty"}
	}
	// Syntax first, for the whole input: a document that is not JSON is
	// reported as such, not by the first field that does not fit.
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if _, err := dec.ReadValue(); err != nil {
		return syntaxError(data, err)
	}
	if _, err := dec.ReadValue(); err != io.EOF {
		off := dec.InputOffset()
		var syn *jsontext.SyntacticError
		if errors.As(err, &syn) {
			off = syn.ByteOffset
		}
		return &Error{Line: line(data, off), Msg: "data after the top-level value"}
	}
	err := json.Unmarshal(data, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		return &Error{Path: path(data, sem.JSONPointer), Line: line(data, sem.ByteOffset), Msg: semantic(sem)}
	}
	return syntaxError(data, err)
}

// syntaxError translates an error of jsontext.
func syntaxError(data []byte, err error) error {
	var syn *jsontext.SyntacticError
	if !errors.As(err, &syn) {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return &Error{Line: line(data, int64(len(data))), Msg: "unexpected end of input"}
		}
		return &Error{Line: 1, Msg: "invalid JSON"}
	}
	msg := "invalid JSON"
	switch {
	case errors.Is(syn.Err, jsontext.ErrDuplicateName):
		msg = "duplicate field"
	case errors.Is(syn.Err, io.ErrUnexpectedEOF):
		msg = "unexpected end of input"
	case syn.Err != nil:
		msg = syn.Err.Error()
	}
	return &Error{Path: path(data, syn.JSONPointer), Line: line(data, syn.ByteOffset), Msg: msg}
}

// semantic says what a JSON value of the wrong kind or range should have
// been.
func semantic(e *json.SemanticError) string {
	if errors.Is(e.Err, json.ErrUnknownName) {
		return "unknown field"
	}
	want := expected(e.GoType)
	got := kindName(e.JSONKind)
	if e.JSONKind == '0' && len(e.JSONValue) > 0 {
		got = "number " + string(e.JSONValue)
		if lo, hi, ok := bounds(e.GoType); ok {
			return fmt.Sprintf("%s where an integer from %s to %s is expected", got, lo, hi)
		}
	}
	return fmt.Sprintf("%s where %s is expected", got, want)
}

// kindName names a JSON kind as a person reads it.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

// expected describes what a Go type accepts, in JSON terms.
func expected(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "another value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		if e := t.Elem(); e.Kind() != reflect.Interface {
			return "a list of " + plural(expected(e))
		}
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another value"
}

// plural turns "an integer" into "integers", "true or false" into
// "booleans".
func plural(s string) string {
	switch s {
	case "true or false":
		return "booleans"
	case "a list":
		return "lists"
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "an "), "a ")
	return s + "s"
}

// bounds returns the range of an integer type.
func bounds(t reflect.Type) (lo, hi string, ok bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "", "", false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b := t.Bits()
		return strconv.FormatInt(math.MinInt64>>(64-b), 10), strconv.FormatInt(math.MaxInt64>>(64-b), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "0", strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10), true
	}
	return "", "", false
}

// line is the 1-based line of byte offset off.
func line(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// path turns a JSON pointer ("/backends/1/id") into a path
// ("backends[1].id"), reading the document to tell an array index from
// an object key that looks like a number.
func path(data []byte, p jsontext.Pointer) string {
	var doc any
	docOK := json.Unmarshal(data, &doc, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) == nil
	var b strings.Builder
	for tok := range p.Tokens() {
		index := false
		if docOK {
			switch d := doc.(type) {
			case []any:
				index = true
				if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(d) {
					doc = d[i]
				} else {
					docOK = false
				}
			case map[string]any:
				doc, docOK = d[tok]
			default:
				docOK = false
			}
		}
		if !docOK && !index {
			_, err := strconv.ParseUint(tok, 10, 31)
			index = err == nil && b.Len() > 0
		}
		switch {
		case index:
			b.WriteString("[" + tok + "]")
		case identifier(tok):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		default:
			b.WriteString("[" + strconv.Quote(tok) + "]")
		}
	}
	return b.String()
}

// identifier reports whether a key can be written bare in a path.
func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
