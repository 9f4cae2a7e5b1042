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
	tests := []struct {
		name string
		s3   S3API
		uri  string
		want string
	}{
		{"missing bucket", e.s3, "s3://no-such-bucket/x/", `bucket "no-such-bucket" does not exist`},
		{"empty prefix", e.s3, "s3://data/nothing-here/", "no objects under s3://data/nothing-here/"},
		{"bad secret", client(func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(e.srv.AccessKey, "wrong", "")
		}), "s3://data/x/", "the AWS credentials were rejected"},
		{"unknown key id", client(func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN", "wrong", "")
		}), "s3://data/x/", "the AWS credentials were rejected"},
		{"unreachable", client(func(o *s3.Options) { o.BaseEndpoint = aws.String("http://" + closed) }),
			"s3://data/x/", "cannot reach the S3 endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := e.workDir(t)
			_, err := (&Stager{S3: tt.s3, Cache: e.cache}).Stage(context.Background(), []spec.Input{input("train", tt.uri)}, work)
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

// TestHint checks the explanations of errors a local server cannot
// produce (IAM denials, another region).
func TestHint(t *testing.T) {
	resp := func(status int, header http.Header) *smithyhttp.ResponseError {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
			Err: errors.New("api error")}
	}
	api := func(code string, status int, header http.Header) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "ListObjectsV2",
			Err: errors.Join(resp(status, header), &smithy.GenericAPIError{Code: code})}
	}
	region := http.Header{"X-Amz-Bucket-Region": []string{"eu-west-1"}}
	tests := []struct {
		err  error
		want string
	}{
		{api("AccessDenied", 403, nil), `access denied; check that the credentials in use may s3:ListBucket on bucket "bkt"`},
		{api("", 403, nil), "access denied"},
		{api("PermanentRedirect", 301, region), `bucket "bkt" is in region eu-west-1, not the one configured; set AWS_REGION=eu-west-1`},
		{api("", 301, nil), `bucket "bkt" is in another region`},
		{api("AuthorizationHeaderMalformed", 400, region), "set AWS_REGION=eu-west-1"},
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
