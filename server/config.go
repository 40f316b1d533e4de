package server

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docvet/docvet/index/identifiers"
	"gopkg.in/yaml.v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Config is the configuration of docvet serve. Load it with LoadConfig
// (embedded defaults, then the YAML file, then DOCVET_* environment
// variables); command-line flags are applied by the caller on top.
type Config struct {
	// DataDir holds the database and the JWT secret (default ./docvet-data).
	DataDir string `yaml:"data_dir"`
	// Listen is the TCP address to serve on (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// Sources are the document-source publishers to pull.
	Sources []SourceConfig `yaml:"sources"`
	// Push configures the receivers.
	Push PushConfig `yaml:"push"`
	// Auth configures bearer tokens.
	Auth AuthConfig `yaml:"auth"`
	// Limits bounds requests.
	Limits Limits `yaml:"limits"`
	// ShutdownTimeout is how long shutdown waits for in-flight requests.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Index configures the index and the ingestion pipeline (docvet serve,
	// index, reindex and status read the same section).
	Index IndexConfig `yaml:"index"`
	// Delivery configures encrypted delivery and the subject portal.
	Delivery DeliveryConfig `yaml:"delivery"`
	// Notifications configures mail and SMS notifications.
	Notifications NotifyConfig `yaml:"notifications"`
}

// IndexConfig configures the index and the ingestion pipeline.
//
// PhoneRegion and IDPatterns decide the identifier terms stored with each
// document. The index records a fingerprint of them
// (identifiers.Options.Fingerprint); when they change, the next start of
// the pipeline (docvet serve or docvet index) finds the index built with
// other options and rebuilds it from the sources into a new directory,
// swapping it in when done (docvet reindex does the same on demand).
type IndexConfig struct {
	// Dir is the index directory (default <data_dir>/index; see IndexDir).
	Dir string `yaml:"dir"`
	// PhoneRegion is the ISO 3166-1 alpha-2 region of phone numbers
	// written without a country code (default NO).
	PhoneRegion string `yaml:"phone_region"`
	// IDPatterns are organisation-specific identifiers (customer numbers,
	// national IDs) indexed as "id:<name>" terms.
	IDPatterns []IDPatternConfig `yaml:"id_patterns"`
	// BatchSize is the number of documents per index batch and ledger
	// transaction (default 256).
	BatchSize int `yaml:"batch_size"`
	// Workers is the number of sandboxed extraction worker processes
	// (default 0: the number of CPUs).
	Workers int `yaml:"workers"`
	// Concurrency bounds the documents downloaded and extracted at once
	// (default 0: twice the workers, so downloads overlap extractions).
	Concurrency int `yaml:"concurrency"`
	// WorkerMemoryLimit caps one worker process (default 1GiB; keep it at
	// least twice the largest document).
	WorkerMemoryLimit ByteSize `yaml:"worker_memory_limit"`
	// DocumentTimeout bounds the extraction of one document (default 60s).
	DocumentTimeout time.Duration `yaml:"document_timeout"`
	// PollInterval is how often the pipeline looks for new documents
	// (default 5s). Pulls and pushes that store documents start a pass at
	// once, so this only matters for work nothing announced (retries).
	PollInterval time.Duration `yaml:"poll_interval"`
}

// IDPatternConfig is one configured identifier pattern.
type IDPatternConfig struct {
	// Name makes the term kind "id:<name>" (1-63 of a-z 0-9 _ -).
	Name string `yaml:"name"`
	// Regexp is a Go regular expression (RE2 syntax) matching the
	// identifier as written in documents.
	Regexp string `yaml:"regexp"`
	// StripSeparators removes spaces, dashes, dots and slashes when
	// normalising, so "CUST-001-1234" and "CUST 0011234" are one ID.
	StripSeparators bool `yaml:"strip_separators"`
	// Check optionally names a validity check of the normalised value:
	// "no-national-id" (Norwegian fødselsnummer/D-nummer check digits).
	Check string `yaml:"check"`
}

