package awsconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// isolate points the SDK at empty config files and clears every variable
// that could leak in from the developer's or CI's environment.
func isolate(t *testing.T) (configFile, credsFile string) {
	t.Helper()
	dir := t.TempDir()
	configFile = filepath.Join(dir, "config")
	credsFile = filepath.Join(dir, "credentials")
	for _, f := range []string{configFile, credsFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		PathStyleEnv,
	} {
		t.Setenv(k, "") // the SDK treats empty as unset
	}
	return configFile, credsFile
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDecidePathStyle(t *testing.T) {
	yes, no := aws.Bool(true), aws.Bool(false)
	tests := []struct {
		name     string
		endpoint string
		explicit *bool
		env      *bool
		want     bool
	}{
		{"no endpoint", "", nil, nil, false},
		{"aws endpoint", "https://s3.eu-west-1.amazonaws.com", nil, nil, false},
		{"custom dns name", "https://storage.example.com:9000", nil, nil, false},
		{"ipv4", "http://127.0.0.1:7070", nil, nil, true},
		{"ipv4 no port", "http://10.1.2.3", nil, nil, true},
		{"ipv4 with path", "http://192.168.1.5:9000/s3", nil, nil, true},
		{"ipv6", "http://[::1]:9000", nil, nil, true},
		{"ipv6 with zone", "http://[fe80::1%25eth0]:9000", nil, nil, true},
		{"localhost", "http://localhost:9000", nil, nil, true},
		{"localhost upper case", "http://LocalHost:9000", nil, nil, true},
		{"localhost trailing dot", "http://localhost.:9000", nil, nil, true},
		{"sub.localhost", "http://minio.localhost:9000", nil, nil, true},
		{"localhost as a label prefix", "http://localhost.example.com", nil, nil, false},
		{"localhost as a name suffix", "http://mylocalhost:9000", nil, nil, false},
		{"no scheme ip", "127.0.0.1:9000", nil, nil, true},
		{"explicit true on aws", "https://s3.amazonaws.com", yes, nil, true},
		{"explicit false on ip", "http://127.0.0.1:7070", no, nil, false},
		{"explicit true without endpoint", "", yes, nil, true},
		{"env true on dns name", "https://storage.example.com", nil, yes, true},
		{"env false on ip", "http://127.0.0.1:7070", nil, no, false},
		{"explicit beats env (false over true)", "https://storage.example.com", no, yes, false},
		{"explicit beats env (true over false)", "https://storage.example.com", yes, no, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decidePathStyle(tt.endpoint, tt.explicit, tt.env); got != tt.want {
				t.Errorf("decidePathStyle(%q, %v, %v) = %v, want %v",
					tt.endpoint, ptr(tt.explicit), ptr(tt.env), got, tt.want)
			}
		})
	}
}

func ptr(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}

