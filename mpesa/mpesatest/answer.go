package mpesatest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
)

// answer is a complete HTTP answer, computed before it is written so that a fault
// can delay, replace or cut it.
type answer struct {
	status      int
	contentType string
	body        []byte
	// reject, when set, is the Fault that refuses a push (Outcome.Reject); the
	// rest of the answer is then unused.
	reject *Fault
}

// darajaErrorBody is Daraja's error shape, fields in the order Daraja sends them.
type darajaErrorBody struct {
	RequestID    string `json:"requestId"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the simulator's own types are marshalled: this is a bug.
		panic(fmt.Sprintf("mpesatest: marshal answer: %v", err))
	}
	return answer{status: status, contentType: "application/json", body: b}
}

func darajaError(status int, requestID, code, message string) answer {
	return jsonAnswer(status, darajaErrorBody{RequestID: requestID, ErrorCode: code, ErrorMessage: message})
}

func errorJSON(code, message string) string {
	b, _ := json.Marshal(darajaErrorBody{RequestID: newRequestID(), ErrorCode: code, ErrorMessage: message})
	return string(b)
}

func notFound() answer {
	return darajaError(http.StatusNotFound, newRequestID(), "404.001.01", "Resource not found")
}

func invalidPayload() answer {
	return darajaError(http.StatusBadRequest, newRequestID(), "400.002.05", "Invalid Request Payload")
}

func invalidField(name string) answer {
	return darajaError(http.StatusBadRequest, newRequestID(), "400.002.02", "Bad Request - Invalid "+name)
}

// backendError is the overloaded 500.001.1001.
func backendError(requestID, message string) answer {
	return darajaError(http.StatusInternalServerError, requestID, "500.001.1001", message)
}

func invalidToken() answer {
	return darajaError(http.StatusNotFound, newRequestID(), "404.001.03", "Invalid Access Token")
}

func unavailable() answer {
	f := HTMLFault(http.StatusServiceUnavailable)
	return answer{status: f.Status, contentType: f.ContentType, body: []byte(f.Body)}
}

// newRequestID looks like Daraja's requestId and MerchantRequestID
// ("29115-34620561-1").
func newRequestID() string {
	return strconv.Itoa(10000+rand.IntN(90000)) + "-" + strconv.Itoa(10_000_000+rand.IntN(90_000_000)) + "-" + strconv.Itoa(1+rand.IntN(3))
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newReceipt looks like an M-Pesa receipt number ("NLJ7RT61SV"): ten upper-case
// letters and digits, starting with a letter.
func newReceipt() string {
	b := make([]byte, 10)
	b[0] = alnum[rand.IntN(26)]
	for i := 1; i < len(b); i++ {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

func (a answer) write(w http.ResponseWriter) {
	h := w.Header()
	if a.contentType != "" {
		h.Set("Content-Type", a.contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}
