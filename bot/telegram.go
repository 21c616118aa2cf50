package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// APIError is an answer from the Telegram Bot API that was not "ok", or an HTTP
// answer that was not the API's JSON at all (a gateway page during an outage).
type APIError struct {
	Method      string
	Code        int           // error_code, or the HTTP status when the body was not the API's JSON
	Description string        // description as Telegram sent it
	RetryAfter  time.Duration // parameters.retry_after, when flood control answered
	MigrateTo   int64         // parameters.migrate_to_chat_id: the group became this supergroup
}

func (e *APIError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("telegram %s: %d %s (retry after %s)", e.Method, e.Code, e.Description, e.RetryAfter)
	}
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Temporary reports whether trying the same call again later may succeed.
func (e *APIError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// telegramCodeOf returns the API error code of err, or 0 when err is not an
// answer from Telegram (a network failure, a timeout).
func telegramCodeOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}

// telegram is the bot's way to the Bot API. It uses go-telegram-bot-api for
// request building and types, but binds every call to a context and a timeout
// (the library has neither), keeps the token out of every error, and turns the
// library's errors into *APIError.
type telegram struct {
	api     *tgbotapi.BotAPI // template: copied per call with a context-bound client
	token   string
	http    *http.Client
	timeout time.Duration
	observe func(method string, status int, took time.Duration) // metrics hook; may be nil
}

func newTelegram(token, endpoint string, hc *http.Client, timeout time.Duration, observe func(string, int, time.Duration)) *telegram {
	if hc == nil {
		hc = &http.Client{Transport: pooledTransport()}
	}
	t := &telegram{token: token, http: hc, timeout: timeout, observe: observe}
	// A BotAPI built by hand: NewBotAPIWithClient would call getMe without a
	// context. Self is filled by getMe below.
	t.api = &tgbotapi.BotAPI{Token: token, Client: t.doer(context.Background()), Buffer: 0}
	t.api.SetAPIEndpoint(endpoint)
	return t
}

// pooledTransport is http.DefaultTransport keeping enough idle connections
// to one host for a busy bot: the default keeps 2, and every message beyond
// them opened a new TCP connection (a tenth of the bot's CPU under load).
func pooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdlePerHost
	return t
}

// maxIdlePerHost is how many idle connections to one API are kept.
const maxIdlePerHost = 64

// getMe fetches the bot's own user (its @username decides which commands are
// ours) and stores it.
func (t *telegram) getMe(ctx context.Context) (tgbotapi.User, error) {
	var me tgbotapi.User
	if err := t.call(ctx, t.timeout, "getMe", func(api *tgbotapi.BotAPI) (json.RawMessage, error) {
		resp, err := api.MakeRequest("getMe", nil)
		return result(resp), err
	}, &me); err != nil {
		return tgbotapi.User{}, err
	}
	t.api.Self = me
	return me, nil
}

func (t *telegram) self() tgbotapi.User { return t.api.Self }

// getUpdates long-polls for at most poll. Its HTTP timeout leaves room for the
// server to hold the request the whole poll. Each update is decoded on its
// own: one the library's types cannot read comes back empty, with its ID
// also in skipped, instead of failing the batch (and the loop) forever.
func (t *telegram) getUpdates(ctx context.Context, offset int, poll time.Duration) ([]tgbotapi.Update, []int, error) {
	cfg := tgbotapi.UpdateConfig{Offset: offset, Limit: 100, Timeout: int(poll / time.Second)}
	var raws []json.RawMessage
	if err := t.call(ctx, poll+t.timeout, "getUpdates", requestOf(cfg), &raws); err != nil {
		return nil, nil, err
	}
	updates := make([]tgbotapi.Update, 0, len(raws))
	var skipped []int
	for _, raw := range raws {
		u, err := decodeUpdate(raw)
		if err != nil {
			// Kept in order as an empty update (no handler acts on it), so
			// the offset moves past it.
			var id struct {
				UpdateID int `json:"update_id"`
			}
			if json.Unmarshal(raw, &id) != nil {
				continue
			}
			u = tgbotapi.Update{UpdateID: id.UpdateID}
			skipped = append(skipped, id.UpdateID)
		}
		updates = append(updates, u)
	}
	return updates, skipped, nil
}

