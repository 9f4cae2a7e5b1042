package channels

// Shard returns host's share of objs under ShardedByS3Key: the objects at
// positions host, host+hosts, host+2·hosts, ... of objs (round robin by
// position, host counted from 0: algo-1 is host 0).
//
// SageMaker documents only that each of n instances gets "approximately
// 1/n of the number of S3 objects"; it does not publish its assignment.
// jobrun's rule is deterministic and needs no state: with objs in the
// order the channel lists them (S3 prefixes: ascending key order, as
// ListObjectsV2 returns them; manifests: the manifest's order) every host
// computes the same split, the counts differ by at most one, and hosts
// greater than the object count get nothing (as on SageMaker, where such
// hosts receive no data).
//
// hosts <= 1 returns objs unchanged. A host outside [0, hosts) gets
// nothing.
func Shard(objs []Object, host, hosts int) []Object {
	if hosts <= 1 {
		return objs
	}
	out := make([]Object, 0, len(objs)/hosts+1)
	for i, o := range objs {
		if InShard(i, host, hosts) {
			out = append(out, o)
		}
	}
	return out
}

// InShard reports whether the item at position i (0-based) of a sharded
// channel belongs to host: the rule Shard applies, for streams that are
// not held in a slice (augmented manifest records).
func InShard(i, host, hosts int) bool {
	if hosts <= 1 {
		return true
	}
	return host >= 0 && host < hosts && i%hosts == host
}
