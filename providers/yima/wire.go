package yima

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillworks/posd/internal/strictjson"
)

// A request is a list of fields in the order sent, the same in both
// formats: in JSON an object, in XML the children of <business_trans>.

// field is one node of a request.
type field struct {
	name string
	text string  // a leaf's value
	num  bool    // JSON: the text is a number, sent unquoted
	json []byte  // a JSON value sent as it is in JSON, as CDATA text in XML
	kids []field // a nested object
	// cdata wraps the text in CDATA in XML, where the documents do.
	cdata bool
}

func str(name, v string) field { return field{name: name, text: v} }
func num(name string, v int64) field {
	return field{name: name, text: strconv.FormatInt(v, 10), num: true}
}

// encodeJSON writes fields as one compact JSON object, in their order.
func encodeJSON(fields []field) []byte {
	var b bytes.Buffer
	writeJSONObject(&b, fields)
	return b.Bytes()
}

func writeJSONObject(b *bytes.Buffer, fields []field) {
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, f.name)
		b.WriteByte(':')
		switch {
		case f.kids != nil:
			writeJSONObject(b, f.kids)
		case f.json != nil:
			b.Write(f.json)
		case f.num:
			b.WriteString(f.text)
		default:
			writeJSONString(b, f.text)
		}
	}
	b.WriteByte('}')
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Truncate(b.Len() - 1) // the encoder's newline
}

// gbk is the encoding the documents declare for XML.
var gbk = simplifiedchinese.GBK

