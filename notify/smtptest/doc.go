// Package smtptest owns an in-process SMTP server for tests of code that sends
// mail: EHLO, STARTTLS with a self-signed certificate generated per server,
// AUTH PLAIN, MAIL/RCPT/DATA/RSET/NOOP/QUIT, configurable RCPT and DATA
// rejections and stalls, and a parser that decodes accepted messages with
// net/mail and mime/multipart so tests can assert subject, text and HTML.
// It listens on 127.0.0.1 only and is closed by t.Cleanup.
package smtptest
