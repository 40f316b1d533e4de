package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/docvet/docvet/index/identifiers"
	"github.com/docvet/docvet/notify"
	"github.com/docvet/docvet/search"
	"github.com/docvet/docvet/store"
)

// Mailer sends one rendered mail (*notify.SMTP).
type Mailer interface {
	Send(ctx context.Context, m notify.Message) error
}

// SMSSender sends one text message (*notify.SMSWebhook).
type SMSSender interface {
	SendSMS(ctx context.Context, to, text string) error
}

var (
	_ Mailer    = (*notify.SMTP)(nil)
	_ SMSSender = (*notify.SMSWebhook)(nil)
)

// Template keys of seed 001.
const (
	tmplAccessRequest = "access_request_mail"
	tmplDeleteRequest = "access_request_delete_mail"
	tmplSubjectMail   = "subject_data_available_mail"
	tmplSubjectSMS    = "subject_data_available_sms"
)

// notifier sends the outbox: each entry is written with the state change
// that causes it, and marked sent after the relay accepted it. A crash
// between the two sends that one message again (at least once: a missed
// "your data is ready" is worse than a duplicate).
type notifier struct {
	s      *Server
	tmpl   *notify.Templates
	mail   Mailer    // nil: mail waits in the outbox
	sms    SMSSender // nil: SMS waits in the outbox
	kick   chan struct{}
	warned map[string]bool
}

func newNotifier(s *Server) (*notifier, error) {
	n := &notifier{s: s, kick: make(chan struct{}, 1), warned: map[string]bool{}}
	t, err := s.cfg.templates()
	if err != nil {
		return nil, fmt.Errorf("notification templates: %w", err)
	}
	n.tmpl = t
	if s.cfg.Notifications.SMTP.Host != "" {
		o, err := s.cfg.smtpOptions()
		if err != nil {
			return nil, fmt.Errorf("notifications.smtp: %w", err)
		}
		m, err := notify.NewSMTP(o)
		if err != nil {
			return nil, fmt.Errorf("notifications.smtp: %w", err)
		}
		n.mail = m
	}
	if w := s.cfg.Notifications.SMSWebhook; w.URL != "" {
		sms, err := notify.NewSMSWebhook(w.URL, w.Headers, nil)
		if err != nil {
			return nil, fmt.Errorf("notifications.sms_webhook: %w", err)
		}
		n.sms = sms
	}
	return n, nil
}

// SetSenders replaces the mail and SMS senders (tests, embedding callers).
// Call it before Serve.
func (s *Server) SetSenders(m Mailer, sms SMSSender) {
	s.notifier.mail, s.notifier.sms = m, sms
}

func (s *Server) kickNotifier() {
	if s.notifier == nil {
		return
	}
	select {
	case s.notifier.kick <- struct{}{}:
	default:
	}
}

