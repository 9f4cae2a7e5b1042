package channels

import (
	"context"
	"io"
)

// Object is one S3 object a channel reads, pinned to the version seen when
// the channel was listed.
type Object struct {
	Bucket    string
	Key       string
	ETag      string // as S3 returns it, quotes removed
	VersionID string // "" when the bucket is not versioned
	Size      int64
	// Rel is the object's path below the channel directory
	// (/opt/ml/input/data/<channel>/<Rel>), slash-separated, never escaping it.
	Rel string
}

// Opener streams one object's bytes (from the cache when it is there,
// otherwise from S3), failing if the object no longer matches o.ETag.
type Opener interface {
	Open(ctx context.Context, o Object) (io.ReadCloser, error)
}
