// Package awsconfig builds the AWS SDK configuration and S3 client jobrun uses.
//
// It follows aws-sdk-go-v2's default chain: credentials from the environment,
// the shared config and credentials files (~/.aws/config,
// ~/.aws/credentials), SSO, web identity, container and instance roles;
// the profile from Options.Profile or AWS_PROFILE; the region from
// Options.Region, AWS_REGION / AWS_DEFAULT_REGION or the profile.
//
// The S3 endpoint is, first match wins: Options.Endpoint, AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, then the shared config file (`endpoint_url` under the
// profile's `services` section for s3, then the profile's `endpoint_url`).
// The SDK already reads the environment variables and the config file itself
// (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true); this package only adds
// Options.Endpoint on top and decides path-style addressing on the endpoint
// the SDK ended up with.
//
// Nothing here logs or prints credentials.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PathStyleEnv forces path-style (true) or virtual-hosted-style (false)
// addressing when Options.PathStyle is nil.
const PathStyleEnv = "JOBRUN_S3_PATH_STYLE"

// DefaultEndpointRegion is the region used when nothing sets one but an S3
// endpoint override is in effect: a local S3 server does not care, and
// SigV4 needs some region to sign with.
const DefaultEndpointRegion = "us-east-1"

// MaxAttempts is the default number of attempts (first try included) of the
// SDK's retryer (standard mode unless AWS_RETRY_MODE or retry_mode says
// otherwise). AWS_MAX_ATTEMPTS or max_attempts in the shared config file
// override it.
const MaxAttempts = 5

// ErrNoRegion is returned (wrapped) when no region is configured and no
// endpoint override is in use.
var ErrNoRegion = errors.New("no AWS region: set AWS_REGION or region in ~/.aws/config")

// Options selects the profile, region and S3 endpoint. Zero values mean
// "whatever the SDK's default chain says".
type Options struct {
	// Profile is the shared config profile; empty means AWS_PROFILE or
	// "default". A profile given here takes precedence over credentials in
	// the environment (the SDK's rule for programmatically chosen profiles).
	Profile string
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// Endpoint overrides the S3 endpoint, e.g. "http://127.0.0.1:7070". It
	// must be an absolute http or https URL. It applies to the S3 client
	// only, not to the returned aws.Config.
	Endpoint string
	// PathStyle forces path-style (true) or virtual-hosted-style (false)
	// addressing. Nil means: JOBRUN_S3_PATH_STYLE if set, otherwise
	// path-style exactly when the effective endpoint's host is an IP
	// address, "localhost" or a "*.localhost" name.
	PathStyle *bool
}

// S3Client loads the AWS configuration through the SDK's default chain and
// returns an S3 client for it, together with the aws.Config (for other
// service clients; it does not carry the S3 endpoint override).
//
// Credentials are resolved lazily, on the first request: a missing or bad
// credential shows up as an error of that request, not here.
func S3Client(ctx context.Context, o Options) (*s3.Client, aws.Config, error) {
	if o.Endpoint != "" {
		if err := checkEndpoint(o.Endpoint); err != nil {
			return nil, aws.Config{}, fmt.Errorf("S3 endpoint: %w", err)
		}
	}
	envPathStyle, err := pathStyleFromEnv()
	if err != nil {
		return nil, aws.Config{}, err
	}

	var loadOpts []func(*config.LoadOptions) error
	if o.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// No custom retryer: that would make the SDK ignore AWS_MAX_ATTEMPTS,
	// AWS_RETRY_MODE and their config-file keys. With retry mode unset the
	// clients use the SDK's standard retryer; only its attempt count is
	// raised, unless the user configured one.
	if cfg.RetryMaxAttempts == 0 {
		cfg.RetryMaxAttempts = MaxAttempts
	}

	// The client's option functions run after the SDK has resolved the
	// endpoint from the environment and config files, so o.BaseEndpoint
	// there is the effective endpoint.
	var endpoint string
	var optErr error
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		if so.BaseEndpoint != nil {
			endpoint = *so.BaseEndpoint
		}
		if endpoint != "" {
			if err := checkEndpoint(endpoint); err != nil {
				optErr = fmt.Errorf("S3 endpoint (from the environment or shared config): %w", err)
				return
			}
		}
		if so.Region == "" && endpoint != "" {
			so.Region = DefaultEndpointRegion
		}
		so.UsePathStyle = decidePathStyle(endpoint, o.PathStyle, envPathStyle)
	})
	if optErr != nil {
		return nil, aws.Config{}, optErr
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return nil, aws.Config{}, ErrNoRegion
		}
		cfg.Region = DefaultEndpointRegion
	}
	return client, cfg, nil
}

// pathStyleFromEnv reads JOBRUN_S3_PATH_STYLE: nil when unset or empty.
func pathStyleFromEnv() (*bool, error) {
	v := strings.TrimSpace(os.Getenv(PathStyleEnv))
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want true or false", PathStyleEnv, v)
	}
	return &b, nil
}

// decidePathStyle: an explicit choice wins, then the environment's, then
// the endpoint's host decides (no endpoint: virtual-hosted style, as AWS
// prefers).
func decidePathStyle(endpoint string, explicit, env *bool) bool {
	if explicit != nil {
		return *explicit
	}
	if env != nil {
		return *env
	}
	return isLocalHost(endpoint)
}

// isLocalHost reports whether the endpoint's host is an IP address,
// "localhost" or a name under ".localhost": hosts where virtual-hosted
// bucket names (bucket.127.0.0.1) cannot work. (The SDK's endpoint rules
// already fall back to path style for IP hosts, but not for localhost.)
func isLocalHost(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	host := endpointHost(endpoint)
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil {
		return true
	}
	// An IPv6 zone ("fe80::1%eth0") is not accepted by ParseIP.
	if i := strings.IndexByte(host, '%'); i > 0 && net.ParseIP(host[:i]) != nil {
		return true
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// endpointHost returns the host name (no port, no brackets) of an endpoint,
// tolerating one given without a scheme.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		u, err = url.Parse("//" + endpoint)
		if err != nil {
			return ""
		}
	}
	return u.Hostname()
}

// checkEndpoint rejects endpoints the SDK would fail on later with a less
// clear message.
func checkEndpoint(endpoint string) error {
	// The messages never quote an endpoint that may hold user information.
	if !strings.Contains(endpoint, "://") {
		if strings.Contains(endpoint, "@") {
			return errors.New("want an absolute http:// or https:// URL, e.g. http://127.0.0.1:9000")
		}
		return fmt.Errorf("%q: want an absolute http:// or https:// URL, e.g. http://127.0.0.1:9000", endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a valid URL: %v", err)
	}
	if u.User != nil {
		return errors.New("the endpoint URL must not contain user information")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http:// or https:// URL, e.g. http://127.0.0.1:9000", endpoint)
	}
	return nil
}
