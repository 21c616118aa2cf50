package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Defaults for Options.
const (
	DefaultToken       = "999000111:TEST-fake-token-for-tests-only-0000000"
	DefaultBotUserName = "MpesaPayBot"
	DefaultBotID       = 999000111
	// DefaultMaxLongPoll is the real Bot API's cap on getUpdates' timeout.
	DefaultMaxLongPoll = 50 * time.Second

	firstUpdateID = 100000001
	maxBody       = 10 << 20
)

// ErrClosed is returned by WaitSent once the server is closed.
var ErrClosed = errors.New("telegramtest: server closed")

// Options configure a Server; the zero value gives the defaults in brackets.
type Options struct {
	Token       string        // [DefaultToken]; the bot's ID is the number before ":" when it has one
	BotUserName string        // [DefaultBotUserName]
	MaxLongPoll time.Duration // cap on getUpdates' timeout [50s, the real cap]
	// OnSend is called for every accepted outbound message (sendMessage and
	// editMessageText), one call at a time, in the order of Sent, and never
	// while the server's state is locked: it may call the Server.
	OnSend func(Sent)
}

// Server is a fake Telegram Bot API on 127.0.0.1. All methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	bot      tgbotapi.User
	endpoint string
	srv      *http.Server
	closed   chan struct{}
	stop     sync.Once

	// sendMu orders accepting a message and calling OnSend, so OnSend sees
	// messages in the order Sent lists them.
	sendMu sync.Mutex

	mu             sync.Mutex
	nextUpdateID   int
	queue          []queued // unconfirmed updates, by update_id
	history        map[int]queued
	delivered      map[int]int
	offset         int
	allowed        []string // allowed_updates in force; nil = all
	updatesChanged chan struct{}
	poller         *poller
	pollerChanged  chan struct{}
	webhook        string
	down           bool
	faults         map[string][]Fault
	blocked        map[int64]bool
	migrated       map[int64]int64 // basic group → the supergroup it became
	chats          map[int64]*chatState
	users          map[int64]bool // users seen in updates
	callbacks      map[string]bool
	nextCallback   int
	calls          []Call
	sent           []Sent
	sentChanged    chan struct{}
	commands       map[string][]tgbotapi.BotCommand
	commandCalls   []CommandsCall
}

// chatState is what the server remembers of one chat.
type chatState struct {
	chat     wireChat
	lastID   int
	messages map[int]*wireMessage
	lastBot  int // the bot's most recent message, for callback queries
}

