package telegramtest

import (
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// htmlTags maps each tag the Bot API's HTML mode accepts to its entity type.
var htmlTags = map[string]string{
	"b": "bold", "strong": "bold",
	"i": "italic", "em": "italic",
	"u": "underline", "ins": "underline",
	"s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
	"a": "text_link", "code": "code", "pre": "pre",
	"span": "spoiler", "tg-spoiler": "spoiler",
	"blockquote": "blockquote",
}

// ParseHTML parses text the way sendMessage does with parse_mode=HTML and
// returns what the recipient sees: the text without tags and with entities
// decoded, and the formatting entities (offsets and lengths in UTF-16 code
// units, as the Bot API counts them). The error is an *HTMLError holding the
// part of the Bot API's description after "Bad Request: can't parse
// entities: ", with a byte offset into text, as Telegram gives it. The bot's
// own tests can use it to check every reply without a server.
//
// It is stricter than Telegram in one way, on purpose: a "&" that does not
// start &lt; &gt; &amp; &quot; or a numeric entity is refused (Telegram
// would show it as typed), because it means a reply was built without
// escaping what a user typed. A "<" that does not start an accepted tag is
// refused by both. Attributes are read as Telegram reads them; only href on
// <a> and class="tg-spoiler" on <span> mean anything.
func ParseHTML(text string) (plain string, entities []tgbotapi.MessageEntity, err error) {
	p := htmlParser{src: text}
	if err := p.parse(); err != nil {
		return "", nil, err
	}
	// Outer entities first, as Telegram lists them: by offset, then longer
	// first, then the one opened first.
	sort.SliceStable(p.entities, func(i, j int) bool {
		a, b := p.entities[i], p.entities[j]
		if a.Offset != b.Offset {
			return a.Offset < b.Offset
		}
		if a.Length != b.Length {
			return a.Length > b.Length
		}
		return a.order < b.order
	})
	out := make([]wireEntity, len(p.entities))
	for i, e := range p.entities {
		out[i] = e.wireEntity
	}
	return p.out.String(), toLibEntities(out), nil
}

// HTMLError is why ParseHTML refused a text, worded as the Bot API words it
// after "Bad Request: can't parse entities: " (hence the capital letter).
type HTMLError struct {
	Description string
}

func (e *HTMLError) Error() string { return e.Description }

func htmlErrorf(format string, args ...any) error {
	return &HTMLError{Description: fmt.Sprintf(format, args...)}
}

type openTag struct {
	name  string
	start int // UTF-16 offset in the output
	href  string
	order int // how many tags opened before this one
}

type parsedEntity struct {
	wireEntity
	order int
}

type htmlParser struct {
	src      string
	out      strings.Builder
	units    int // UTF-16 length of out
	stack    []openTag
	entities []parsedEntity
	opened   int
}

func (p *htmlParser) emit(s string) {
	p.out.WriteString(s)
	p.units += utf16Len(s)
}

func (p *htmlParser) parse() error {
	src := p.src
	for i := 0; i < len(src); {
		switch src[i] {
		case '&':
			s, n, ok := decodeEntity(src[i:])
			if !ok {
				return htmlErrorf(`Character "&" at byte offset %d does not start an entity: write it as &amp;`, i)
			}
			p.emit(s)
			i += n
		case '<':
			var err error
			if i+1 < len(src) && src[i+1] == '/' {
				i, err = p.endTag(i)
			} else {
				i, err = p.startTag(i)
			}
			if err != nil {
				return err
			}
		default:
			_, n := utf8.DecodeRuneInString(src[i:])
			p.emit(src[i : i+n])
			i += n
		}
	}
	if len(p.stack) > 0 {
		return htmlErrorf(`Can't find end tag corresponding to start tag "%s"`, p.stack[len(p.stack)-1].name)
	}
	return nil
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// startTag reads "<name attr=value …>" at begin and returns where it ends.
func (p *htmlParser) startTag(begin int) (int, error) {
	src := p.src
	i := begin + 1
	for i < len(src) && !isSpaceByte(src[i]) && src[i] != '>' {
		i++
	}
	if i >= len(src) {
		return 0, htmlErrorf("Unclosed start tag at byte offset %d", begin)
	}
	name := strings.ToLower(src[begin+1 : i])
	if _, ok := htmlTags[name]; !ok {
		return 0, htmlErrorf(`Unsupported start tag "%s" at byte offset %d`, name, begin)
	}
	tag := openTag{name: name, start: p.units, order: p.opened}
	p.opened++
	class := ""
	for {
		for i < len(src) && isSpaceByte(src[i]) {
			i++
		}
		if i >= len(src) {
			return 0, htmlErrorf(`Unclosed start tag "%s" at byte offset %d`, name, begin)
		}
		if src[i] == '>' {
			i++
			break
		}
		attrStart := i
		for i < len(src) && isNameByte(src[i]) {
			i++
		}
		attr := strings.ToLower(src[attrStart:i])
		if attr == "" {
			return 0, htmlErrorf(`Empty attribute name in the tag "%s" at byte offset %d`, name, begin)
		}
		for i < len(src) && isSpaceByte(src[i]) {
			i++
		}
		value := ""
		if i < len(src) && src[i] == '=' {
			i++
			for i < len(src) && isSpaceByte(src[i]) {
				i++
			}
			if i >= len(src) {
				return 0, htmlErrorf(`Unclosed start tag "%s" at byte offset %d`, name, begin)
			}
			if q := src[i]; q == '"' || q == '\'' {
				end := strings.IndexByte(src[i+1:], q)
				if end < 0 {
					return 0, htmlErrorf("Unclosed start tag at byte offset %d", begin)
				}
				value = html.UnescapeString(src[i+1 : i+1+end])
				i += end + 2
			} else {
				valueStart := i
				for i < len(src) && !isSpaceByte(src[i]) && src[i] != '>' {
					i++
				}
				value = html.UnescapeString(src[valueStart:i])
			}
		}
		switch attr {
		case "href":
			tag.href = value
		case "class":
			class = value
		}
	}
	if name == "span" && class != "tg-spoiler" {
		return 0, htmlErrorf(`Tag "span" must have class "tg-spoiler" at byte offset %d`, begin)
	}
	p.stack = append(p.stack, tag)
	return i, nil
}

// endTag reads "</name>" (or "</>", which closes whatever is open).
func (p *htmlParser) endTag(begin int) (int, error) {
	src := p.src
	i := begin + 2
	for i < len(src) && !isSpaceByte(src[i]) && src[i] != '>' {
		i++
	}
	name := strings.ToLower(src[begin+2 : i])
	for i < len(src) && isSpaceByte(src[i]) {
		i++
	}
	if i >= len(src) || src[i] != '>' {
		if len(p.stack) == 0 {
			return 0, htmlErrorf("Unexpected end tag at byte offset %d", begin)
		}
		return 0, htmlErrorf("Unclosed end tag at byte offset %d", begin)
	}
	if len(p.stack) == 0 {
		return 0, htmlErrorf("Unexpected end tag at byte offset %d", begin)
	}
	top := p.stack[len(p.stack)-1]
	if name != "" && name != top.name {
		return 0, htmlErrorf(`Unmatched end tag at byte offset %d, expected "</%s>", found "</%s>"`, begin, top.name, name)
	}
	p.stack = p.stack[:len(p.stack)-1]
	if length := p.units - top.start; length > 0 {
		e := wireEntity{Type: htmlTags[top.name], Offset: top.start, Length: length}
		if top.name == "a" {
			e.URL = top.href
		}
		if e.Type != "text_link" || e.URL != "" {
			p.entities = append(p.entities, parsedEntity{e, top.order})
		}
	}
	return i + 1, nil
}

// decodeEntity decodes the entity at the start of s ("&…;"), returning the
// text and the bytes used.
func decodeEntity(s string) (string, int, bool) {
	end := strings.IndexByte(s, ';')
	if end < 0 || end > 12 {
		return "", 0, false
	}
	switch name := s[1:end]; name {
	case "lt":
		return "<", end + 1, true
	case "gt":
		return ">", end + 1, true
	case "amp":
		return "&", end + 1, true
	case "quot":
		return `"`, end + 1, true
	default:
		if len(name) < 2 || name[0] != '#' {
			return "", 0, false
		}
		digits, base := name[1:], 10
		if digits[0] == 'x' || digits[0] == 'X' {
			digits, base = digits[1:], 16
		}
		if digits == "" || digits[0] == '+' || digits[0] == '-' {
			return "", 0, false
		}
		n, err := strconv.ParseUint(digits, base, 32)
		r := rune(n)
		if err != nil || n == 0 || !utf8.ValidRune(r) {
			return "", 0, false
		}
		return string(r), end + 1, true
	}
}

// utf16Len counts s in UTF-16 code units, as Telegram measures text.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
