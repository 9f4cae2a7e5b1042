// Package channels stages a job's input channels where its container can
// read them: local folders and files are bind-mounted as they are (no
// copy); S3 channels in File mode are downloaded into a content-addressed
// cache and hard-linked into a directory per channel (Stager, Cache);
// Pipe and FastFile channels stream their objects while the container
// runs. docs/inputs.md describes the rules.
package channels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

// DataDir is where channels appear inside the container.
const DataDir = "/opt/ml/input/data"

// Mount is a host path the container sees read-only at Target.
type Mount struct {
	Source string
	Target string
}

// localMounts mounts a local input as it is: nothing is copied.
func localMounts(in spec.Input) ([]Mount, error) {
	if in.Mode == "pipe" {
		return nil, exitcode.Usagef("%s: pipe mode needs an S3 input; local paths support file and fastfile", in.URI)
	}
	info, err := os.Stat(in.URI)
	if errors.Is(err, os.ErrNotExist) {
		return nil, exitcode.Usagef("input path %s does not exist (relative uris are resolved against the spec's folder)", in.URI)
	}
	if err != nil {
		return nil, err
	}
	target := path.Join(DataDir, in.Name)
	if !info.IsDir() {
		target = path.Join(target, filepath.Base(in.URI))
	}
	return []Mount{{Source: in.URI, Target: target}}, nil
}

// Describe pins what each staged channel held. A local channel: file
// count, total size and a content hash over the sorted (relative path,
// file SHA-256) pairs; it reads every byte, so callers run it while the
// container runs. An S3 channel: object count and total size, from the
// pinned objects (their ETags pin the content).
func Describe(ctx context.Context, staged []Staged) ([]artifacts.InputRecord, error) {
	out := make([]artifacts.InputRecord, 0, len(staged))
	for _, st := range staged {
		rec := artifacts.InputRecord{Channel: st.Input.Name, URI: st.Input.URI}
		if st.IsS3() {
			out = append(out, describeS3(st, rec))
			continue
		}
		if err := hashTree(ctx, st.Input.URI, &rec); err != nil {
			return out, fmt.Errorf("hashing channel %q: %w", st.Input.Name, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func hashTree(ctx context.Context, root string, rec *artifacts.InputRecord) error {
	type entry struct{ rel, sum string }
	var entries []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if !d.Type().IsRegular() {
			return nil
		}
		sum, size, err := hashFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		entries = append(entries, entry{filepath.ToSlash(rel), sum})
		rec.Files++
		rec.Size += size
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%s\n", e.rel, e.sum)
	}
	rec.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// describeS3 pins an S3 channel by its objects' ETags.
func describeS3(st Staged, rec artifacts.InputRecord) artifacts.InputRecord {
	rec.Type, rec.Files = st.Input.Type, len(st.Objects)
	for _, o := range st.Objects {
		rec.Size += o.Size
		rec.Objects = append(rec.Objects, objectRecord(o))
	}
	if st.Manifest != nil {
		m := objectRecord(*st.Manifest)
		rec.Manifest = &m
	}
	return rec
}

func objectRecord(o Object) artifacts.ObjectRecord {
	return artifacts.ObjectRecord{URI: s3uri.Format(o.Bucket, o.Key), ETag: o.ETag, VersionID: o.VersionID, Size: o.Size}
}
