package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "docvet.example.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config invalid: %v", err)
	}
	s := cfg.Sources[0]
	if s.Name != "fileshare" || s.Interval != time.Minute || s.BatchSize != 1000 || s.BackoffMax != 5*time.Minute ||
		cfg.Limits.MaxRequestBody != 16<<20 || cfg.Auth.SecretFile != filepath.Join("docvet-data", "jwt.secret") {
		t.Fatalf("loaded %+v", cfg)
	}
}

func TestConfigDefaultsAndEnv(t *testing.T) {
	env := map[string]string{"DOCVET_LISTEN": "0.0.0.0:9000", "DOCVET_MAX_REQUEST_BODY": "1MiB", "DOCVET_DATA_DIR": "/var/lib/docvet"}
	cfg, err := LoadConfig("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9000" || cfg.Limits.MaxRequestBody != 1<<20 || cfg.DataDir != "/var/lib/docvet" ||
		cfg.Auth.SecretFile != "/var/lib/docvet/jwt.secret" || cfg.Limits.MaxEntityBytes != 4<<20 {
		t.Fatalf("got %+v", cfg)
	}
	cfg, _ = LoadConfig("", func(string) string { return "" })
	if cfg.DataDir != "./docvet-data" || cfg.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	if _, err := LoadConfig(write("listne: x\n"), nil); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("typo not reported: %v", err)
	}
	if _, err := LoadConfig(write("limits: {max_request_body: lots}\n"), nil); err == nil {
		t.Fatal("bad size accepted")
	}
	cfg, err := LoadConfig(write(`
listen: nohost
push: {content_bases: ["ftp://x/"]}
sources:
  - {name: "Bad Name", url: "file:///etc"}
  - {name: ok, url: "http://h:1/e", batch_size: -5, interval: 10ms}
  - {name: ok, url: "http://h:1/e"}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{"listen", "content_bases[0]", "sources[0].name", "sources[0].url", "sources[1].interval", "sources[2].name \"ok\" is used twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want mention of %q", err, want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1024": 1024, "16MiB": 16 << 20, "16 mib": 16 << 20, "2KB": 2000, "1GiB": 1 << 30} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "10 parsecs", "99999999999999999999"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestContentBase(t *testing.T) {
	b, err := parseContentBase("http://files.example:8081/content")
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"http://files.example:8081/content/a.pdf":      true,
		"~rhttp://files.example:8081/content/x/y.pdf":  true,
		"http://FILES.example:8081/content/a.pdf":      true,
		"http://files.example:8081/contentx/a.pdf":     false,
		"http://files.example:8081/content/../etc":     false,
		"http://files.example:8081/content/%2e%2e/etc": false,
		"http://files.example/content/a.pdf":           false,
		"https://files.example:8081/content/a.pdf":     false,
		"http://user:pw@files.example:8081/content/a":  false,
		"http://files.example:8081@evil/content/a":     false,
		"/content/a.pdf": false,
	} {
		if got := b.allows(u); got != want {
			t.Errorf("allows(%q) = %v, want %v", u, got, want)
		}
	}
	d, _ := parseContentBase("https://h/")
	if !d.allows("https://h:443/x") {
		t.Error("default port not normalised")
	}
}

func TestIndexConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "docvet.example.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ix := cfg.Index
	if ix.PhoneRegion != "NO" || ix.BatchSize != 256 || ix.PollInterval != 5*time.Second || ix.WorkerMemoryLimit != 1<<30 ||
		ix.DocumentTimeout != time.Minute || len(ix.IDPatterns) != 2 || cfg.IndexDir() != filepath.Join("docvet-data", "index") {
		t.Fatalf("index section %+v dir %s", ix, cfg.IndexDir())
	}
	io, err := cfg.IndexOptions()
	if err != nil {
		t.Fatal(err)
	}
	if io.Identifiers.DefaultRegion != "NO" || len(io.Identifiers.IDs) != 2 || io.Identifiers.IDs[1].Valid == nil ||
		!io.Identifiers.IDs[0].StripSeparators || !io.Identifiers.IDs[0].Regexp.MatchString("cust-001-1234") {
		t.Fatalf("identifier options %+v", io.Identifiers)
	}
	po := cfg.PipelineOptions()
	if po.BatchSize != 256 || po.PollInterval != 5*time.Second || len(po.Datasets) != 2 {
		t.Fatalf("pipeline options %+v", po)
	}

	// Defaults without a file; env overrides.
	env := map[string]string{"DOCVET_DATA_DIR": "/d", "DOCVET_PHONE_REGION": "se", "DOCVET_INDEX_WORKERS": "3"}
	cfg, err = LoadConfig("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IndexDir() != "/d/index" || cfg.Index.PhoneRegion != "SE" || cfg.Index.Workers != 3 || cfg.Validate() != nil {
		t.Fatalf("env: %+v %v", cfg.Index, cfg.Validate())
	}
	env["DOCVET_INDEX_DIR"] = "/idx"
	if cfg, _ = LoadConfig("", func(k string) string { return env[k] }); cfg.IndexDir() != "/idx" {
		t.Fatalf("DOCVET_INDEX_DIR: %s", cfg.IndexDir())
	}
	env["DOCVET_INDEX_WORKERS"] = "many"
	if _, err := LoadConfig("", func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DOCVET_INDEX_WORKERS") {
		t.Fatalf("bad DOCVET_INDEX_WORKERS: %v", err)
	}

	// Errors name the pattern and the key.
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(`
index:
  phone_region: XX
  id_patterns:
    - {name: broken, regexp: "CUST(\\d+"}
    - {name: empty, regexp: "x*"}
    - {name: "Bad Name", regexp: "X\\d"}
    - {name: dup, regexp: "A\\d"}
    - {name: dup, regexp: "B\\d"}
    - {name: chk, regexp: "C\\d", check: luhn}
  batch_size: 100000
  worker_memory_limit: 1MiB
  document_timeout: 10ms
  poll_interval: 1ms
`), 0o600)
	cfg, err = LoadConfig(p, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{
		`index.phone_region "XX"`, `index.id_patterns[0] "broken": regexp: error parsing regexp`,
		`index.id_patterns[1] "empty": regexp matches the empty string`, `index.id_patterns[2] "Bad Name": name`,
		`index.id_patterns[4] "dup": name is used twice`, `index.id_patterns[5] "chk": check "luhn": want one of no-national-id`,
		"index.batch_size", "index.worker_memory_limit", "index.document_timeout", "index.poll_interval",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant mention of %q", err, want)
		}
	}
	if _, err := cfg.IndexOptions(); err == nil || !strings.Contains(err.Error(), `"broken"`) {
		t.Errorf("IndexOptions() = %v", err)
	}
}
