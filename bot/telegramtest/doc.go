// Package telegramtest is a fake Telegram Bot API server on 127.0.0.1, for
// the bot's tests and for `mpesa-bot demo`, where the terminal is the chat.
//
// Point go-telegram-bot-api at it with
//
//	srv := telegramtest.NewServer(t) // or Start(Options{}) outside tests
//	api, err := tgbotapi.NewBotAPIWithClient(srv.Token(), srv.Endpoint(), &http.Client{Timeout: …})
//
// or set TELEGRAM_API_ENDPOINT to srv.Endpoint(). Requests arrive as
// POST /bot<token>/<method> with form, multipart or JSON bodies (GET with a
// query works too); method names are case-insensitive, as on Telegram.
//
// # What it does like Telegram
//
//   - A wrong token answers 401 "Unauthorized"; an unknown method 404 "Not Found".
//   - getUpdates confirms (deletes) every update below offset, returns up to
//     limit (1–100; other values mean 100) updates with higher IDs, and with
//     timeout > 0 holds the request until an update arrives, the timeout
//     (capped at Options.MaxLongPoll) passes, the client goes away or the
//     server closes. A second getUpdates makes a held one answer 409
//     "Conflict: terminated by other getUpdates request; …"; with a webhook
//     set, getUpdates answers 409 until deleteWebhook. allowed_updates is
//     honoured and remembered, as on Telegram.
//   - sendMessage checks chat_id, text (1–4096 characters after HTML parsing,
//     counted in UTF-16 code units: the stricter count, so what passes here
//     passes on Telegram; whitespace only is empty), parse_mode=HTML (see
//     ParseHTML), reply_to_message_id (400 "message to reply not found" for a
//     message the chat never had, unless allow_sending_without_reply=true) and
//     inline keyboards (callback_data 1–64 bytes), and returns the full
//     Message: per-chat increasing message_id, chat, date, the parsed text
//     with its entities, reply_to_message, reply_markup.
//   - editMessageText edits only the bot's own messages and refuses an edit
//     that changes nothing, as Telegram does.
//   - answerCallbackQuery accepts each injected query's ID once, text ≤ 200.
//   - setMyCommands validates names ([a-z0-9_]{1,32}), descriptions and at
//     most 100 commands, per scope and language; getMyCommands and
//     deleteMyCommands follow.
//   - A chat the server never saw answers 400 "chat not found" (403 "bot
//     can't initiate conversation with a user" for a user seen only in a
//     group): chats become known through injected updates or AddChat.
//   - A blocked chat answers 403 "Forbidden: bot was blocked by the user".
//   - A group upgraded to a supergroup (MigrateChat, SendMigration) answers
//     every write to its old ID — sendMessage, editMessageText,
//     sendChatAction — with 400 "Bad Request: group chat was upgraded to a
//     supergroup chat" and parameters.migrate_to_chat_id, which the library
//     reads as (*tgbotapi.Error).MigrateToChatID; the new ID takes messages.
//
// # Injecting updates
//
// SendText, SendEdited, SendPhoto, SendSticker, SendCallbackQuery,
// SendInlineCallbackQuery, SendBlocked and SendMigration build updates
// shaped like the real ones, field for field; AddRaw takes any update JSON.
// Update IDs increase globally from 100000001, message IDs per chat. User,
// PrivateChat, GroupChat (a supergroup) and BasicGroupChat (a basic group,
// the kind that can be upgraded) build their arguments. SendMigration
// delivers the two service messages of an upgrade — migrate_to_chat_id in
// the old group, then migrate_from_chat_id in the supergroup — and migrates
// the chat, as SendBlocked blocks it.
//
// # Faults
//
// FailNext scripts error answers (429 with parameters.retry_after, 409,
// 500, an HTML 502 page, …), SetDown answers every request with an HTML 502,
// BlockChat makes a chat answer 403, MigrateChat makes a group answer 400
// with migrate_to_chat_id (without injecting updates), SetWebhook makes
// getUpdates answer 409.
//
// # Inspecting
//
// Sent, SentTo and WaitSent show accepted outbound messages; Calls every
// request with its HTTP status; MyCommands every setMyCommands; Offset,
// Unconfirmed and Delivered the update queue.
//
// Every method is safe for concurrent use; Close wakes held long polls and
// WaitSent and stops the server.
//
// The package does not import testing, because the release binary links it
// for `mpesa-bot demo`: NewServer takes a TB, which *testing.T and
// *testing.B satisfy.
package telegramtest