// IndexDir returns the index directory: index.dir, or <data_dir>/index.
func (c Config) IndexDir() string {
	if c.Index.Dir != "" {
		return c.Index.Dir
	}
	return filepath.Join(c.DataDir, "index")
}

// IdentifierOptions compiles the identifier options of the configuration.
// It fails, naming the pattern, on what Validate reports for id_patterns.
func (c IndexConfig) IdentifierOptions() (identifiers.Options, error) {
	o := identifiers.Options{DefaultRegion: c.PhoneRegion}
	if o.DefaultRegion == "" {
		o.DefaultRegion = identifiers.DefaultRegion
	}
	var errs []error
	for i, p := range c.IDPatterns {
		idp, err := p.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("index.id_patterns[%d] %q: %w", i, p.Name, err))
			continue
		}
		o.IDs = append(o.IDs, idp)
	}
	return o, errors.Join(errs...)
}

func (p IDPatternConfig) compile() (identifiers.IDPattern, error) {
	if !sourceNameRE.MatchString(p.Name) {
		return identifiers.IDPattern{}, errors.New("name: use 1-63 of a-z 0-9 _ - (starting with a letter or digit)")
	}
	if strings.TrimSpace(p.Regexp) == "" {
		return identifiers.IDPattern{}, errors.New("regexp is empty")
	}
	re, err := regexp.Compile(p.Regexp)
	if err != nil {
		return identifiers.IDPattern{}, fmt.Errorf("regexp: %w", err)
	}
	if re.MatchString("") {
		return identifiers.IDPattern{}, errors.New("regexp matches the empty string")
	}
	idp := identifiers.IDPattern{Name: p.Name, Regexp: re, StripSeparators: p.StripSeparators}
	if p.Check != "" {
		f, ok := identifiers.Checks[p.Check]
		if !ok {
			names := make([]string, 0, len(identifiers.Checks))
			for n := range identifiers.Checks {
				names = append(names, n)
			}
			sort.Strings(names)
			return identifiers.IDPattern{}, fmt.Errorf("check %q: want one of %s", p.Check, strings.Join(names, ", "))
		}
		idp.Valid = f
	}
	return idp, nil
}