// decodeUpdate reads one update. Since Bot API 7.0 Telegram marks forwards
// with forward_origin, which go-telegram-bot-api v5.5.1 does not know: it is
// carried over into ForwardDate so the handlers can tell a forward (which
// must never start a payment) from a message the user typed.
func decodeUpdate(raw json.RawMessage) (tgbotapi.Update, error) {
	var u tgbotapi.Update
	if err := json.Unmarshal(raw, &u); err != nil {
		return tgbotapi.Update{}, fmt.Errorf("decoding an update: %w", err)
	}
	var marks struct {
		Message       *forwardMark `json:"message"`
		EditedMessage *forwardMark `json:"edited_message"`
	}
	if json.Unmarshal(raw, &marks) == nil {
		marks.Message.copyTo(u.Message)
		marks.EditedMessage.copyTo(u.EditedMessage)
	}
	return u, nil
}

// forwardMark is the part of a message that says it was forwarded.
type forwardMark struct {
	ForwardOrigin *struct {
		Date int `json:"date"`
	} `json:"forward_origin"`
}

func (f *forwardMark) copyTo(m *tgbotapi.Message) {
	if f != nil && f.ForwardOrigin != nil && m != nil && m.ForwardDate == 0 {
		m.ForwardDate = max(f.ForwardOrigin.Date, 1)
	}
}

// send sends one message and returns Telegram's copy of it. An "ok" answer
// whose message cannot be decoded still means the message went out: it is
// not an error, or a retry would send it twice.
func (t *telegram) send(ctx context.Context, c tgbotapi.Chattable) (tgbotapi.Message, error) {
	var m tgbotapi.Message
	err := t.call(ctx, t.timeout, "sendMessage", requestOf(c), &m)
	if errors.Is(err, errUndecodedResult) {
		return tgbotapi.Message{}, nil
	}
	return m, err
}

// errUndecodedResult marks an "ok" answer whose result did not decode.
var errUndecodedResult = errors.New("the result could not be decoded")

// request calls a method whose result is true (setMyCommands, deleteWebhook,
// answerCallbackQuery): they answer `true`, not a Message, so they go through
// Request, not Send.
func (t *telegram) request(ctx context.Context, method string, c tgbotapi.Chattable) error {
	return t.call(ctx, t.timeout, method, requestOf(c), nil)
}

func requestOf(c tgbotapi.Chattable) func(*tgbotapi.BotAPI) (json.RawMessage, error) {
	return func(api *tgbotapi.BotAPI) (json.RawMessage, error) {
		resp, err := api.Request(c)
		return result(resp), err
	}
}

func result(resp *tgbotapi.APIResponse) json.RawMessage {
	if resp == nil {
		return nil
	}
	return resp.Result
}

// call runs do on a copy of the BotAPI whose HTTP client carries ctx (with the
// given timeout), then decodes the result into out.
func (t *telegram) call(ctx context.Context, timeout time.Duration, method string,
	do func(*tgbotapi.BotAPI) (json.RawMessage, error), out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api := *t.api
	api.Client = t.doer(ctx)
	raw, err := do(&api)
	if err != nil {
		return t.convert(method, err)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("telegram %s: %w: %w", method, errUndecodedResult, err)
	}
	return nil
}

// convert maps the library's errors to *APIError and redacts anything else.
func (t *telegram) convert(method string, err error) error {
	var libErr *tgbotapi.Error
	if errors.As(err, &libErr) {
		return &APIError{
			Method:      method,
			Code:        libErr.Code,
			Description: redact(libErr.Message, t.token),
			RetryAfter:  time.Duration(libErr.RetryAfter) * time.Second,
			MigrateTo:   libErr.MigrateToChatID,
		}
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		apiErr.Method = method
		return apiErr
	}
	return redactError(err, t.token)
}

func (t *telegram) doer(ctx context.Context) tgbotapi.HTTPClient {
	return &boundClient{ctx: ctx, http: t.http, token: t.token, observe: t.observe}
}

// boundClient is the HTTPClient given to the library for one call: it attaches
// the call's context, redacts the token from transport errors (net/http puts
// the URL, and so the token, into them), and turns a non-JSON answer (a proxy's
// HTML page during an outage) into an *APIError carrying the HTTP status,
// where the library would only report a JSON syntax error.
type boundClient struct {
	ctx     context.Context
	http    *http.Client
	token   string
	observe func(method string, status int, took time.Duration)
}

func (c *boundClient) Do(req *http.Request) (*http.Response, error) {
	method := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
	start := time.Now()
	resp, err := c.http.Do(req.WithContext(c.ctx))
	if err != nil {
		c.record(method, 0, start)
		return nil, redactError(err, c.token)
	}
	c.record(method, resp.StatusCode, start)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		return nil, &APIError{Method: method, Code: resp.StatusCode, Description: http.StatusText(resp.StatusCode)}
	}
	return resp, nil
}

func (c *boundClient) record(method string, status int, start time.Time) {
	if c.observe != nil {
		c.observe(method, status, time.Since(start))
	}
}
