package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/url"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// CommandsCall is one accepted setMyCommands.
type CommandsCall struct {
	Commands []tgbotapi.BotCommand
	Scope    json.RawMessage // as sent; nil when absent (the default scope)
	Language string
}

// MyCommands returns every accepted setMyCommands, in order.
func (s *Server) MyCommands() []CommandsCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CommandsCall, len(s.commandCalls))
	for i, c := range s.commandCalls {
		out[i] = CommandsCall{
			Commands: append([]tgbotapi.BotCommand(nil), c.Commands...),
			Scope:    append(json.RawMessage(nil), c.Scope...),
			Language: c.Language,
		}
	}
	return out
}

// commandsKey names a (scope, language) pair; scopes are compared by their
// meaning, not their spelling.
func commandsKey(p url.Values) (key string, scope json.RawMessage, err *apiError) {
	s := tgbotapi.BotCommandScope{Type: "default"}
	if raw, ok := jsonParam(p, "scope"); ok {
		scope = json.RawMessage(raw)
		if json.Unmarshal(scope, &s) != nil {
			return "", nil, badRequest("can't parse BotCommandScope JSON object")
		}
		switch s.Type {
		case "default", "all_private_chats", "all_group_chats", "all_chat_administrators":
		case "chat", "chat_administrators":
			if s.ChatID == 0 {
				return "", nil, badRequest("chat_id is empty")
			}
		case "chat_member":
			if s.ChatID == 0 || s.UserID == 0 {
				return "", nil, badRequest("chat_id or user_id is empty")
			}
		default:
			return "", nil, badRequest("wrong BotCommandScope type specified")
		}
	}
	lang := p.Get("language_code")
	if lang != "" && !isLanguageCode(lang) {
		return "", nil, badRequest("invalid language code specified")
	}
	canonical, _ := json.Marshal(s)
	return string(canonical) + "|" + lang, scope, nil
}

func isLanguageCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	return s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

func isCommandName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Server) setMyCommands(_ *http.Request, p url.Values) (any, *apiError) {
	var commands []tgbotapi.BotCommand
	if raw, ok := jsonParam(p, "commands"); ok {
		if json.Unmarshal([]byte(raw), &commands) != nil {
			return nil, badRequest("can't parse commands JSON object")
		}
	}
	if len(commands) > 100 {
		return nil, badRequest("BOT_COMMANDS_TOO_MUCH")
	}
	for _, c := range commands {
		if !isCommandName(c.Command) {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
		if n := utf16Len(c.Description); n < 1 || n > 256 {
			return nil, badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	key, scope, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(commands) == 0 {
		delete(s.commands, key)
	} else {
		s.commands[key] = commands
	}
	s.commandCalls = append(s.commandCalls, CommandsCall{Commands: commands, Scope: scope, Language: p.Get("language_code")})
	return true, nil
}

func (s *Server) getMyCommands(_ *http.Request, p url.Values) (any, *apiError) {
	key, _, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]tgbotapi.BotCommand{}, s.commands[key]...)
	return out, nil
}

func (s *Server) deleteMyCommands(_ *http.Request, p url.Values) (any, *apiError) {
	key, _, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.commands, key)
	s.mu.Unlock()
	return true, nil
}