// TestEndpointPrecedence checks the effective endpoint, path style and
// region of the client S3Client builds.
func TestEndpointPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		config    string // ~/.aws/config content
		opts      Options
		wantEP    string // "" = no override (AWS's own endpoint)
		wantPath  bool
		wantRegin string
	}{
		{
			name:      "nothing: AWS endpoint, virtual-hosted",
			env:       map[string]string{"AWS_REGION": "eu-west-1"},
			wantRegin: "eu-west-1",
		},
		{
			name:      "AWS_ENDPOINT_URL",
			env:       map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9001"},
			wantEP:    "http://127.0.0.1:9001",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name: "AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL",
			env: map[string]string{
				"AWS_ENDPOINT_URL":    "https://global.example.com",
				"AWS_ENDPOINT_URL_S3": "http://localhost:9002",
				"AWS_REGION":          "eu-central-1",
			},
			wantEP:    "http://localhost:9002",
			wantPath:  true,
			wantRegin: "eu-central-1",
		},
		{
			name: "path style decided on the effective endpoint, not the global one",
			env: map[string]string{
				"AWS_ENDPOINT_URL":    "http://127.0.0.1:9003",
				"AWS_ENDPOINT_URL_S3": "https://s3.example.com",
			},
			wantEP:    "https://s3.example.com",
			wantPath:  false,
			wantRegin: "us-east-1",
		},
		{
			name: "Options.Endpoint beats both variables",
			env: map[string]string{
				"AWS_ENDPOINT_URL":    "https://global.example.com",
				"AWS_ENDPOINT_URL_S3": "https://s3.example.com",
			},
			opts:      Options{Endpoint: "http://[::1]:9004"},
			wantEP:    "http://[::1]:9004",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name:      "config file endpoint_url",
			config:    "[default]\nregion = ap-south-1\nendpoint_url = http://minio.localhost:9005\n",
			wantEP:    "http://minio.localhost:9005",
			wantPath:  true,
			wantRegin: "ap-south-1",
		},
		{
			name: "config file services section for s3",
			config: "[default]\nservices = local\nendpoint_url = https://all.example.com\n" +
				"[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9006\n",
			wantEP:    "http://127.0.0.1:9006",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name:      "AWS_ENDPOINT_URL beats config file",
			env:       map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9007"},
			config:    "[default]\nendpoint_url = https://file.example.com\n",
			wantEP:    "http://127.0.0.1:9007",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name:      "profile from Options selects its endpoint and region",
			config:    "[default]\nregion = eu-west-1\n[profile lab]\nregion = us-west-2\nendpoint_url = http://10.0.0.5:9000\n",
			opts:      Options{Profile: "lab"},
			wantEP:    "http://10.0.0.5:9000",
			wantPath:  true,
			wantRegin: "us-west-2",
		},
		{
			name:      "profile from AWS_PROFILE",
			env:       map[string]string{"AWS_PROFILE": "lab"},
			config:    "[profile lab]\nregion = us-west-2\n",
			wantRegin: "us-west-2",
		},
		{
			name:      "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS drops env and file endpoints",
			env:       map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9008", "AWS_REGION": "eu-west-1"},
			config:    "[default]\nendpoint_url = http://127.0.0.1:9009\n",
			wantRegin: "eu-west-1",
		},
		{
			name:      "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS keeps Options.Endpoint",
			env:       map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9008"},
			opts:      Options{Endpoint: "http://localhost:9010"},
			wantEP:    "http://localhost:9010",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name:      "Options.Region beats AWS_REGION",
			env:       map[string]string{"AWS_REGION": "eu-west-1"},
			opts:      Options{Region: "sa-east-1"},
			wantRegin: "sa-east-1",
		},
		{
			name:      "JOBRUN_S3_PATH_STYLE=true on a DNS endpoint",
			env:       map[string]string{PathStyleEnv: "true", "AWS_ENDPOINT_URL_S3": "https://s3.example.com"},
			wantEP:    "https://s3.example.com",
			wantPath:  true,
			wantRegin: "us-east-1",
		},
		{
			name:      "JOBRUN_S3_PATH_STYLE=false on an IP endpoint",
			env:       map[string]string{PathStyleEnv: "false", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9011"},
			wantEP:    "http://127.0.0.1:9011",
			wantPath:  false,
			wantRegin: "us-east-1",
		},
		{
			name:      "Options.PathStyle beats JOBRUN_S3_PATH_STYLE",
			env:       map[string]string{PathStyleEnv: "true", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9012"},
			opts:      Options{PathStyle: aws.Bool(false)},
			wantEP:    "http://127.0.0.1:9012",
			wantPath:  false,
			wantRegin: "us-east-1",
		},
		{
			name:      "Options.PathStyle on AWS",
			env:       map[string]string{"AWS_REGION": "eu-west-1"},
			opts:      Options{PathStyle: aws.Bool(true)},
			wantPath:  true,
			wantRegin: "eu-west-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configFile, _ := isolate(t)
			writeFile(t, configFile, tt.config)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			client, cfg, err := S3Client(context.Background(), tt.opts)
			if err != nil {
				t.Fatalf("S3Client: %v", err)
			}
			o := client.Options()
			gotEP := aws.ToString(o.BaseEndpoint)
			if gotEP != tt.wantEP {
				t.Errorf("endpoint = %q, want %q", gotEP, tt.wantEP)
			}
			if o.UsePathStyle != tt.wantPath {
				t.Errorf("UsePathStyle = %v, want %v", o.UsePathStyle, tt.wantPath)
			}
			if o.Region != tt.wantRegin {
				t.Errorf("client region = %q, want %q", o.Region, tt.wantRegin)
			}
			if cfg.Region != tt.wantRegin {
				t.Errorf("aws.Config region = %q, want %q", cfg.Region, tt.wantRegin)
			}
			if cfg.BaseEndpoint != nil && tt.opts.Endpoint != "" && *cfg.BaseEndpoint == tt.opts.Endpoint {
				t.Errorf("Options.Endpoint leaked into aws.Config.BaseEndpoint (it would apply to every service)")
			}
		})
	}
}

