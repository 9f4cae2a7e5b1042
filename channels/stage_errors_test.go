package channels

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

// TestStageS3Errors checks that each failure names the channel, the URI
// and what to check, exits 125 and leaves nothing behind.
func TestStageS3Errors(t *testing.T) {
	e := newEnv(t)
	e.put(t, "x/a", []byte("a"))
	client := func(mod func(*s3.Options)) S3API {
		o := s3.Options{Region: e.srv.Region, BaseEndpoint: aws.String(e.srv.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, "")}
		mod(&o)
		o.RetryMaxAttempts = 1
		return s3.New(o)
	}
	closed := closedPort(t)
	e.put(t, "m/train.manifest", []byte(`[{"prefix": "s3://data/x/"}, "a"]`))
	// A valid account of the server that owns nothing: 403 AccessDenied.
	userAccess, userSecret := e.srv.NewUser(t)
	asUser := client(func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(userAccess, userSecret, "")
	})
	// Signed for another region than the server's: 400
	// AuthorizationHeaderMalformed, "... expecting "us-east-1"".
	otherRegion := client(func(o *s3.Options) { o.Region = "eu-west-1" })
	tests := []struct {
		name string
		s3   S3API
		in   spec.Input
		want string
	}{
		{"missing bucket", e.s3, input("train", "s3://no-such-bucket/x/"), `bucket "no-such-bucket" does not exist`},
		{"empty prefix", e.s3, input("train", "s3://data/nothing-here/"), "no objects under s3://data/nothing-here/"},
		{"bad secret", client(func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(e.srv.AccessKey, "wrong", "")
		}), input("train", "s3://data/x/"), "the AWS credentials were rejected"},
		{"unknown key id", client(func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN", "wrong", "")
		}), input("train", "s3://data/x/"), "the AWS credentials were rejected"},
		{"unreachable", client(func(o *s3.Options) { o.BaseEndpoint = aws.String("http://" + closed) }),
			input("train", "s3://data/x/"), "cannot reach the S3 endpoint"},
		{"access denied", asUser, input("train", "s3://data/x/"),
			`s3://data/x/: access denied; check which identity the credentials in use are (AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID) and that its IAM policy and the bucket policy of "data" allow s3:ListBucket`},
		{"access denied manifest", asUser, manifestInput("train", "s3://data/m/train.manifest"),
			`s3://data/m/train.manifest: access denied; check which identity`},
		{"wrong region", otherRegion, input("train", "s3://data/x/"),
			`s3://data/x/: bucket "data" is in region us-east-1, but requests were signed for eu-west-1; set AWS_REGION=us-east-1 (or the region of the profile in use, --profile / AWS_PROFILE)`},
		// Manifests start with HEAD, whose 400 has no body to name the
		// region; versitygw sends no x-amz-bucket-region either.
		{"wrong region manifest", otherRegion, manifestInput("train", "s3://data/m/train.manifest"),
			`s3://data/m/train.manifest: S3 answered 400 Bad Request without a reason (a HEAD request gets no error body); the usual cause is a request signed for eu-west-1, not the bucket's region: check AWS_REGION`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := e.workDir(t)
			_, err := (&Stager{S3: tt.s3, Cache: e.cache}).Stage(context.Background(), []spec.Input{tt.in}, work)
			if err == nil {
				t.Fatal("Stage succeeded")
			}
			t.Log(err)
			for _, w := range []string{`staging channel "train"`, tt.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q", w)
				}
			}
			if c := exitcode.Code(err); c != exitcode.Failure {
				t.Errorf("exit code %d", c)
			}
			if got := entries(t, work); len(got) != 0 {
				t.Errorf("work dir keeps %v", got)
			}
		})
	}
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestHint checks the explanations of errors as AWS sends them, which the
// local server answers differently (x-amz-bucket-region, PermanentRedirect,
// AWS's quoting) or not at all (AllAccessDisabled, ExpiredToken, 503).
func TestHint(t *testing.T) {
	resp := func(status int, header http.Header) *smithyhttp.ResponseError {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
			Err: errors.New("api error")}
	}
	apiMsg := func(code, msg string, status int, header http.Header) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "ListObjectsV2",
			Err: errors.Join(resp(status, header), &smithy.GenericAPIError{Code: code, Message: msg})}
	}
	api := func(code string, status int, header http.Header) error { return apiMsg(code, "", status, header) }
	region := http.Header{"X-Amz-Bucket-Region": []string{"eu-west-1"}}
	tests := []struct {
		err  error
		want string
	}{
		{api("AccessDenied", 403, nil), `access denied; check which identity the credentials in use are (AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID) and that its IAM policy and the bucket policy of "bkt" allow s3:ListBucket`},
		{api("", 403, nil), "access denied"},
		{api("PermanentRedirect", 301, region), `bucket "bkt" is in region eu-west-1, not the one configured; set AWS_REGION=eu-west-1`},
		{api("", 301, nil), `bucket "bkt" is in another region`},
		{api("AuthorizationHeaderMalformed", 400, region), "set AWS_REGION=eu-west-1"},
		// AWS's wording (versitygw's, with "", is tested against the server).
		{apiMsg("AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'", 400, nil),
			`bucket "bkt" is in region eu-west-1, but requests were signed for us-east-1; set AWS_REGION=eu-west-1`},
		// HEAD in another region on AWS: no body, but x-amz-bucket-region.
		{api("BadRequest", 400, region), `bucket "bkt" is in region eu-west-1, not the one configured; set AWS_REGION=eu-west-1`},
		{api("BadRequest", 400, nil), "S3 answered 400 Bad Request without a reason"},
		{api("NoSuchBucket", 404, nil), `bucket "bkt" does not exist`},
		{api("NoSuchKey", 404, nil), "no such object"},
		{api("PreconditionFailed", 412, nil), "changed on S3"},
		{api("ExpiredToken", 400, nil), "credentials were rejected"},
		{errors.New("get identity: get credentials: failed to refresh cached credentials, failed to retrieve credentials"), "no AWS credentials found"},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, "cannot reach the S3 endpoint"},
		{api("SlowDown", 503, nil), "S3 refused the request (SlowDown)"},
	}
	for _, tt := range tests {
		if got := hint(tt.err, "s3://bkt/key"); !strings.Contains(got, tt.want) {
			t.Errorf("hint(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if err := explain(context.Canceled, "s3://bkt/k"); err != context.Canceled {
		t.Errorf("cancellation explained as %v", err)
	}
}
