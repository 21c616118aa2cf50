package telegramtest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

func TestSetMyCommands(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	everyone := []tgbotapi.BotCommand{{Command: "pay", Description: "Pay with M-Pesa"}, {Command: "status", Description: "Check a payment"}}
	admins := append(everyone, tgbotapi.BotCommand{Command: "envinfo", Description: "Environment"})
	adminScope := tgbotapi.NewBotCommandScopeChat(1111111)

	if _, err := api.Request(tgbotapi.NewSetMyCommands(everyone...)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Request(tgbotapi.NewSetMyCommandsWithScopeAndLanguage(adminScope, "en", admins...)); err != nil {
		t.Fatal(err)
	}
	got, err := api.GetMyCommands()
	if err != nil || !reflect.DeepEqual(got, everyone) {
		t.Errorf("default scope: %+v, %v", got, err)
	}
	got, err = api.GetMyCommandsWithConfig(tgbotapi.NewGetMyCommandsWithScopeAndLanguage(adminScope, "en"))
	if err != nil || !reflect.DeepEqual(got, admins) {
		t.Errorf("admin scope: %+v, %v", got, err)
	}
	got, err = api.GetMyCommandsWithConfig(tgbotapi.NewGetMyCommandsWithScope(tgbotapi.NewBotCommandScopeAllGroupChats()))
	if err != nil || len(got) != 0 {
		t.Errorf("unset scope: %+v, %v", got, err)
	}

	calls := srv.MyCommands()
	if len(calls) != 2 || calls[0].Scope != nil || calls[0].Language != "" || !reflect.DeepEqual(calls[0].Commands, everyone) {
		t.Fatalf("MyCommands()[0] = %+v", calls)
	}
	var scope tgbotapi.BotCommandScope
	if err := json.Unmarshal(calls[1].Scope, &scope); err != nil || scope != adminScope || calls[1].Language != "en" {
		t.Errorf("MyCommands()[1] scope %s lang %q", calls[1].Scope, calls[1].Language)
	}

	if _, err := api.Request(tgbotapi.NewDeleteMyCommands()); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.GetMyCommands(); len(got) != 0 {
		t.Errorf("after deleteMyCommands: %+v", got)
	}
}

func TestSetMyCommands_Refusals(t *testing.T) {
	srv := NewServer(t)
	api := newAPI(t, srv)
	many := make([]tgbotapi.BotCommand, 101)
	for i := range many {
		many[i] = tgbotapi.BotCommand{Command: fmt.Sprintf("c%d", i), Description: "d"}
	}
	tests := []struct {
		name     string
		commands []tgbotapi.BotCommand
		want     string
	}{
		{"UpperCase", []tgbotapi.BotCommand{{Command: "Pay", Description: "d"}}, "Bad Request: BOT_COMMAND_INVALID"},
		{"Slash", []tgbotapi.BotCommand{{Command: "/pay", Description: "d"}}, "Bad Request: BOT_COMMAND_INVALID"},
		{"Dash", []tgbotapi.BotCommand{{Command: "env-info", Description: "d"}}, "Bad Request: BOT_COMMAND_INVALID"},
		{"TooLongName", []tgbotapi.BotCommand{{Command: "a23456789012345678901234567890123", Description: "d"}}, "Bad Request: BOT_COMMAND_INVALID"},
		{"NoDescription", []tgbotapi.BotCommand{{Command: "pay"}}, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"},
		{"TooMany", many, "Bad Request: BOT_COMMANDS_TOO_MUCH"},
		{"Longest", []tgbotapi.BotCommand{{Command: "a2345678901234567890123456789012", Description: "d"}}, ""},
		{"Hundred", many[:100], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.MyCommands())
			_, err := api.Request(tgbotapi.NewSetMyCommands(tt.commands...))
			if tt.want == "" {
				if err != nil || len(srv.MyCommands()) != before+1 {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if len(srv.MyCommands()) != before {
				t.Errorf("a refused setMyCommands was recorded")
			}
		})
	}
}
