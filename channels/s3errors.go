package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrObjectChanged is wrapped by the error of a download whose object no
// longer has the ETag it was listed (or pinned) with.
var ErrObjectChanged = errors.New("the object changed while it was being staged")

// S3Error is a failed S3 request, explained: which URI and what to check.
// Stage wraps it with the channel's name.
type S3Error struct {
	URI  string // s3://bucket/key or s3://bucket/prefix
	Hint string // what went wrong and what to check
	Err  error  // the SDK's error
}

func (e *S3Error) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.URI, e.Hint, e.Err)
}

func (e *S3Error) Unwrap() error { return e.Err }

// explain wraps an S3 error for uri with a hint naming the likely cause.
// Cancellation passes through untouched: it is not a failure to explain.
func explain(err error, uri string) error {
	if err == nil {
		return nil
	}
	var s3e *S3Error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &s3e) {
		return err
	}
	return &S3Error{URI: uri, Hint: hint(err, uri), Err: err}
}

// hint maps an SDK error to what the user should check.
func hint(err error, uri string) string {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if errors.Is(err, ErrObjectChanged) {
		return "the object changed on S3 while jobrun was staging it; run the job again"
	}
	code, status, region := apiError(err)
	switch {
	case code == "NoSuchBucket":
		return fmt.Sprintf("bucket %q does not exist; check the bucket name and the S3 endpoint (AWS_ENDPOINT_URL_S3) or account in use", bucket)
	case code == "PreconditionFailed" || status == 412:
		return "the object changed on S3 while jobrun was staging it (its ETag no longer matches); run the job again"
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException" || status == 301:
		return wrongRegion(bucket, region)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken" ||
		code == "XAdminUserNotFound": // versitygw's InvalidAccessKeyId
		return "the AWS credentials were rejected; check AWS_PROFILE / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the session has not expired"
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == 403:
		return fmt.Sprintf("access denied; check that the credentials in use may s3:ListBucket on bucket %q and s3:GetObject on its objects", bucket)
	case isNoCredentials(err):
		return "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login"
	case isUnreachable(err):
		return "cannot reach the S3 endpoint; check the network, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and AWS_REGION"
	case code == "InvalidObjectState":
		return "the object is archived (S3 Glacier or Deep Archive); restore it before staging"
	case code == "NoSuchKey" || code == "NotFound" || (status == 404 && code == ""):
		return "no such object; check the key (and, for a manifest, its prefix and entries)"
	case code != "":
		return "S3 refused the request (" + code + ")"
	}
	return "the S3 request failed"
}

func wrongRegion(bucket, region string) string {
	if region != "" {
		return fmt.Sprintf("bucket %q is in region %s, not the one configured; set AWS_REGION=%s (or the profile's region)", bucket, region, region)
	}
	return fmt.Sprintf("bucket %q is in another region than the one configured; set AWS_REGION (or the profile's region) to the bucket's region", bucket)
}

// apiError extracts the S3 error code, the HTTP status and the
// x-amz-bucket-region header (set on wrong-region answers).
func apiError(err error) (code string, status int, region string) {
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
		region = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return code, status, region
}

func isNoCredentials(err error) bool {
	return strings.Contains(err.Error(), "failed to retrieve credentials") ||
		strings.Contains(err.Error(), "no EC2 IMDS role found")
}

func isUnreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns)
}
