package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// SMSSender sends one text message. Consumers declare their own copy; this
// one documents the contract *SMSWebhook implements.
type SMSSender interface {
	SendSMS(ctx context.Context, to, text string) error
}

// SMSWebhook sends SMS by POSTing {"to": "+4712345678", "text": "..."} as JSON
// to an operator-run gateway. Any 2xx is success.
type SMSWebhook struct {
	url     string
	headers http.Header
	client  *http.Client
}

var _ SMSSender = (*SMSWebhook)(nil)

var e164Re = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// maxSMSText bounds one message (10 concatenated GSM segments).
const maxSMSText = 1600

// NewSMSWebhook validates the endpoint. rawURL must be https, or http to a
// loopback host. headers (e.g. an Authorization token) are sent with every
// request and never appear in errors. A nil client gets a 30 s timeout and
// does not follow redirects (a redirect would resend the number elsewhere).
func NewSMSWebhook(rawURL string, headers map[string]string, client *http.Client) (*SMSWebhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("sms webhook: invalid URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, errors.New("sms webhook: URL must be https (http only to a loopback host)")
	}
	h := http.Header{}
	for k, v := range headers {
		if strings.ContainsAny(k+v, "\r\n") || k == "" {
			return nil, errors.New("sms webhook: invalid header")
		}
		h.Set(k, v)
	}
	if client == nil {
		client = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &SMSWebhook{url: u.String(), headers: h, client: client}, nil
}

// SendSMS posts one message. to must be E.164 ("+4712345678"). A 4xx reply
// other than 408/429 wraps ErrPermanent; errors never contain the number,
// the text, the URL or the response body.
func (w *SMSWebhook) SendSMS(ctx context.Context, to, text string) error {
	if !e164Re.MatchString(to) {
		return fmt.Errorf("sms webhook: recipient is not an E.164 number: %w", ErrPermanent)
	}
	if text == "" || len(text) > maxSMSText {
		return fmt.Errorf("sms webhook: text empty or longer than %d bytes: %w", maxSMSText, ErrPermanent)
	}
	body, err := json.Marshal(struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}{to, text})
	if err != nil {
		return fmt.Errorf("sms webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("sms webhook: build request failed")
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sms webhook: %w", ctx.Err())
		}
		// *url.Error repeats the URL, which may carry a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return errors.New("sms webhook: POST timed out")
			}
			return fmt.Errorf("sms webhook: POST failed: %v", ue.Err)
		}
		return errors.New("sms webhook: POST failed")
	}
	// Drain a bounded amount so the connection can be reused; never echo it.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c <= 299:
		return nil
	case c >= 400 && c <= 499 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return fmt.Errorf("sms webhook: HTTP %d: %w", c, ErrPermanent)
	default:
		return fmt.Errorf("sms webhook: HTTP %d", c)
	}
}