// SourceConfig is one document source to pull into dataset "source:<name>".
type SourceConfig struct {
	Name string `yaml:"name"`
	// URL is the source's publisher URL (…/entities).
	URL string `yaml:"url"`
	// Interval between pulls when the source is healthy (default 1m).
	Interval time.Duration `yaml:"interval"`
	// BatchSize is the limit per pull request and per commit (default 1000).
	BatchSize int `yaml:"batch_size"`
	// ContentBase is the only URL prefix extract-content may point under
	// (default scheme://host:port/ of URL).
	ContentBase string `yaml:"content_base"`
	// TokenFile optionally holds a bearer token for the source.
	TokenFile string `yaml:"token_file"`
	// Timeout bounds one pull request including its body (default 10m).
	Timeout time.Duration `yaml:"timeout"`
	// BackoffMin and BackoffMax bound the retry delay while the source
	// fails (defaults 1s and 5m; doubled per failure, with jitter).
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// PushConfig configures the receivers.
type PushConfig struct {
	// ContentBases lists the URL prefixes extract-content of pushed
	// custom-documents may point under. Empty: pushed documents are refused.
	ContentBases []string `yaml:"content_bases"`
}

// AuthConfig configures bearer tokens (HS256 JWTs, audience "docvet").
type AuthConfig struct {
	// SecretFile holds the HMAC secret (default <data_dir>/jwt.secret,
	// generated on first start with mode 0600).
	SecretFile string `yaml:"secret_file"`
}

// Limits bounds requests.
type Limits struct {
	// MaxRequestBody caps a request body (default 16 MiB): 413 beyond it.
	MaxRequestBody ByteSize `yaml:"max_request_body"`
	// MaxEntityBytes caps one pulled entity (default 4 MiB). A larger
	// entity whose _id and _updated can be read is rejected and skipped.
	MaxEntityBytes ByteSize `yaml:"max_entity_bytes"`
	// MaxPublishEntities is the most entities one publisher response
	// carries: the default and cap of its limit parameter (default 10000).
	// Clients continue with since.
	MaxPublishEntities int `yaml:"max_publish_entities"`
	// PublishWriteTimeout bounds the writing of each page (up to 1000
	// entities or 4 MiB) of a publisher response; a client that reads
	// slower is disconnected (default 1m).
	PublishWriteTimeout time.Duration `yaml:"publish_write_timeout"`
}

// ByteSize is a size in bytes; YAML accepts an integer or "16MiB", "512KB".
type ByteSize int64

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMGT]?I?B)?\s*$`)

// ParseByteSize parses "1048576", "1MiB", "1MB" (decimal), "16 KiB".
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (use e.g. 16MiB)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}[m[2]]
	if mult == 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts an integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// LoadConfig reads the embedded defaults, then path (if not ""), then the
// DOCVET_* environment variables (getenv; nil means os.Getenv). Unknown YAML
// keys are errors, so typos do not silently fall back to defaults. The
// result has defaults applied but is not validated.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var c Config
	if err := decodeYAML(defaultsYAML, &c); err != nil {
		return c, fmt.Errorf("embedded defaults: %w", err)
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", filepath.Base(path), err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	c.applyDefaults()
	return c, nil
}

func decodeYAML(b []byte, c *Config) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// applyEnv applies the environment overrides.
func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv("DOCVET_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("DOCVET_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("DOCVET_JWT_SECRET_FILE"); v != "" {
		c.Auth.SecretFile = v
	}
	if v := getenv("DOCVET_MAX_REQUEST_BODY"); v != "" {
		n, err := ParseByteSize(v)
		if err != nil {
			return fmt.Errorf("DOCVET_MAX_REQUEST_BODY: %w", err)
		}
		c.Limits.MaxRequestBody = n
	}
	if v := getenv("DOCVET_PUSH_CONTENT_BASES"); v != "" {
		c.Push.ContentBases = splitList(v)
	}
	if v := getenv("DOCVET_INDEX_DIR"); v != "" {
		c.Index.Dir = v
	}
	if v := getenv("DOCVET_PHONE_REGION"); v != "" {
		c.Index.PhoneRegion = v
	}
	if v := getenv("DOCVET_INDEX_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("DOCVET_INDEX_WORKERS: %q is not a number", v)
		}
		c.Index.Workers = n
	}
	return c.deliveryEnv(getenv)
}

// applyDefaults fills unset values. It is idempotent.
func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./docvet-data"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Limits.MaxRequestBody <= 0 {
		c.Limits.MaxRequestBody = 16 << 20
	}
	if c.Limits.MaxEntityBytes <= 0 {
		c.Limits.MaxEntityBytes = 4 << 20
	}
	if c.Limits.MaxPublishEntities <= 0 {
		c.Limits.MaxPublishEntities = 10000
	}
	if c.Limits.PublishWriteTimeout <= 0 {
		c.Limits.PublishWriteTimeout = time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Auth.SecretFile == "" {
		c.Auth.SecretFile = filepath.Join(c.DataDir, "jwt.secret")
	}
	c.deliveryDefaults()
	ix := &c.Index
	if ix.PhoneRegion == "" {
		ix.PhoneRegion = identifiers.DefaultRegion
	}
	ix.PhoneRegion = strings.ToUpper(ix.PhoneRegion)
	if ix.BatchSize <= 0 {
		ix.BatchSize = 256
	}
	if ix.WorkerMemoryLimit <= 0 {
		ix.WorkerMemoryLimit = 1 << 30
	}
	if ix.DocumentTimeout <= 0 {
		ix.DocumentTimeout = time.Minute
	}
	if ix.PollInterval <= 0 {
		ix.PollInterval = 5 * time.Second
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Interval <= 0 {
			s.Interval = time.Minute
		}
		if s.BatchSize <= 0 {
			s.BatchSize = 1000
		}
		if s.Timeout <= 0 {
			s.Timeout = 10 * time.Minute
		}
		if s.BackoffMin <= 0 {
			s.BackoffMin = time.Second
		}
		if s.BackoffMax <= 0 {
			s.BackoffMax = 5 * time.Minute
		}
		if s.ContentBase == "" {
			if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
				s.ContentBase = u.Scheme + "://" + u.Host + "/"
			}
		}
	}
}

var sourceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DataDir == "" {
		add("data_dir is empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen %q: want host:port", c.Listen)
	}
	if c.Limits.MaxRequestBody < 1024 {
		add("limits.max_request_body must be at least 1KiB")
	}
	if c.Limits.MaxEntityBytes < 1024 {
		add("limits.max_entity_bytes must be at least 1KiB")
	}
	if c.Limits.MaxPublishEntities < 1 || c.Limits.MaxPublishEntities > 1000000 {
		add("limits.max_publish_entities must be 1..1000000")
	}
	c.validateDelivery(add)
	ix := c.Index
	if !identifiers.ValidRegion(ix.PhoneRegion) {
		add("index.phone_region %q: want an ISO 3166-1 alpha-2 region such as NO", ix.PhoneRegion)
	}
	ids := map[string]bool{}
	for i, p := range ix.IDPatterns {
		if _, err := p.compile(); err != nil {
			add("index.id_patterns[%d] %q: %v", i, p.Name, err)
		} else if ids[p.Name] {
			add("index.id_patterns[%d] %q: name is used twice", i, p.Name)
		}
		ids[p.Name] = true
	}
	if ix.BatchSize < 1 || ix.BatchSize > 10000 {
		add("index.batch_size must be 1..10000")
	}
	if ix.Workers < 0 || ix.Workers > 256 {
		add("index.workers must be 0 (number of CPUs) .. 256")
	}
	if ix.Concurrency < 0 || ix.Concurrency > 1024 {
		add("index.concurrency must be 0 (twice the workers) .. 1024")
	}
	if ix.WorkerMemoryLimit < 256<<20 {
		add("index.worker_memory_limit must be at least 256MiB")
	}
	if ix.DocumentTimeout < time.Second {
		add("index.document_timeout must be at least 1s")
	}
	if ix.PollInterval < 100*time.Millisecond {
		add("index.poll_interval must be at least 100ms")
	}
	for i, b := range c.Push.ContentBases {
		if _, err := parseContentBase(b); err != nil {
			add("push.content_bases[%d]: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		if !sourceNameRE.MatchString(s.Name) {
			add("%s.name %q: use 1-63 of a-z 0-9 _ - (starting with a letter or digit)", where, s.Name)
		} else if seen[s.Name] {
			add("%s.name %q is used twice", where, s.Name)
		}
		seen[s.Name] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s.url must be an absolute http(s) URL", where)
		}
		if _, err := parseContentBase(s.ContentBase); err != nil {
			add("%s.content_base: %v", where, err)
		}
		if s.Interval < time.Second {
			add("%s.interval must be at least 1s", where)
		}
		if s.BatchSize < 1 || s.BatchSize > 100000 {
			add("%s.batch_size must be 1..100000", where)
		}
		if s.BackoffMax < s.BackoffMin {
			add("%s.backoff_max must not be below backoff_min", where)
		}
	}
	return errors.Join(errs...)
}

// contentBase is a parsed allowed prefix for extract-content URLs.
type contentBase struct {
	scheme, host, path string // host includes an explicit port; path ends in "/"
}

func parseContentBase(s string) (contentBase, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return contentBase{}, errors.New("must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return contentBase{}, errors.New("must not contain credentials, a query or a fragment")
	}
	p := u.Path
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return contentBase{scheme: u.Scheme, host: hostWithPort(u), path: p}, nil
}

func hostWithPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// allows reports whether raw (with or without the "~r" prefix) points under
// the base: same scheme, host and port, a path below the base path with no
// dot segments, and no credentials.
func (b contentBase) allows(raw string) bool {
	raw = strings.TrimPrefix(raw, "~r")
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	if strings.ToLower(u.Scheme) != b.scheme || hostWithPort(u) != b.host {
		return false
	}
	p := u.Path
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return strings.HasPrefix(p, b.path)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
