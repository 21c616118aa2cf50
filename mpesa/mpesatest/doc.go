// Package mpesatest is an in-process simulator of Safaricom's Daraja API (M-Pesa
// Express: OAuth, STK Push, STK Query and the result callback), in the spirit of
// stripe-mock. It answers like the real API, ugly parts included: expires_in and
// query ResultCodes are strings, the query description is misspelt
// ("successsfully"), a pending transaction answers with one of two shapes (HTTP 500
// errorCode 500.001.1001, or HTTP 200 ResultCode "4999"), wrong consumer
// credentials get an HTTP 400 with an empty body, and 500.001.1001 means four
// different things.
//
// It is an ordinary (non-test) package: other packages' tests use it through
// [NewServer], and the production binary uses [New] as an http.Handler for
// ENVIRONMENT=simulator and `mpesa-bot demo`. It depends on the standard library
// only, so it can be used while the mpesa client is being changed.
//
// # Endpoints
//
//	GET  /oauth/v1/generate?grant_type=client_credentials   Basic auth     (EndpointToken)
//	POST /mpesa/stkpush/v1/processrequest                   Bearer token   (EndpointPush)
//	POST /mpesa/stkpushquery/v1/query                       Bearer token   (EndpointQuery)
//
// Any other path, or a known path with another method, is answered 404 with a
// Daraja-style JSON error. The defaults are the public sandbox: shortcode
// [SandboxShortCode] with [SandboxPasskey]; any consumer key and secret are accepted
// unless [WithCredentials] is given.
//
// # Outcomes
//
// An accepted push creates a pending transaction and locks the phone (a second push
// to it is refused with "Unable to lock subscriber") until the transaction
// completes. The outcome comes from, in order: [Simulator.SetCheckoutOutcome], then
// [Simulator.SetPhoneOutcome], then [DefaultOutcome], which goes by the last digit of
// the phone as Daraja sees it (2547XXXXXXXX):
//
//	last digit   ResultCode   what happens
//	0, 8, 9      0            paid (the sandbox number 254708374149 and 0712345678 are paid)
//	1            1            insufficient balance
//	2            1032         cancelled by the customer
//	3            1037         timed out (no answer from the phone)
//	4            2001         wrong PIN
//	5            1001         another M-Pesa session is open on the phone
//	6            1025         failed: the prompt could not be sent
//	7            —            the push itself is refused: HTTP 400, 400.002.02
//	                          "Bad Request - Invalid PhoneNumber"; no transaction
//
// The result is reached after [WithResultDelay] (or the outcome's own After), or
// when [Simulator.Complete] is called for a Manual outcome. Then STK Query answers
// the final shape and, unless the outcome says NoCallback, the callback is POSTed to
// the push's CallBackURL with retries. The delays are real durations; the clock of
// [WithClock] only stamps times (token expiry, TransactionDate, IDs).
//
// # Faults and recording
//
// [Simulator.InjectFault] makes the next requests to an endpoint fail the way real
// networks and gateways do: a status with a JSON, HTML or empty body, a slow answer,
// a dropped connection, a body cut off in the middle. Every request is recorded
// exactly once, faulted or not ([Simulator.Requests]); so is every callback attempt
// ([Simulator.Callbacks]) and every transaction ([Simulator.Transactions]).
//
// # Decisions where Daraja is not documented
//
//   - Field validation (HTTP 400) comes before merchant and password checks (HTTP
//     500), which come before the subscriber lock, as a gateway in front of a
//     backend would order them. Fields are checked in the order of Daraja's request
//     example.
//   - Amount "1.0" is a whole number and accepted; "4.99" and "0" are not. There is
//     no upper limit: that is the bot's MAX_AMOUNT.
//   - TransactionDesc must be 1–13 characters and AccountReference 1–12 characters;
//     TransactionType must be CustomerPayBillOnline or CustomerBuyGoodsOnline.
//   - A missing Basic header on the token endpoint is 400.008.01 "Invalid
//     Authentication passed"; a wrong grant_type is 400.008.02.
//   - A CheckoutRequestID looks like the real ones ("ws_CO_" + EAT time + digits) but
//     does not embed the customer's phone number as newer real ones do, so IDs can
//     be logged freely.
//   - After [Simulator.Close] every request is answered 503 with a gateway HTML page
//     and nothing is scheduled any more.
//   - The request status recorded for a dropped connection, or for a client that
//     gave up during a Delay, is 0 (no answer was sent).
package mpesatest
