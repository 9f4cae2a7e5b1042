package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
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
	msg := apiMessage(err)
	switch {
	case code == "NoSuchBucket":
		return fmt.Sprintf("bucket %q does not exist; check the bucket name and the S3 endpoint (AWS_ENDPOINT_URL_S3) or account in use", bucket)
	case code == "PreconditionFailed" || status == 412:
		return "the object changed on S3 while jobrun was staging it (its ETag no longer matches); run the job again"
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" && strings.Contains(msg, "region") ||
		code == "IllegalLocationConstraintException" || status == 301 || status == 400 && region != "":
		if expected, signed := regionsInMessage(msg); expected != "" {
			return wrongRegion(bucket, expected, signed)
		}
		return wrongRegion(bucket, region, signedRegion(err))
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken" ||
		code == "XAdminUserNotFound": // versitygw's InvalidAccessKeyId
		return "the AWS credentials were rejected; check AWS_PROFILE / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the session has not expired"
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == 403:
		h := fmt.Sprintf("access denied; check which identity the credentials in use are (AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID) and that its IAM policy and the bucket policy of %q allow s3:ListBucket on the bucket and s3:GetObject on its objects", bucket)
		if code == "Forbidden" || code == "" {
			// A HEAD answer has no body: a wrong secret or an expired
			// session looks the same.
			h += " (a HEAD answer gives no reason: a wrong secret key or an expired session looks the same)"
		}
		return h
	case isNoCredentials(err):
		return "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login"
	case isUnreachable(err):
		return "cannot reach the S3 endpoint; check the network, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and AWS_REGION"
	case code == "InvalidObjectState":
		return "the object is archived (S3 Glacier or Deep Archive); restore it before staging"
	case code == "NoSuchKey" || code == "NotFound" || (status == 404 && code == ""):
		return "no such object; check the key (and, for a manifest, its prefix and entries)"
	case status == 400 && (code == "BadRequest" || code == ""):
		// A HEAD answer has no body to say why; a region other than the
		// bucket's is the common cause (AWS then sends
		// x-amz-bucket-region, handled above; other servers do not).
		signed := "another region than the bucket's"
		if r := signedRegion(err); r != "" {
			signed = r + ", not the bucket's region"
		}
		return fmt.Sprintf("S3 answered 400 Bad Request without a reason (a HEAD request gets no error body); the usual cause is a request signed for %s: check AWS_REGION (or the region of the profile in use, --profile / AWS_PROFILE) against the region of bucket %q", signed, bucket)
	case code != "":
		return "S3 refused the request (" + code + ")"
	}
	return "the S3 request failed"
}

// wrongRegion explains a request signed for another region than the
// bucket's. bucketRegion and signed are "" when unknown.
func wrongRegion(bucket, bucketRegion, signed string) string {
	const where = "(or the region of the profile in use, --profile / AWS_PROFILE)"
	switch {
	case bucketRegion != "" && signed != "":
		return fmt.Sprintf("bucket %q is in region %s, but requests were signed for %s; set AWS_REGION=%s %s", bucket, bucketRegion, signed, bucketRegion, where)
	case bucketRegion != "":
		return fmt.Sprintf("bucket %q is in region %s, not the one configured; set AWS_REGION=%s %s", bucket, bucketRegion, bucketRegion, where)
	}
	return fmt.Sprintf("bucket %q is in another region than the one configured; set AWS_REGION %s to the bucket's region", bucket, where)
}

// regionMessage matches AuthorizationHeaderMalformed's message, as AWS
// ('...') and versitygw ("...") word it: "The authorization header is
// malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'".
var regionMessage = regexp.MustCompile(`region ['"]([a-z0-9-]*)['"] is wrong; expecting ['"]([a-z0-9-]+)['"]`)

// regionsInMessage returns the region the server expects and the one the
// request was signed for, or "" when msg does not say.
func regionsInMessage(msg string) (expected, signed string) {
	m := regionMessage.FindStringSubmatch(msg)
	if m == nil {
		return "", ""
	}
	return m[2], m[1]
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

// credentialScope matches SigV4's Authorization header up to the region:
// "AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/s3/aws4_request, ...".
var credentialScope = regexp.MustCompile(`Credential=[^/,]+/[0-9]+/([a-z0-9-]+)/`)

// signedRegion is the region the failed request was signed for, read from
// its Authorization header ("" when unknown).
func signedRegion(err error) string {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Request == nil {
		return ""
	}
	m := credentialScope.FindStringSubmatch(re.Response.Request.Header.Get("Authorization"))
	if m == nil {
		return ""
	}
	return m[1]
}

// apiMessage is the S3 error's message ("" when it has none).
func apiMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorMessage()
	}
	return ""
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
