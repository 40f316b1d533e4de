package server

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docvet/docvet/notify"
)

// DeliveryConfig configures encrypted delivery and the subject portal.
type DeliveryConfig struct {
	// Dir holds the encrypted items and bundles (default <data_dir>/delivery).
	Dir string `yaml:"dir"`
	// Workers is how many rows of a request are fetched and encrypted at
	// once (default 4).
	Workers int `yaml:"workers"`
	// PortalURL is the public base URL of the subject portal, used in the
	// link sent to the subject (default http://<listen>).
	PortalURL string `yaml:"portal_url"`
	// TokenTTL is how long a portal link works (default 720h = 30 days).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// PortalFailuresPerMinute is how many wrong or expired portal tokens one
	// client address may present per minute before it gets 429s (default 30).
	PortalFailuresPerMinute int `yaml:"portal_failures_per_minute"`
	// TrustedProxies are the reverse proxies (CIDR ranges or addresses) in
	// front of the portal: for a connection from one of them, the portal's
	// rate limit keys on the right-most X-Forwarded-For address that is not
	// a trusted proxy. Default none: X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AllowInsecurePortalURL permits an http:// portal_url to a host that
	// is not loopback (the token travels in the link, so by default only
	// https:// is accepted for anything but this machine).
	AllowInsecurePortalURL bool `yaml:"allow_insecure_portal_url"`
	// trustedProxies is TrustedProxies parsed (by deliveryDefaults; invalid
	// entries are Validate's to report).
	trustedProxies []netip.Prefix
}

// NotifyConfig configures notifications (SPEC §9, seed 001 templates).
type NotifyConfig struct {
	// SubjectDelay delays the subject's "data available" message (default
	// 30m, as in seed 001; 0s sends at once).
	SubjectDelay *time.Duration `yaml:"subject_delay"`
	// MaxAttempts is how often a notification is tried before it is given
	// up (default 12; retries back off from 1m to 1h).
	MaxAttempts int `yaml:"max_attempts"`
	// Templates is a JSON file in the shape of seed 001's translation
	// list; its entries replace the built-in ones per key and
	// language.
	Templates string `yaml:"templates"`
	// Env fills the templates' $ENV(name) macros. docvet sets
	// "portal-url" itself (the subject's link).
	Env map[string]string `yaml:"env"`
	// DefaultLanguage is used when a request names none (default en).
	DefaultLanguage string `yaml:"default_language"`
	// SMTP is the mail relay; without a host, mail waits in the outbox.
	SMTP SMTPConfig `yaml:"smtp"`
	// SMSWebhook receives {"to","text"} POSTs for subjects whose contact
	// info is a phone number; without a URL such messages wait.
	SMSWebhook SMSWebhookConfig `yaml:"sms_webhook"`
}

// SMTPConfig is the mail relay.
type SMTPConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	TLS      string `yaml:"tls"` // starttls (default), tls or none (loopback only)
	Username string `yaml:"username"`
	// PasswordFile holds the password (or set DOCVET_SMTP_PASSWORD).
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	// password is read from PasswordFile or the environment at load.
	password string
}

// SMSWebhookConfig is the pluggable SMS sender.
type SMSWebhookConfig struct {
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
}

// DeliveryDir returns the delivery store directory.
func (c Config) DeliveryDir() string {
	if c.Delivery.Dir != "" {
		return c.Delivery.Dir
	}
	return filepath.Join(c.DataDir, "delivery")
}

func (c *Config) deliveryEnv(getenv func(string) string) error {
	if v := getenv("DOCVET_PORTAL_URL"); v != "" {
		c.Delivery.PortalURL = v
	}
	if v := getenv("DOCVET_SMTP_HOST"); v != "" {
		c.Notifications.SMTP.Host = v
	}
	if v := getenv("DOCVET_SMTP_PASSWORD"); v != "" {
		c.Notifications.SMTP.password = v
	}
	return nil
}

