package channels

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/spec"
)

func TestPrefixBase(t *testing.T) {
	for prefix, want := range map[string]string{"": "", "data/": "data/", "data/train": "data/", "train": "", "a/b/c.csv": "a/b/"} {
		if got := prefixBase(prefix); got != want {
			t.Errorf("prefixBase(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestCheckLayout(t *testing.T) {
	ok := []Object{{Key: "a/b", Rel: "a/b"}, {Key: "a/c", Rel: "a/c"}, {Key: "a-b", Rel: "a-b"}}
	if err := checkLayout(ok); err != nil {
		t.Error(err)
	}
	clash := append(ok, Object{Bucket: "b", Key: "p/a", Rel: "a"})
	if err := checkLayout(clash); err == nil || !strings.Contains(err.Error(), `s3://b/p/a is a file but s3:///a/b needs "a" to be a directory`) {
		t.Errorf("file/dir clash: %v", err)
	}
	dup := []Object{{Bucket: "b", Key: "x", Rel: "same"}, {Bucket: "c", Key: "x", Rel: "same"}}
	if err := checkLayout(dup); err == nil || !strings.Contains(err.Error(), `both map to "same"`) {
		t.Errorf("duplicate: %v", err)
	}
}

// TestStageKeyClash stages a prefix holding both "a" and "a/b" (S3 can,
// no file system can): staging fails, naming both.
func TestStageKeyClash(t *testing.T) {
	stub := &listStub{keys: []string{"k/a", "k/a/b"}}
	_, err := (&Stager{S3: stub}).Stage(context.Background(), []spec.Input{input("train", "s3://data/k/")}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `s3://data/k/a is a file but s3://data/k/a/b needs "a" to be a directory`) {
		t.Errorf("Stage = %v", err)
	}
}

// listStub lists keys; a GET waits for the staging to be cancelled (by
// the error the test expects).
type listStub struct {
	S3API
	keys []string
}

func (l *listStub) GetObject(ctx context.Context, _ *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (l *listStub) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	for _, k := range l.keys {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			out.Contents = append(out.Contents, types.Object{Key: aws.String(k), ETag: aws.String(`"e"`), Size: aws.Int64(1)})
		}
	}
	return out, nil
}

// TestStageUnsafeKeys lists keys that would escape or alias in the
// channel directory.
func TestStageUnsafeKeys(t *testing.T) {
	for _, key := range []string{"k/../etc/passwd", "k/a//b", "k/./x"} {
		stub := &listStub{keys: []string{"k/ok", key}}
		_, err := (&Stager{S3: stub}).Stage(context.Background(), []spec.Input{input("train", "s3://data/k/")}, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "s3://data/"+key+": not a path inside the channel directory") {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

func TestStageSharded(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"s/0", "s/1", "s/2", "s/3", "s/4"} {
		e.put(t, k, []byte(k))
	}
	in := input("train", "s3://data/s/")
	in.Distribution = "sharded_by_s3_key"
	var all []string
	for host := range 2 {
		s := e.stager()
		s.Host, s.Hosts = host, 2
		st := stageOK(t, s, e.workDir(t), in)
		if st[0].Host != host || st[0].Hosts != 2 {
			t.Errorf("Staged shard %d/%d", st[0].Host, st[0].Hosts)
		}
		all = append(all, sortedKeys(tree(t, st[0].Dir))...)
	}
	if !reflect.DeepEqual(all, []string{"0", "2", "4", "1", "3"}) {
		t.Errorf("hosts 0 and 1 got %v", all)
	}
	// Fully replicated: every host gets everything.
	s := e.stager()
	s.Host, s.Hosts = 1, 2
	if st := stageOK(t, s, e.workDir(t), input("train", "s3://data/s/")); len(st[0].Objects) != 5 {
		t.Errorf("fully replicated on host 1 of 2: %d objects", len(st[0].Objects))
	}
}

func TestDescribeS3(t *testing.T) {
	st := []Staged{{Input: spec.Input{Name: "train", URI: "s3://b/p/", Type: "s3prefix"},
		Objects: []Object{{Bucket: "b", Key: "p/a", ETag: "e1", Size: 3}, {Bucket: "b", Key: "p/b", ETag: "e2", Size: 4}}}}
	recs, err := Describe(context.Background(), st)
	want := []artifacts.InputRecord{{Channel: "train", URI: "s3://b/p/", Files: 2, Size: 7, Type: "s3prefix",
		Objects: []artifacts.ObjectRecord{{URI: "s3://b/p/a", ETag: "e1", Size: 3}, {URI: "s3://b/p/b", ETag: "e2", Size: 4}}}}
	if err != nil || !reflect.DeepEqual(recs, want) {
		t.Errorf("Describe = %+v, %v", recs, err)
	}
}

// TestStageLocal checks that local inputs are still bind-mounted as they
// are, with or without a Stager.
func TestStageLocal(t *testing.T) {
	dir := t.TempDir()
	in := spec.Input{Name: "train", URI: dir, Type: "s3prefix", Mode: "file"}
	st, err := Stage(context.Background(), []spec.Input{in})
	if err != nil || len(st) != 1 || len(st[0].Mounts) != 1 || st[0].Mounts[0].Source != dir ||
		st[0].Mounts[0].Target != "/opt/ml/input/data/train" || st[0].IsS3() {
		t.Errorf("Stage(local) = %+v, %v", st, err)
	}
	if _, err := Stage(context.Background(), []spec.Input{input("x", "s3://b/p")}); err == nil ||
		!strings.Contains(err.Error(), "S3 inputs need an S3 client") {
		t.Errorf("S3 input without a client: %v", err)
	}
}