// Start starts a server listening on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if strings.ContainsAny(opts.Token, "/ \t\n?#%") {
		return nil, fmt.Errorf("telegramtest: token %q cannot appear in a URL path", opts.Token)
	}
	if opts.BotUserName == "" {
		opts.BotUserName = DefaultBotUserName
	}
	if opts.MaxLongPoll <= 0 {
		opts.MaxLongPoll = DefaultMaxLongPoll
	}
	botID := int64(DefaultBotID)
	if head, _, ok := strings.Cut(opts.Token, ":"); ok {
		if id, err := strconv.ParseInt(head, 10, 64); err == nil && id > 0 {
			botID = id
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("telegramtest: listen: %w", err)
	}
	s := &Server{
		opts: opts,
		bot: tgbotapi.User{
			ID: botID, IsBot: true, FirstName: "PayBot", UserName: opts.BotUserName, CanJoinGroups: true,
		},
		endpoint:       "http://" + ln.Addr().String() + "/bot%s/%s",
		closed:         make(chan struct{}),
		nextUpdateID:   firstUpdateID,
		history:        map[int]queued{},
		delivered:      map[int]int{},
		updatesChanged: make(chan struct{}),
		pollerChanged:  make(chan struct{}),
		faults:         map[string][]Fault{},
		blocked:        map[int64]bool{},
		migrated:       map[int64]int64{},
		chats:          map[int64]*chatState{},
		users:          map[int64]bool{},
		callbacks:      map[string]bool{},
		sentChanged:    make(chan struct{}),
		commands:       map[string][]tgbotapi.BotCommand{},
	}
	// No write timeout: a long poll is held up to MaxLongPoll.
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close wakes every held long poll and WaitSent, stops the server and waits
// for the requests in flight. It is safe to call more than once.
func (s *Server) Close() {
	s.stop.Do(func() {
		close(s.closed)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
	})
}

// Endpoint is the endpoint format for TELEGRAM_API_ENDPOINT and
// tgbotapi.NewBotAPIWithClient: "http://127.0.0.1:PORT/bot%s/%s".
func (s *Server) Endpoint() string { return s.endpoint }

// Token is the token the server accepts.
func (s *Server) Token() string { return s.opts.Token }

// Bot is the bot's own user, as getMe describes it.
func (s *Server) Bot() tgbotapi.User { return s.bot }

// Call is one request the server answered, failures included.
type Call struct {
	Method string // as the Bot API spells it ("sendMessage"), or as requested when unknown
	Params url.Values
	Status int // HTTP status of the answer
	At     time.Time
}

// Calls returns every request, in arrival order, or only those to the given
// methods (matched without regard to case, as the Bot API does).
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) > 0 && !containsFold(methods, c.Method) {
			continue
		}
		c.Params = cloneValues(c.Params)
		out = append(out, c)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// apiError is an error answer of the Bot API.
type apiError struct {
	status      int
	code        int
	description string
	retryAfter  int
	migrateTo   int64 // parameters.migrate_to_chat_id
	html        bool
}

func badRequest(description string) *apiError {
	return &apiError{status: 400, code: 400, description: "Bad Request: " + description}
}

func forbidden(description string) *apiError {
	return &apiError{status: 403, code: 403, description: "Forbidden: " + description}
}

var (
	errUnauthorized = &apiError{status: 401, code: 401, description: "Unauthorized"}
	errNotFound     = &apiError{status: 404, code: 404, description: "Not Found"}
)

// handler answers one method: a result to wrap in {"ok":true}, or an error.
type handler func(s *Server, r *http.Request, p url.Values) (any, *apiError)

// lookupMethod finds a method the fake knows; the Bot API's method names are
// case-insensitive.
func lookupMethod(method string) (string, handler) {
	switch strings.ToLower(method) {
	case "getme":
		return "getMe", (*Server).getMe
	case "getupdates":
		return "getUpdates", (*Server).getUpdates
	case "setwebhook":
		return "setWebhook", (*Server).setWebhookMethod
	case "deletewebhook":
		return "deleteWebhook", (*Server).deleteWebhook
	case "getwebhookinfo":
		return "getWebhookInfo", (*Server).getWebhookInfo
	case "setmycommands":
		return "setMyCommands", (*Server).setMyCommands
	case "getmycommands":
		return "getMyCommands", (*Server).getMyCommands
	case "deletemycommands":
		return "deleteMyCommands", (*Server).deleteMyCommands
	case "sendmessage":
		return "sendMessage", (*Server).sendMessage
	case "editmessagetext":
		return "editMessageText", (*Server).editMessageText
	case "answercallbackquery":
		return "answerCallbackQuery", (*Server).answerCallbackQuery
	case "sendchataction":
		return "sendChatAction", (*Server).sendChatAction
	}
	return "", nil
}

// ServeHTTP answers /bot<token>/<method> like the Bot API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	params, parseErr := readParams(w, r)
	name, result, apiErr := s.dispatch(r, params, parseErr)
	status := http.StatusOK
	if apiErr != nil {
		status = apiErr.status
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: name, Params: params, Status: status, At: at})
	s.mu.Unlock()
	writeAnswer(w, result, apiErr)
}

