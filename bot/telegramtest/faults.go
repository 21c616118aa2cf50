package telegramtest

import (
	"fmt"
	"net/http"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Fault is an error answer to script with FailNext. A faulted request has no
// other effect: no message is accepted, no update confirmed.
type Fault struct {
	Status      int    // HTTP status [ErrorCode; with HTML, 502]
	ErrorCode   int    // error_code [Status; 500 when both are 0]
	Description string // [the Bot API's text for the code, e.g. "Too Many Requests: retry after 7"]
	RetryAfter  int    // parameters.retry_after [with error code 429: 1]
	HTML        bool   // answer an HTML error page (a proxy in the way) instead of JSON
	Times       int    // how many requests it answers [1]
}

func (f Fault) apiError() *apiError {
	status, code := f.Status, f.ErrorCode
	if f.HTML && status == 0 {
		status = http.StatusBadGateway
	}
	if status == 0 {
		status = code
	}
	if code == 0 {
		code = status
	}
	if status == 0 {
		status, code = http.StatusInternalServerError, http.StatusInternalServerError
	}
	retry := f.RetryAfter
	if code == http.StatusTooManyRequests && retry <= 0 {
		retry = 1
	}
	desc := f.Description
	if desc == "" {
		desc = defaultDescription(code, retry)
	}
	return &apiError{status: status, code: code, description: desc, retryAfter: retry, html: f.HTML}
}

func defaultDescription(code, retryAfter int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 409:
		return conflictPoll
	case 429:
		return fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("Error %d", code)
}

// FailNext makes the next f.Times requests to method (any case; "*" for
// any method) answer with f instead of being carried out. Faults for one
// method queue up in the order given; a method's own faults come before "*".
func (s *Server) FailNext(method string, f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	key := strings.ToLower(method)
	s.mu.Lock()
	s.faults[key] = append(s.faults[key], f)
	s.mu.Unlock()
}

func (s *Server) takeFault(method string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{strings.ToLower(method), "*"} {
		queue := s.faults[key]
		if len(queue) == 0 {
			continue
		}
		f := queue[0]
		queue[0].Times--
		if queue[0].Times <= 0 {
			s.faults[key] = queue[1:]
		}
		return f, true
	}
	return Fault{}, false
}

// SetDown makes every request, whatever its path or token, answer 502 with
// an HTML page, as when Telegram is unreachable behind a proxy. Held long
// polls are left alone.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// BlockChat makes sending to the chat fail with 403, as after the user
// blocked the bot ("Forbidden: bot was blocked by the user") or a group
// removed it ("Forbidden: bot was kicked from the supergroup chat").
func (s *Server) BlockChat(chatID int64) {
	s.mu.Lock()
	s.blocked[chatID] = true
	s.mu.Unlock()
}

// UnblockChat undoes BlockChat, as when the user restarts the bot.
func (s *Server) UnblockChat(chatID int64) {
	s.mu.Lock()
	delete(s.blocked, chatID)
	s.mu.Unlock()
}

// SetWebhook sets a webhook, so getUpdates answers 409 until deleteWebhook
// (or SetWebhook("")).
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	s.webhook = url
	s.mu.Unlock()
}

// AddChat makes a chat known, as if the bot had been added to it, without
// an update: sendMessage to a chat the server never saw answers 400 "chat
// not found", as Telegram does, so a chat the bot only ever writes to (a
// merchant feed) must be added first.
func (s *Server) AddChat(chat *tgbotapi.Chat) {
	s.mu.Lock()
	s.chatLocked(chat)
	s.mu.Unlock()
}