func (c *Config) deliveryDefaults() {
	d := &c.Delivery
	if d.Workers <= 0 {
		d.Workers = 4
	}
	if d.PortalURL == "" {
		d.PortalURL = "http://" + c.Listen
	}
	if d.TokenTTL <= 0 {
		d.TokenTTL = 30 * 24 * time.Hour
	}
	if d.PortalFailuresPerMinute <= 0 {
		d.PortalFailuresPerMinute = 30
	}
	d.trustedProxies, _ = parseTrustedProxies(d.TrustedProxies)
	n := &c.Notifications
	if n.SubjectDelay == nil {
		v := 30 * time.Minute
		n.SubjectDelay = &v
	}
	if n.MaxAttempts <= 0 {
		n.MaxAttempts = 12
	}
	if n.DefaultLanguage == "" {
		n.DefaultLanguage = "en"
	}
	if n.SMTP.TLS == "" {
		n.SMTP.TLS = notify.TLSStartTLS
	}
}

func (c Config) validateDelivery(add func(string, ...any)) {
	d := c.Delivery
	if d.Workers > 64 {
		add("delivery.workers must be 1..64")
	}
	if u, err := url.Parse(d.PortalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add("delivery.portal_url must be an absolute http(s) URL without query")
	}
	if d.TokenTTL < time.Hour {
		add("delivery.token_ttl must be at least 1h")
	}
	c.validatePortal(add)
	n := c.Notifications
	if n.SubjectDelay != nil && *n.SubjectDelay < 0 {
		add("notifications.subject_delay must not be negative")
	}
	if n.MaxAttempts > 1000 {
		add("notifications.max_attempts must be 1..1000")
	}
	if n.SMTP.Host != "" {
		if _, err := c.smtpOptions(); err != nil {
			add("notifications.smtp: %v", err)
		}
	}
	if n.SMSWebhook.URL != "" {
		if _, err := notify.NewSMSWebhook(n.SMSWebhook.URL, n.SMSWebhook.Headers, nil); err != nil {
			add("notifications.sms_webhook: %v", err)
		}
	}
	if n.Templates != "" {
		if _, err := c.templates(); err != nil {
			add("notifications.templates: %v", err)
		}
	}
}

// smtpOptions returns the relay's options, reading the password file.
func (c Config) smtpOptions() (notify.SMTPOptions, error) {
	s := c.Notifications.SMTP
	pw := s.password
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return notify.SMTPOptions{}, fmt.Errorf("password_file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	o := notify.SMTPOptions{Host: s.Host, Port: s.Port, From: s.From, Username: s.Username, Password: pw, TLS: s.TLS}
	if _, err := notify.NewSMTP(o); err != nil {
		return notify.SMTPOptions{}, err
	}
	return o, nil
}

// templates returns the built-in templates with the configured overrides.
func (c Config) templates() (*notify.Templates, error) {
	t := notify.DefaultTemplates()
	if c.Notifications.Templates == "" {
		return t, nil
	}
	b, err := os.ReadFile(c.Notifications.Templates)
	if err != nil {
		return nil, err
	}
	if err := t.Override(b); err != nil {
		return nil, err
	}
	return t, nil
}

// portalHost reports whether the portal URL's host is a loopback one (the
// default): the subject's link only works on this machine then.
func (c Config) portalIsLocal() bool {
	u, err := url.Parse(c.Delivery.PortalURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// validatePortal checks the portal's settings: the subject's link must
// reach this server from outside (no empty or unspecified host), the token
// in it must not travel in clear beyond this machine unless allowed, and
// every trusted proxy must parse.
func (c Config) validatePortal(add func(string, ...any)) {
	d := c.Delivery
	if _, err := parseTrustedProxies(d.TrustedProxies); err != nil {
		add("delivery.trusted_proxies%v", err)
	}
	u, err := url.Parse(d.PortalURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return // reported above
	}
	h := u.Hostname()
	if ip, err := netip.ParseAddr(h); h == "" || (err == nil && ip.IsUnspecified()) {
		add("delivery.portal_url %q has no usable host: set delivery.portal_url to the public URL subjects use", d.PortalURL)
		return
	}
	if u.Scheme == "http" && !c.portalIsLocal() && !d.AllowInsecurePortalURL {
		add("delivery.portal_url is http:// to a host other than this machine: the portal token travels in the link, " +
			"so use https:// (or set delivery.allow_insecure_portal_url: true)")
	}
}