func (s *Server) dispatch(r *http.Request, params url.Values, parseErr error) (string, any, *apiError) {
	token, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	if !strings.HasPrefix(r.URL.Path, "/bot") || strings.Contains(method, "/") {
		ok = false
	}
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return method, nil, &apiError{status: http.StatusBadGateway, html: true}
	}
	if !ok {
		return method, nil, errNotFound
	}
	if token != s.opts.Token {
		return method, nil, errUnauthorized
	}
	name, fn := lookupMethod(method)
	if fn == nil {
		return method, nil, errNotFound
	}
	if parseErr != nil {
		return name, nil, badRequest(parseErr.Error())
	}
	if f, ok := s.takeFault(name); ok {
		return name, nil, f.apiError()
	}
	result, apiErr := fn(s, r, params)
	return name, result, apiErr
}

// readParams reads query, form, multipart or JSON parameters into one set;
// nested JSON values keep their JSON text, as the library sends them.
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		params := cloneValues(r.URL.Query())
		var body map[string]json.RawMessage
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&body); err != nil {
			return params, fmt.Errorf("can't parse JSON encoded request: %v", err)
		}
		for k, raw := range body {
			var s string
			if err := json.Unmarshal(raw, &s); err == nil {
				params.Set(k, s)
				continue
			}
			if string(raw) != "null" {
				params.Set(k, string(raw))
			}
		}
		return params, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return cloneValues(r.URL.Query()), fmt.Errorf("can't parse multipart request: %v", err)
		}
		return r.Form, nil
	default:
		if err := r.ParseForm(); err != nil {
			return cloneValues(r.URL.Query()), fmt.Errorf("can't parse request: %v", err)
		}
		return r.Form, nil
	}
}

const badGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"

func writeAnswer(w http.ResponseWriter, result any, e *apiError) {
	if e != nil && e.html {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(e.status)
		page := badGatewayPage
		if e.status != http.StatusBadGateway {
			page = strings.ReplaceAll(page, "502 Bad Gateway", fmt.Sprintf("%d %s", e.status, http.StatusText(e.status)))
		}
		_, _ = w.Write([]byte(page))
		return
	}
	type parameters struct {
		MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
		RetryAfter      int   `json:"retry_after,omitempty"`
	}
	type envelope struct {
		OK          bool        `json:"ok"`
		Result      any         `json:"result,omitempty"`
		ErrorCode   int         `json:"error_code,omitempty"`
		Description string      `json:"description,omitempty"`
		Parameters  *parameters `json:"parameters,omitempty"`
	}
	body := envelope{OK: true, Result: result}
	status := http.StatusOK
	if e != nil {
		body = envelope{ErrorCode: e.code, Description: e.description}
		if e.retryAfter > 0 || e.migrateTo != 0 {
			body.Parameters = &parameters{MigrateToChatID: e.migrateTo, RetryAfter: e.retryAfter}
		}
		status = e.status
	}
	data, err := json.Marshal(body)
	if err != nil { // only the fake's own types are marshalled: a bug here
		status = http.StatusInternalServerError
		data = []byte(`{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (s *Server) getMe(*http.Request, url.Values) (any, *apiError) {
	return wireMe{
		ID: s.bot.ID, IsBot: true, FirstName: s.bot.FirstName, UserName: s.bot.UserName, CanJoinGroups: true,
	}, nil
}

// intParam reads an optional integer parameter; absent is 0.
func intParam(p url.Values, name string) (int64, *apiError) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("invalid %s specified", name))
	}
	return n, nil
}

func boolParam(p url.Values, name string) bool {
	b, _ := strconv.ParseBool(strings.TrimSpace(p.Get(name)))
	return b
}

// jsonParam reports whether a JSON-valued parameter is present; the library
// sends an empty slice or nil pointer as the literal null.
func jsonParam(p url.Values, name string) (string, bool) {
	v := strings.TrimSpace(p.Get(name))
	return v, v != "" && v != "null"
}