func TestNoRegion(t *testing.T) {
	isolate(t)
	_, _, err := S3Client(context.Background(), Options{})
	if !errors.Is(err, ErrNoRegion) {
		t.Fatalf("err = %v, want ErrNoRegion", err)
	}
	if want := "no AWS region: set AWS_REGION or region in ~/.aws/config"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
}

func TestBadSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		opts    Options
		wantErr string
	}{
		{"endpoint without scheme", nil, Options{Endpoint: "127.0.0.1:9000"}, "want an absolute http:// or https:// URL"},
		{"endpoint with other scheme", nil, Options{Endpoint: "ftp://127.0.0.1"}, "want an absolute http:// or https:// URL"},
		{"env endpoint without scheme", map[string]string{"AWS_ENDPOINT_URL_S3": "localhost:9000"}, Options{}, "from the environment or shared config"},
		{"bad JOBRUN_S3_PATH_STYLE", map[string]string{PathStyleEnv: "maybe", "AWS_REGION": "us-east-1"}, Options{}, PathStyleEnv},
		{"missing profile", nil, Options{Profile: "nope"}, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, _, err := S3Client(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEndpointWithUserInfoIsNotEchoed(t *testing.T) {
	isolate(t)
	_, _, err := S3Client(context.Background(), Options{Endpoint: "http://AKIDSECRET:topsecret@127.0.0.1:9000"})
	if err == nil {
		t.Fatal("want an error for an endpoint with user information")
	}
	if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "AKIDSECRET") {
		t.Fatalf("error echoes the credentials: %v", err)
	}
}

func TestRetryer(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_REGION", "us-east-1")
	client, cfg, err := S3Client(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Options().Retryer.MaxAttempts(); got != MaxAttempts {
		t.Errorf("client max attempts = %d, want %d", got, MaxAttempts)
	}
	if cfg.RetryMaxAttempts != MaxAttempts {
		t.Errorf("aws.Config RetryMaxAttempts = %d, want %d", cfg.RetryMaxAttempts, MaxAttempts)
	}
	// An empty mode is the SDK's standard retryer.
	if m := client.Options().RetryMode; m != "" && m != aws.RetryModeStandard {
		t.Errorf("retry mode = %q, want standard", m)
	}

	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	client, _, err = S3Client(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Options().Retryer.MaxAttempts(); got != 2 {
		t.Errorf("with AWS_MAX_ATTEMPTS=2: max attempts = %d, want 2", got)
	}

	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	client, _, err = S3Client(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Options().RetryMode; got != aws.RetryModeAdaptive {
		t.Errorf("with AWS_RETRY_MODE=adaptive: mode = %q", got)
	}
	if got := client.Options().Retryer.MaxAttempts(); got != MaxAttempts {
		t.Errorf("with AWS_RETRY_MODE=adaptive: max attempts = %d, want %d", got, MaxAttempts)
	}
}

func TestCredentialChain(t *testing.T) {
	_, credsFile := isolate(t)
	t.Setenv("AWS_REGION", "us-east-1")
	writeFile(t, credsFile, "[default]\naws_access_key_id = FILEDEFAULT\naws_secret_access_key = s1\n"+
		"[other]\naws_access_key_id = FILEOTHER\naws_secret_access_key = s2\n")

	key := func(o Options) string {
		t.Helper()
		_, cfg, err := S3Client(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c.AccessKeyID
	}
	if got := key(Options{}); got != "FILEDEFAULT" {
		t.Errorf("default profile: key %q", got)
	}
	if got := key(Options{Profile: "other"}); got != "FILEOTHER" {
		t.Errorf("Options.Profile: key %q", got)
	}
	t.Setenv("AWS_PROFILE", "other")
	if got := key(Options{}); got != "FILEOTHER" {
		t.Errorf("AWS_PROFILE: key %q", got)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "FROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3")
	if got := key(Options{}); got != "FROMENV" {
		t.Errorf("env credentials over AWS_PROFILE: key %q", got)
	}
	if got := key(Options{Profile: "other"}); got != "FILEOTHER" {
		t.Errorf("Options.Profile over env credentials: key %q", got)
	}
}