// encodeXML writes fields as a GBK document under <business_trans>, as the
// documents show it. A character GBK cannot encode (an emoji in a goods
// name) is sent as '?', and characters XML 1.0 forbids are dropped: the
// message must stay a valid GBK document.
func encodeXML(fields []field) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="GBK"?><business_trans>`)
	writeXMLFields(&b, fields)
	b.WriteString(`</business_trans>`)
	out, err := gbk.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("yima: encoding the request in GBK: %v", err)
	}
	return out, nil
}

func writeXMLFields(b *bytes.Buffer, fields []field) {
	for _, f := range fields {
		b.WriteString("<" + f.name + ">")
		switch {
		case f.kids != nil:
			writeXMLFields(b, f.kids)
		case f.json != nil:
			writeCDATA(b, string(gbkSafe(f.json)))
		case f.cdata:
			writeCDATA(b, string(gbkSafe([]byte(f.text))))
		default:
			xml.EscapeText(b, gbkSafe([]byte(f.text)))
		}
		b.WriteString("</" + f.name + ">")
	}
}

// writeCDATA wraps s in CDATA, splitting any "]]>" inside it.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}

// gbkSafe replaces what GBK cannot encode with '?' and drops what XML
// cannot carry.
func gbkSafe(s []byte) []byte {
	enc := gbk.NewEncoder()
	out := make([]byte, 0, len(s))
	for _, r := range string(s) {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r < 0xE000):
			continue
		case r >= 0x80:
			if _, err := enc.String(string(r)); err != nil {
				r = '?'
			}
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// node is a parsed answer, the same for both formats: a leaf's text, or
// an object's children by name. Unknown nodes are kept and never looked
// at: the documents warn that new ones appear without notice.
type node struct {
	text string
	kids map[string]*node
	raw  []byte // JSON only: the value's bytes as received
}

// get returns the text at path ("" when absent).
func (n *node) get(path ...string) string {
	for _, p := range path {
		if n == nil || n.kids == nil {
			return ""
		}
		n = n.kids[p]
	}
	if n == nil {
		return ""
	}
	return n.text
}

// child returns the object at name, or nil.
func (n *node) child(name string) *node {
	if n == nil || n.kids == nil {
		return nil
	}
	if c := n.kids[name]; c != nil && c.kids != nil {
		return c
	}
	return nil
}

// Limits on an answer's shape, so that a hostile one cannot exhaust memory.
const (
	maxDepth = 16
	maxNodes = 4096
)

// ErrParse is wrapped by every error reading an answer.
var ErrParse = errors.New("unreadable answer")

// parseJSON reads a JSON answer: one object, no key twice (strictjson).
func parseJSON(raw []byte) (*node, error) {
	// json.Unmarshal reports where a syntax error is; the decoders below
	// count from their buffer instead.
	var whole json.RawMessage
	if err := json.Unmarshal(raw, &whole); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, jsonErr(raw, err))
	}
	if err := strictjson.Check(raw, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, jsonErr(raw, err))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var count int
	n, err := readJSON(dec, raw, 0, &count)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, jsonErr(raw, err))
	}
	if n.kids == nil {
		return nil, fmt.Errorf("%w: the answer is not a JSON object", ErrParse)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrParse)
	}
	return n, nil
}

// jsonErr names the byte offset of a syntax error, so that a vendor's
// typo (a trailing comma, a broken quote) reads as what it is.
func jsonErr(raw []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		at := int(min(se.Offset, int64(len(raw))))
		line := 1 + bytes.Count(raw[:max(at-1, 0)], []byte("\n")) // Offset counts the byte at fault
		return fmt.Errorf("invalid JSON at byte %d, line %d (%v), after `%s`", se.Offset, line, se, excerpt(raw, at))
	}
	return err
}

// excerpt is the text before byte at, on one line.
func excerpt(b []byte, at int) string {
	lo := max(0, at-24)
	for lo > 0 && lo < at && !utf8.RuneStart(b[lo]) {
		lo++
	}
	return strings.Join(strings.Fields(string(b[lo:at])), " ")
}

func readJSON(dec *json.Decoder, raw []byte, depth int, count *int) (*node, error) {
	if *count++; *count > maxNodes || depth > maxDepth {
		return nil, errors.New("the answer is nested too deep or too large")
	}
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			for dec.More() {
				if _, err := readJSON(dec, raw, depth+1, count); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			v := bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,:")
			return &node{text: compact(v), raw: v}, nil
		}
		n := &node{kids: map[string]*node{}}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			c, err := readJSON(dec, raw, depth+1, count)
			if err != nil {
				return nil, err
			}
			n.kids[k.(string)] = c
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		n.raw = bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,:")
		n.text = compact(n.raw)
		return n, nil
	case string:
		return &node{text: t}, nil
	case json.Number:
		return &node{text: t.String()}, nil
	case bool:
		return &node{text: strconv.FormatBool(t)}, nil
	}
	return &node{}, nil // null
}

func compact(b []byte) string {
	var c bytes.Buffer
	if json.Compact(&c, b) != nil {
		return string(b)
	}
	return c.String()
}

// parseXML reads an XML answer under <business_trans>. The bytes must be
// valid in the encoding the declaration names (GBK, as the documents
// declare, or UTF-8 when it names none); an invalid byte is an error
// naming its offset, never a silent U+FFFD in a trade number.
func parseXML(raw []byte) (*node, error) {
	text, err := xmlText(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, err)
	}
	dec := xml.NewDecoder(bytes.NewReader(text))
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		return r, nil // xmlText has checked the label and decoded the bytes to UTF-8
	}
	var stack []*node
	var names []string
	var root *node
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: invalid XML: %w", ErrParse, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if count++; count > maxNodes || len(stack) >= maxDepth {
				return nil, fmt.Errorf("%w: the answer is nested too deep or too large", ErrParse)
			}
			n := &node{}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%w: more than one root element", ErrParse)
				}
				if t.Name.Local != "business_trans" {
					return nil, fmt.Errorf("%w: the root element is <%s>, not <business_trans>", ErrParse, t.Name.Local)
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				if parent.kids == nil {
					parent.kids = map[string]*node{}
				}
				if _, dup := parent.kids[t.Name.Local]; dup {
					return nil, fmt.Errorf("%w: ambiguous answer: <%s> appears twice in <%s>", ErrParse, t.Name.Local, names[len(names)-1])
				}
				parent.kids[t.Name.Local] = n
			}
			stack, names = append(stack, n), append(names, t.Name.Local)
		case xml.EndElement:
			n := stack[len(stack)-1]
			if n.kids != nil {
				n.text = "" // an element with children has no value of its own
			}
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: text outside <business_trans>", ErrParse)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no <business_trans> element", ErrParse)
	}
	if root.kids == nil {
		root.kids = map[string]*node{}
	}
	trimLeaves(root)
	return root, nil
}

func trimLeaves(n *node) {
	if n.kids == nil {
		n.text = strings.TrimSpace(n.text)
		return
	}
	for _, c := range n.kids {
		trimLeaves(c)
	}
}

// xmlText checks raw against the encoding its declaration names and
// returns it as UTF-8.
func xmlText(raw []byte) ([]byte, error) {
	label := "utf-8"
	if bytes.HasPrefix(raw, []byte("<?xml")) {
		end := bytes.Index(raw, []byte("?>"))
		if end < 0 {
			return nil, errors.New("the XML declaration is not closed")
		}
		if l, ok := declared(string(raw[:end])); ok {
			label = strings.ToLower(l)
		}
	}
	var dec *encoding.Decoder
	switch label {
	case "utf-8", "utf8":
		if i := invalidUTF8(raw); i >= 0 {
			return nil, fmt.Errorf("the answer is declared UTF-8 but byte %d (0x%02X) is not valid UTF-8", i, raw[i])
		}
		return raw, nil
	case "gbk", "gb2312", "cp936", "x-gbk":
		dec = gbk.NewDecoder()
		if i := invalidGBK(raw); i >= 0 {
			return nil, fmt.Errorf("the answer is declared %s but byte %d (0x%02X) is not valid GBK", label, i, raw[i])
		}
	case "gb18030":
		dec = simplifiedchinese.GB18030.NewDecoder()
		if i := invalidGB18030(raw); i >= 0 {
			return nil, fmt.Errorf("the answer is declared GB18030 but byte %d (0x%02X) is not valid GB18030", i, raw[i])
		}
	default:
		return nil, fmt.Errorf("the answer declares encoding %q; posd reads GBK, GB18030 and UTF-8", label)
	}
	return dec.Bytes(raw)
}

// declared returns the encoding named in an XML declaration.
func declared(decl string) (string, bool) {
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return "", false
	}
	q := rest[0]
	end := strings.IndexByte(rest[1:], q)
	if end < 0 {
		return "", false
	}
	return rest[1 : 1+end], true
}

func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// invalidGBK returns the offset of the first byte that does not start a
// character GBK defines, or -1: a lead byte 0x81–0xFE with a trail byte
// 0x40–0xFE other than 0x7F, mapped to a character (0x80 is the euro sign
// in Microsoft's GBK, which x/text follows).
func invalidGBK(b []byte) int {
	dec := gbk.NewDecoder()
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
			continue
		case c == 0x80:
			i++
			continue
		case c == 0xFF || i+1 >= len(b):
			return i
		}
		t := b[i+1]
		if t < 0x40 || t == 0x7F || t == 0xFF {
			return i
		}
		if s, err := dec.Bytes(b[i : i+2]); err != nil || string(s) == "\uFFFD" {
			return i
		}
		i += 2
	}
	return -1
}

// invalidGB18030 is invalidGBK with GB18030's four-byte sequences.
func invalidGB18030(b []byte) int {
	dec := simplifiedchinese.GB18030.NewDecoder()
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			i++
			continue
		}
		if c == 0x80 || c == 0xFF || i+1 >= len(b) {
			return i
		}
		n := 2
		if t := b[i+1]; t >= 0x30 && t <= 0x39 {
			n = 4
		}
		if i+n > len(b) {
			return i
		}
		if s, err := dec.Bytes(b[i : i+n]); err != nil || string(s) == "\uFFFD" {
			return i
		}
		i += n
	}
	return -1
}
