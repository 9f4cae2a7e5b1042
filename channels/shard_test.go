package channels

import (
	"fmt"
	"reflect"
	"testing"
)

func testKeys(objs []Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

func testObjs(keys ...string) []Object {
	var out []Object
	for _, k := range keys {
		out = append(out, Object{Bucket: "b", Key: k, Rel: k})
	}
	return out
}

func TestShard(t *testing.T) {
	five := testObjs("a", "b", "c", "d", "e")
	tests := []struct {
		host, hosts int
		want        []string
	}{
		{0, 1, []string{"a", "b", "c", "d", "e"}},
		{0, 0, []string{"a", "b", "c", "d", "e"}}, // hosts unset: one host
		{0, 2, []string{"a", "c", "e"}},
		{1, 2, []string{"b", "d"}},
		{0, 3, []string{"a", "d"}},
		{1, 3, []string{"b", "e"}},
		{2, 3, []string{"c"}},
		{4, 5, []string{"e"}},
		{5, 6, nil}, // more hosts than objects: the last gets nothing
		{2, 2, nil}, // a host outside the range gets nothing
		{-1, 2, nil},
	}
	for _, tt := range tests {
		got := testKeys(Shard(five, tt.host, tt.hosts))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Shard(5 objects, %d, %d) = %v, want %v", tt.host, tt.hosts, got, tt.want)
		}
	}
}

// TestShardPartition checks that the shards of all hosts partition the
// objects, in order, with sizes differing by at most one.
func TestShardPartition(t *testing.T) {
	for n := 0; n < 40; n++ {
		var keys []string
		for i := range n {
			keys = append(keys, fmt.Sprintf("k%03d", i))
		}
		all := testObjs(keys...)
		for hosts := 1; hosts <= 9; hosts++ {
			seen := map[string]int{}
			lo, hi := n, 0
			for h := range hosts {
				s := Shard(all, h, hosts)
				lo, hi = min(lo, len(s)), max(hi, len(s))
				for i, o := range s {
					seen[o.Key]++
					if i > 0 && s[i-1].Key >= o.Key {
						t.Fatalf("n=%d hosts=%d host %d: out of order", n, hosts, h)
					}
				}
			}
			if len(seen) != n || hi-lo > 1 {
				t.Fatalf("n=%d hosts=%d: %d objects covered, shard sizes %d..%d", n, hosts, len(seen), lo, hi)
			}
			for k, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d hosts=%d: %s in %d shards", n, hosts, k, c)
				}
			}
		}
	}
}
