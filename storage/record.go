package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// record is the JSON stored under a payment's ID. It is its own type, with
// explicit field names, so that renaming a field of Payment can never silently
// change the file format; a format change bumps schemaVersion instead.
//
// Its events are not in it but in the events bucket, so that recording one
// costs the same however long the trail already is.
type record struct {
	ID                string    `json:"id"`
	ChatID            int64     `json:"chat_id"`
	UserID            int64     `json:"user_id"`
	MessageID         int       `json:"message_id"`
	IdempotencyKey    string    `json:"idempotency_key"`
	Phone             string    `json:"phone"`
	Amount            int64     `json:"amount"`
	Reference         string    `json:"reference,omitempty"`
	Description       string    `json:"description,omitempty"`
	Source            string    `json:"source,omitempty"` // "" = SourceSTK
	InvoiceID         string    `json:"invoice_id,omitempty"`
	Language          string    `json:"language,omitempty"`
	SecretHash        string    `json:"callback_secret_sha256,omitempty"` // hex; the secret itself is never stored
	State             State     `json:"state"`
	CheckoutRequestID string    `json:"checkout_request_id,omitempty"`
	MerchantRequestID string    `json:"merchant_request_id,omitempty"`
	ResultCode        string    `json:"result_code,omitempty"`
	ResultDesc        string    `json:"result_desc,omitempty"`
	Receipt           string    `json:"receipt,omitempty"`
	SettledBy         string    `json:"settled_by,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PushedAt          time.Time `json:"pushed_at,omitzero"`
	SettledAt         time.Time `json:"settled_at,omitzero"`
	NextQueryAt       time.Time `json:"next_query_at,omitzero"`
	Queries           int       `json:"queries,omitempty"`
	Notified          bool      `json:"notified,omitempty"`
	FeedPosted        bool      `json:"feed_posted,omitempty"`
	Corrected         bool      `json:"corrected,omitempty"`
	Conflicts         int       `json:"conflicts,omitempty"`      // events recorded by AppendConflict
	VerifyDue         bool      `json:"verify_due,omitempty"`     // a failed result awaits M-Pesa's confirmation
	VerifyReceipt     string    `json:"verify_receipt,omitempty"` // the receipt a contradicting "paid" callback claimed
	Verifications     int       `json:"verifications,omitempty"`  // confirmations asked for so far
}

type eventRecord struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	Type   string    `json:"type"`
	Detail string    `json:"detail,omitempty"`
}

// maxDetail bounds an event's Detail so that one careless caller (a whole
// Daraja body as detail) cannot bloat the trail that every read of the
// payment returns.
const maxDetail = 1024

func decodeRecord(id, v []byte) (*record, error) {
	r := new(record)
	// json.Unmarshal copies every string out of v, so nothing of the record
	// points into bbolt's memory map once the transaction ends.
	if err := json.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("payment %s: %w: %w", id, ErrCorrupt, err)
	}
	if r.ID != string(id) {
		return nil, fmt.Errorf("payment %s: %w: record holds id %q", id, ErrCorrupt, r.ID)
	}
	return r, nil
}

func (r *record) encode() ([]byte, error) {
	return json.Marshal(r)
}

// payment is r without its History, which lives in another bucket: readers
// use txBuckets.payment.
func (r *record) payment() Payment {
	return Payment{
		ID:                r.ID,
		ChatID:            r.ChatID,
		UserID:            r.UserID,
		MessageID:         r.MessageID,
		IdempotencyKey:    r.IdempotencyKey,
		Phone:             r.Phone,
		Amount:            r.Amount,
		Reference:         r.Reference,
		Description:       r.Description,
		Source:            r.source(),
		InvoiceID:         r.InvoiceID,
		Language:          r.Language,
		State:             r.State,
		CheckoutRequestID: r.CheckoutRequestID,
		MerchantRequestID: r.MerchantRequestID,
		ResultCode:        r.ResultCode,
		ResultDesc:        r.ResultDesc,
		Receipt:           r.Receipt,
		SettledBy:         r.SettledBy,
		CreatedAt:         r.CreatedAt,
		UpdatedAt:         r.UpdatedAt,
		PushedAt:          r.PushedAt,
		SettledAt:         r.SettledAt,
		NextQueryAt:       r.NextQueryAt,
		Queries:           r.Queries,
		Notified:          r.Notified,
		FeedPosted:        r.FeedPosted,
		Corrected:         r.Corrected,
		VerifyDue:         r.VerifyDue,
		Verifications:     r.Verifications,
	}
}

// source is r's Source, with records from before sources read as SourceSTK.
func (r *record) source() string {
	if r.Source == "" {
		return SourceSTK
	}
	return r.Source
}

// clone copies r so that changing the copy leaves r as it was: index
// maintenance compares the two. Every field is a value, so a shallow copy is
// a deep one.
func (r *record) clone() *record {
	c := *r
	return &c
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// hashSecret is how a callback secret is persisted and looked up. A plain
// SHA-256 suffices: the secret is random and long, so the hash cannot be
// reversed, and a lookup by hash leaks nothing about the secret through timing.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
