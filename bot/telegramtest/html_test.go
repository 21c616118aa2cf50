package telegramtest

import (
	"errors"
	"reflect"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

func TestParseHTML_Accepts(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		plain    string
		entities []tgbotapi.MessageEntity
	}{
		{"PlainText", "Payment successful > pending", "Payment successful > pending", nil},
		{"Entities", "&lt;b&gt; &amp; &quot;x&quot; &#39;y&#x27; &#128512;", `<b> & "x" 'y' 😀`, nil},
		{"Bold", "<b>KES 100</b> paid", "KES 100 paid", []tgbotapi.MessageEntity{{Type: "bold", Offset: 0, Length: 7}}},
		{"EveryTag", "<b>a</b><strong>b</strong><i>c</i><em>d</em><u>e</u><ins>f</ins><s>g</s><strike>h</strike><del>i</del>" +
			"<code>j</code><pre>k</pre><tg-spoiler>l</tg-spoiler><span class=\"tg-spoiler\">m</span><blockquote>n</blockquote>",
			"abcdefghijklmn", []tgbotapi.MessageEntity{
				{Type: "bold", Offset: 0, Length: 1}, {Type: "bold", Offset: 1, Length: 1},
				{Type: "italic", Offset: 2, Length: 1}, {Type: "italic", Offset: 3, Length: 1},
				{Type: "underline", Offset: 4, Length: 1}, {Type: "underline", Offset: 5, Length: 1},
				{Type: "strikethrough", Offset: 6, Length: 1}, {Type: "strikethrough", Offset: 7, Length: 1},
				{Type: "strikethrough", Offset: 8, Length: 1}, {Type: "code", Offset: 9, Length: 1},
				{Type: "pre", Offset: 10, Length: 1}, {Type: "spoiler", Offset: 11, Length: 1},
				{Type: "spoiler", Offset: 12, Length: 1}, {Type: "blockquote", Offset: 13, Length: 1},
			}},
		{"Nested", "<b>x<i>y</i></b>", "xy", []tgbotapi.MessageEntity{{Type: "bold", Offset: 0, Length: 2}, {Type: "italic", Offset: 1, Length: 1}}},
		{"Link", `<a href="https://example.com/?a=1&amp;b=2">site</a>`, "site",
			[]tgbotapi.MessageEntity{{Type: "text_link", Offset: 0, Length: 4, URL: "https://example.com/?a=1&b=2"}}},
		{"UpperCaseTag", "<B>x</B>", "x", []tgbotapi.MessageEntity{{Type: "bold", Offset: 0, Length: 1}}},
		{"ShortEndTag", "<b>x</>", "x", []tgbotapi.MessageEntity{{Type: "bold", Offset: 0, Length: 1}}},
		{"OffsetsInUTF16", "😀<b>é😀</b>", "😀é😀", []tgbotapi.MessageEntity{{Type: "bold", Offset: 2, Length: 3}}},
		{"EmptyTagNoEntity", "<b></b>x", "x", nil},
		{"CodeLanguage", `<pre><code class="language-go">x</code></pre>`, "x",
			[]tgbotapi.MessageEntity{{Type: "pre", Offset: 0, Length: 1}, {Type: "code", Offset: 0, Length: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, entities, err := ParseHTML(tt.in)
			if err != nil {
				t.Fatalf("ParseHTML(%q): %v", tt.in, err)
			}
			if plain != tt.plain || !reflect.DeepEqual(entities, tt.entities) {
				t.Errorf("ParseHTML(%q) = %q %+v, want %q %+v", tt.in, plain, entities, tt.plain, tt.entities)
			}
		})
	}
}

func TestParseHTML_Refuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"UnknownTag", "<foo>x</foo>", `Unsupported start tag "foo" at byte offset 0`},
		{"Paragraph", "hi <p>x</p>", `Unsupported start tag "p" at byte offset 3`},
		{"BareLessThan", "1 < 2", `Unsupported start tag "" at byte offset 2`},
		{"UserTextLooksLikeTag", "Ref <INV-1>", `Unsupported start tag "inv-1" at byte offset 4`},
		{"UnclosedStartTag", "x <b", "Unclosed start tag at byte offset 2"},
		{"UnclosedStartTagAttributes", "<a href=", `Unclosed start tag "a" at byte offset 0`},
		{"UnclosedQuote", `<a href="x>y</a>`, "Unclosed start tag at byte offset 0"},
		{"EmptyAttributeName", "<i =x>y</i>", `Empty attribute name in the tag "i" at byte offset 0`},
		{"NeverClosed", "<b>x", `Can't find end tag corresponding to start tag "b"`},
		{"Crossed", "<b><i>x</b></i>", `Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`},
		{"UnexpectedEndTag", "x</b>", "Unexpected end tag at byte offset 1"},
		{"UnclosedEndTag", "<i>a</i   ", "Unclosed end tag at byte offset 4"},
		{"SpanWithoutSpoiler", `<span class="red">x</span>`, `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{"BareAmpersand", "Tom & Jerry", `Character "&" at byte offset 4 does not start an entity: write it as &amp;`},
		{"NamedEntityTelegramLacks", "&nbsp;", `Character "&" at byte offset 0 does not start an entity: write it as &amp;`},
		{"EntityWithoutSemicolon", "&lt b", `Character "&" at byte offset 0 does not start an entity: write it as &amp;`},
		{"SurrogateEntity", "&#xD800;", `Character "&" at byte offset 0 does not start an entity: write it as &amp;`},
		{"NulEntity", "&#0;", `Character "&" at byte offset 0 does not start an entity: write it as &amp;`},
		{"OffsetIsInBytes", "é<x>", `Unsupported start tag "x" at byte offset 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseHTML(tt.in)
			var htmlErr *HTMLError
			if !errors.As(err, &htmlErr) || htmlErr.Description != tt.want {
				t.Errorf("ParseHTML(%q) error = %#v, want *HTMLError %q", tt.in, err, tt.want)
			}
		})
	}
}