// runNotifier sends due notifications until ctx ends, sleeping until the
// next one is due (at most a minute, so a new relay configuration or a
// retry time is picked up).
func (s *Server) runNotifier(ctx context.Context) {
	n := s.notifier
	if n.mail != nil || n.sms != nil {
		// Entries that waited for a sender are due now that one exists.
		if err := s.st.Update(ctx, func(tx *store.Tx) error { return tx.Undefer(reasonNoSender, time.Now()) }); err != nil {
			s.log.Error("notify: resume waiting notifications", "err", err)
		}
	}
	for {
		n.runOnce(ctx)
		wait := time.Minute
		if next, ok, err := s.st.NextDue(ctx); err == nil && ok {
			if d := time.Until(next); d < wait {
				wait = max(d, 50*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-n.kick:
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// reasonNoSender is the outbox reason of entries waiting for a sender.
const reasonNoSender = "no sender configured"

// errNoSender: the channel a message needs is not configured; the entry
// waits (without counting an attempt) until it is.
var errNoSender = errors.New("no sender configured")

// runOnce sends every due notification once.
func (n *notifier) runOnce(ctx context.Context) {
	s := n.s
	due, err := s.st.DueNotifications(ctx, time.Now(), 100)
	if err != nil {
		s.log.Error("notify: read outbox", "err", err)
		return
	}
	for _, e := range due {
		if ctx.Err() != nil {
			return
		}
		sent, tokHash, err := n.send(ctx, e)
		wctx := context.WithoutCancel(ctx)
		switch {
		case err == nil:
			s.step("notification.sent")
			err = s.st.Update(wctx, func(tx *store.Tx) error {
				if err := tx.MarkSent(e.ID); err != nil {
					return err
				}
				if tokHash != "" {
					// The link went out: forget how to derive it again.
					if err := tx.ClearPortalNonce(e.RequestID, tokHash); err != nil {
						return err
					}
				}
				return s.auditTx(tx, actorSystem, "notification.sent", e.RequestID,
					map[string]any{"kind": e.Kind, "data_type": e.Recipient, "messages": sent})
			})
			if err != nil {
				s.log.Error("notify: mark sent", "err", err)
			}
			s.log.Info("notify: sent", "kind", e.Kind, "request", s.hashID(e.RequestID), "messages", sent)
			s.step("notification.marked")
		case errors.Is(err, errNoSender):
			if !n.warned[e.Kind] {
				s.log.Warn("notify: no sender configured; notifications wait in the outbox", "kind", e.Kind)
				n.warned[e.Kind] = true
			}
			// Look again in an hour; a restart with a sender resumes it.
			s.st.Update(wctx, func(tx *store.Tx) error {
				return tx.Defer(e.ID, reasonNoSender, time.Now().Add(time.Hour))
			})
		default:
			attempts := e.Attempts + 1
			giveUp := errors.Is(err, notify.ErrPermanent) || attempts >= s.cfg.Notifications.MaxAttempts
			backoff := min(time.Minute<<min(attempts-1, 6), time.Hour)
			reason := safeNotifyReason(err)
			if uerr := s.st.Update(wctx, func(tx *store.Tx) error {
				if err := tx.MarkAttempt(e.ID, reason, time.Now().Add(backoff), giveUp); err != nil {
					return err
				}
				if giveUp {
					return s.auditTx(tx, actorSystem, "notification.failed", e.RequestID,
						map[string]any{"kind": e.Kind, "data_type": e.Recipient, "reason": reason})
				}
				return nil
			}); uerr != nil {
				s.log.Error("notify: mark attempt", "err", uerr)
			}
			s.log.Warn("notify: send failed", "kind", e.Kind, "request", s.hashID(e.RequestID), "attempt", attempts,
				"gave_up", giveUp, "reason", reason)
		}
	}
}

// safeNotifyReason keeps the notify package's errors (they name no
// addresses or content by design) and replaces anything else.
func safeNotifyReason(err error) string {
	var perm *errPermanentReason
	if errors.As(err, &perm) {
		return perm.reason
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "smtp") || strings.HasPrefix(msg, "sms") || strings.HasPrefix(msg, "notify") {
		return msg
	}
	return "send failed"
}

// errPermanentReason is a permanent problem found before sending (no
// contact, a template that does not render), with a safe reason.
type errPermanentReason struct{ reason string }

func (e *errPermanentReason) Error() string        { return e.reason }
func (e *errPermanentReason) Is(target error) bool { return target == notify.ErrPermanent }

func permanent(reason string) error { return &errPermanentReason{reason: reason} }

// send renders and sends one outbox entry; it returns how many messages
// went out and, for the subject, the hash of the portal token it sent.
func (n *notifier) send(ctx context.Context, e store.OutboxEntry) (int, string, error) {
	var tok string
	sent, err := n.sendEntry(ctx, e, &tok)
	return sent, tok, err
}

func (n *notifier) sendEntry(ctx context.Context, e store.OutboxEntry, tokenHash *string) (int, error) {
	s := n.s
	ent, err := s.st.Get(ctx, datasetAccessRequests, e.RequestID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	var ar search.AccessRequest
	if err != nil || ent.Deleted || json.Unmarshal(ent.Body, &ar) != nil {
		return 0, permanent("access request not found")
	}
	env := map[string]string{}
	for k, v := range s.cfg.Notifications.Env {
		env[k] = v
	}
	base := strings.TrimRight(s.cfg.Delivery.PortalURL, "/")
	for k, v := range map[string]string{"sesam-portal-gui-url": base + "/", "subscription": "docvet"} {
		if env[k] == "" {
			env[k] = v
		}
	}
	switch e.Kind {
	case store.NotifyReviewers:
		if n.mail == nil {
			return 0, errNoSender
		}
		dataType, ref, _ := strings.Cut(e.Recipient, "#")
		var contacts []string
		for _, c := range s.dataTypeContacts(ctx, dataType) {
			if ref == "" || contactRef(c) == ref {
				contacts = append(contacts, c)
			}
		}
		if len(contacts) == 0 {
			return 0, permanent("data type has no such contact (any more)")
		}
		key := tmplAccessRequest
		if ar.DeleteRequest {
			key = tmplDeleteRequest
		}
		env["workbook-url"] = base + "/api/access-requests/" + url.PathEscape(e.RequestID) + "/workbook?data-type=" + url.QueryEscape(dataType)
		sent := 0
		for _, c := range contacts {
			m, err := n.tmpl.Render(key, s.cfg.Notifications.DefaultLanguage,
				notify.Values{ContactInfo: ar.ContactInfo, Contact: c, RequestID: e.RequestID, Env: env})
			if err != nil {
				return sent, permanent("template " + key + " does not render: " + safeNotifyReason(err))
			}
			m.To = []string{c}
			if err := n.mail.Send(ctx, m); err != nil {
				return sent, err
			}
			sent++
		}
		return sent, nil
	case store.NotifySubject:
		if ar.ContactInfo == "" {
			return 0, permanent("access request has no contact info")
		}
		tok, err := s.st.PortalTokenOf(ctx, e.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, permanent("no portal token")
		}
		if err != nil {
			return 0, err
		}
		if !time.Now().Before(tok.ExpiresAt) {
			return 0, permanent("portal link revoked or expired")
		}
		if len(tok.Nonce) == 0 {
			return 0, permanent("the portal link was sent already; reissue it to send a new one")
		}
		env["portal-url"] = s.portalLink(tok)
		*tokenHash = tok.TokenHash
		lang := ar.Language(s.cfg.Notifications.DefaultLanguage)
		vals := notify.Values{ContactInfo: ar.ContactInfo, RequestID: e.RequestID, Env: env}
		if ar.ContactInfoType == search.ContactPhone || !strings.Contains(ar.ContactInfo, "@") {
			if n.sms == nil {
				return 0, errNoSender
			}
			opts, _ := s.cfg.Index.IdentifierOptions()
			to, ok := identifiers.Normalize(identifiers.KindPhone, ar.ContactInfo, opts)
			if !ok {
				return 0, permanent("contact info is not a usable phone number")
			}
			m, err := n.tmpl.Render(tmplSubjectSMS, lang, vals)
			if err != nil {
				return 0, permanent("template " + tmplSubjectSMS + " does not render: " + safeNotifyReason(err))
			}
			return 1, n.sms.SendSMS(ctx, to, m.Text)
		}
		if n.mail == nil {
			return 0, errNoSender
		}
		m, err := n.tmpl.Render(tmplSubjectMail, lang, vals)
		if err != nil {
			return 0, permanent("template " + tmplSubjectMail + " does not render: " + safeNotifyReason(err))
		}
		m.To = []string{ar.ContactInfo}
		return 1, n.mail.Send(ctx, m)
	}
	return 0, permanent("unknown notification kind")
}

// contactRef names one contact of a data type in the outbox (which holds
// no addresses): a short hash of the address.
func contactRef(addr string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(h[:8])
}

// reviewerRecipients are the outbox recipients for a data type's contacts:
// one entry per contact, so a failure to reach one never resends to the
// others; a data type without contacts gets one entry that fails visibly.
func (s *Server) reviewerRecipients(ctx context.Context, dataType string) []string {
	cs := s.dataTypeContacts(ctx, dataType)
	if len(cs) == 0 {
		return []string{dataType}
	}
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, dataType+"#"+contactRef(c))
	}
	return out
}

// dataTypeContacts returns the e-mail addresses responsible for a data
// type (its comma-separated contact property).
func (s *Server) dataTypeContacts(ctx context.Context, dataType string) []string {
	e, err := s.st.Get(ctx, datasetDataTypes, dataType)
	if err != nil || e.Deleted {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(e.Body, &m) != nil {
		return nil
	}
	v, _ := m[dtPrefix+dtContact].(string)
	var out []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}
