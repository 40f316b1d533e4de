// Package notify owns docvet's outgoing notifications: the templates (seed 001
// texts, overridable by operators), their rendering, and delivery by SMTP
// (mail) and an HTTP webhook (SMS). It does not decide when to notify; the
// access-request lifecycle does that and calls Render, then Mailer.Send or
// SMSSender.SendSMS.
//
// # Templates
//
// templates.json embeds the seed-001 entities docvet sends, in the seed's
// shape, in English ("en") and Norwegian ("no"):
//
//   - access_request_mail: to data-type contacts when a workbook is ready
//   - access_request_delete_mail: the same for a deletion request
//   - subject_data_available_mail: to the data subject when data is available
//   - subject_data_available_sms: the same by SMS (body_template only)
//
// Templates.Override takes a JSON array of the same shape: per key and
// language the given translation replaces the built-in one, a new language
// key adds a language. Seed entities docvet does not send (portal texts,
// change_request_mail) are skipped, so the whole official list can be pasted;
// any other unknown key or field, an unknown or malformed macro, a mail
// without subject_template, or script/style in a body is an error and changes
// nothing. Render falls back from the requested language to its prefixes
// (nb-NO → nb), from nb/nn to no, then to en.
//
// # Macros
//
//	{{ contactinfo }}  Values.ContactInfo: the subject's contact info from the request
//	{{ contact }}      Values.Contact: the e-mail of the contact the mail goes to
//	{{ requestId }}    Values.RequestID: the access-request id
//	$ENV(name)         Values.Env[name]: deployment configuration
//
// Spacing inside {{ }} is free. A referenced value that is empty, and every
// $ENV name missing from Values.Env, is an error at Render: a misconfigured
// deployment fails loudly instead of mailing a broken link. Templates.CheckEnv
// reports all missing $ENV names at startup.
//
// docvet supplies these Env names:
//
//	portal-url             the subject portal's login URL (subject_data_available_*)
//	sesam-portal-gui-url   base URL, ending in "/", of the reviewer UI
//	subscription           path segment that follows "subscription/" in that UI
//
// The last two exist because the seed's access_request_mail links into a
// Sesam portal ("…subscription/$ENV(subscription)/gdpr/access-requests?
// email={{ contact }}&id={{ requestId }}"). The template text is kept as the
// seed has it; deployments point the two values at docvet's reviewer routes or
// override the template with their own link.
//
// # Escaping
//
// In the HTML body substituted values are HTML-escaped; inside href/src
// attributes macro values are also query-escaped (an address with "+" or "&"
// cannot change the link), while $ENV values, being operator-set URL prefixes,
// are only HTML-escaped. Line breaks and other control characters in values
// become spaces everywhere, so a subject never contains CR or LF (no header
// injection). When text_body_template is empty, the text/plain part is derived
// from the rendered HTML (HTMLToText): tags dropped, <br> and blocks become
// line breaks, links become "text (url)".
//
// # Sending
//
// SMTP (net/smtp with a context-aware dialer and deadlines) sends one
// multipart/alternative UTF-8 message per Send, quoted-printable bodies, an
// RFC 2047 subject, Date and a random Message-ID. STARTTLS is required by
// default; implicit TLS is available; plaintext only to loopback unless
// explicitly allowed, and credentials never go over plaintext to a remote
// host. SMSWebhook POSTs {"to","text"} JSON to an operator's gateway.
//
// Errors wrapping ErrPermanent (5xx replies, invalid recipients, 4xx webhook
// replies) will not succeed on retry; everything else is transient.
//
// Mail and SMS errors never carry recipient addresses, phone numbers, message
// text, server reply text or webhook URLs/bodies: they are logged, and SMTP
// servers routinely echo the address back ("550 <bob@example.org>: unknown").
// ReplyError therefore keeps only the stage and the reply codes, e.g.
// "smtp: RCPT rejected (550 5.1.1)".
package notify
