package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"golang.org/x/time/rate"

	"github.com/mpesa-bot/mpesa-bot/bot/lifecycle"
)

// ErrChatBlocked means the chat blocked the bot (403): nothing is sent to it
// until it lets the bot back in.
var ErrChatBlocked = errors.New("the chat blocked the bot")

const (
	groupPerMinute   = 20               // Telegram's limit for one group
	maxSendAttempts  = 5                // per message, for 429s and outages together
	maxRetryAfter    = 5 * time.Minute  // a longer flood wait is handed back to the caller
	idleLimiterAfter = 10 * time.Minute // per-chat limiters unused this long are dropped
)

// sender sends messages under Telegram's outbound limits: a global
// rate, a per-chat rate and, for groups, 20 a minute. It honours retry_after
// on 429, retries outages a few times, and never retries a chat that blocked
// the bot.
type sender struct {
	tg      *telegram
	log     *slog.Logger
	global  *rate.Limiter // nil = no limit
	perChat float64       // 0 = no limit
	// migrated is told when Telegram refuses a send because the group became
	// a supergroup; the message then goes to the new chat. May be nil.
	migrated func(from, to int64)

	mu        sync.Mutex
	chats     map[int64]*chatLimit
	blocked   map[int64]bool
	lastSweep time.Time
}

type chatLimit struct {
	chat  *rate.Limiter // nil = no limit
	group *rate.Limiter // groups only
	used  time.Time
}

func newSender(tg *telegram, global, perChat float64, log *slog.Logger) *sender {
	return &sender{
		tg:      tg,
		log:     log,
		global:  lifecycle.Limiter(global),
		perChat: perChat,
		chats:   make(map[int64]*chatLimit),
		blocked: make(map[int64]bool),
	}
}

func (s *sender) block(chatID int64) {
	s.mu.Lock()
	s.blocked[chatID] = true
	s.mu.Unlock()
}

func (s *sender) unblock(chatID int64) {
	s.mu.Lock()
	delete(s.blocked, chatID)
	s.mu.Unlock()
}

func (s *sender) isBlocked(chatID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked[chatID]
}

// limits returns the limiters of a chat, creating them on first use, and
// now and then drops those of chats that went quiet.
func (s *sender) limits(chatID int64) *chatLimit {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastSweep) > idleLimiterAfter {
		for id, cl := range s.chats {
			if now.Sub(cl.used) > idleLimiterAfter {
				delete(s.chats, id)
			}
		}
		s.lastSweep = now
	}
	cl, ok := s.chats[chatID]
	if !ok {
		cl = &chatLimit{chat: lifecycle.Limiter(s.perChat)}
		if chatID < 0 && s.perChat > 0 {
			cl.group = rate.NewLimiter(rate.Every(time.Minute/groupPerMinute), 3)
		}
		s.chats[chatID] = cl
	}
	cl.used = now
	return cl
}

func (s *sender) wait(ctx context.Context, chatID int64) error {
	cl := s.limits(chatID)
	for _, l := range []*rate.Limiter{cl.group, cl.chat, s.global} {
		if l == nil {
			continue
		}
		if err := l.Wait(ctx); err != nil {
			return fmt.Errorf("waiting for Telegram's rate limit: %w", err)
		}
	}
	return nil
}

// send delivers msg, waiting for the rate limits and retrying what can be
// retried. The error is ErrChatBlocked for a 403, the *APIError for other
// refusals, or the last failure after maxSendAttempts.
func (s *sender) send(ctx context.Context, msg tgbotapi.MessageConfig) (tgbotapi.Message, error) {
	return s.deliver(ctx, msg, maxRetryAfter)
}

// deliver is send, but a flood wait (429 retry_after) longer than patience is
// handed back as the *APIError instead of waited out: an outbox worker must
// not sit for minutes on one chat while others' outcomes wait.
func (s *sender) deliver(ctx context.Context, msg tgbotapi.MessageConfig, patience time.Duration) (tgbotapi.Message, error) {
	if s.isBlocked(msg.ChatID) {
		return tgbotapi.Message{}, ErrChatBlocked
	}
	bo := newBackoff(500*time.Millisecond, 30*time.Second)
	var lastErr error
	for attempt := 0; attempt < maxSendAttempts; attempt++ {
		if err := s.wait(ctx, msg.ChatID); err != nil {
			return tgbotapi.Message{}, err
		}
		sent, err := s.tg.send(ctx, msg)
		if err == nil {
			return sent, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return tgbotapi.Message{}, err
		}
		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
		switch {
		case isAPI && apiErr.MigrateTo != 0 && apiErr.MigrateTo != msg.ChatID:
			// The group was upgraded to a supergroup: the old ID is dead for
			// good. Message IDs are per chat, so the reply target is gone too.
			if s.migrated != nil {
				s.migrated(msg.ChatID, apiErr.MigrateTo)
			}
			msg.ChatID = apiErr.MigrateTo
			msg.ReplyToMessageID = 0
			msg.AllowSendingWithoutReply = false
		case isAPI && apiErr.Code == http.StatusForbidden:
			s.block(msg.ChatID)
			s.log.Warn("telegram: the chat blocked the bot; not sending to it", slog.Int64("chat_id", msg.ChatID))
			return tgbotapi.Message{}, fmt.Errorf("%w: %w", ErrChatBlocked, err)
		case isAPI && apiErr.RetryAfter > 0:
			if apiErr.RetryAfter > patience {
				return tgbotapi.Message{}, err
			}
			s.log.Warn("telegram: rate limited; waiting", slog.Int64("chat_id", msg.ChatID), slog.Duration("retry_after", apiErr.RetryAfter))
			if !lifecycle.Sleep(ctx, apiErr.RetryAfter) {
				return tgbotapi.Message{}, ctx.Err()
			}
		case isAPI && !apiErr.Temporary():
			return tgbotapi.Message{}, err // 400 and friends: trying again sends the same bad request
		default:
			if !lifecycle.Sleep(ctx, bo.next()) {
				return tgbotapi.Message{}, ctx.Err()
			}
		}
	}
	return tgbotapi.Message{}, lastErr
}
