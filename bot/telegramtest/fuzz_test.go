package telegramtest

import (
	"html"
	"testing"
	"unicode/utf8"
)

// FuzzParseHTML checks that the HTML checker never panics, that entities it
// reports lie inside the text, and that text escaped the way a bot should
// escape user input always passes and reads back unchanged.
func FuzzParseHTML(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "<b>x</b>", "<b><i>x</b></i>", "a < b", "Tom & Jerry", "&lt;&#128512;&#x1F600;",
		`<a href="https://x.y/?a=1&amp;b">l</a>`, `<span class="tg-spoiler">s</span>`, "<i =x>", "</>", "<b>x</>",
		"😀<b>é😀</b>", "<pre><code class=\"language-go\">x</code></pre>", "&#xD800;", "<a href='", "\xff<b>\xfe</b>",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain, entities, err := ParseHTML(s)
		if err == nil {
			n := utf16Len(plain)
			for _, e := range entities {
				if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > n {
					t.Fatalf("ParseHTML(%q): entity %+v outside text of %d units", s, e, n)
				}
			}
		}
		escaped := "<b>" + html.EscapeString(s) + "</b>"
		plain, entities, err = ParseHTML(escaped)
		if err != nil {
			t.Fatalf("escaped text refused: ParseHTML(%q): %v", escaped, err)
		}
		if plain != s {
			t.Fatalf("escaped text reads back as %q, want %q", plain, s)
		}
		if s != "" && (len(entities) != 1 || entities[0].Length != utf16Len(s)) && utf8.ValidString(s) {
			t.Fatalf("escaped %q: entities %+v, want one bold over all", s, entities)
		}
	})
}
