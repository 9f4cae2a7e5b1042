package artifacts

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/pgzip"
)

const (
	gzipSamples    = 16       // chunks sampled from a folder
	gzipSampleSize = 64 << 10 // bytes per chunk
)

// gzipLevel picks the compression level of a folder's archive by trying
// both candidates on a sample of its bytes (16 chunks of 64 KiB, spread
// over the folder in proportion to the files' sizes) and keeping the one
// that compresses it more.
//
// Why not always the default level: klauspost's fast levels (1-6) store a
// block as it is when LZ77 finds no repeats, and trained float weights
// look like that. The default level would then leave a model uncompressed,
// where gzip -6 still saves about 7% by Huffman-coding the bytes;
// HuffmanOnly saves the same at about ten times gzip's speed. Text-like
// data (CSV, JSON, tokenizers) keeps the default level, which compresses
// it like gzip -6.
func gzipLevel(dir string) int {
	sample := sampleTree(dir)
	if len(sample) == 0 {
		return pgzip.DefaultCompression
	}
	if compressedSize(sample, flate.HuffmanOnly) < compressedSize(sample, flate.DefaultCompression) {
		return pgzip.HuffmanOnly
	}
	return pgzip.DefaultCompression
}

// sampleTree reads up to gzipSamples chunks at evenly spaced points of
// the folder's regular files laid end to end.
func sampleTree(dir string) []byte {
	type file struct {
		path string
		size int64
	}
	var files []file
	var total int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil && info.Size() > 0 {
				files = append(files, file{path, info.Size()})
				total += info.Size()
			}
		}
		return nil
	})
	var sample []byte
	step := max(total/gzipSamples, 1)
	var start int64 // of files[i] in the concatenation
	for i, at := 0, int64(0); i < len(files) && at < total; at += step {
		for start+files[i].size <= at {
			start += files[i].size
			i++
		}
		sample = append(sample, readChunk(files[i].path, at-start)...)
	}
	return sample
}

func readChunk(path string, off int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, gzipSampleSize)
	n, _ := f.ReadAt(buf, off)
	return buf[:n]
}

// compressedSize is data's size after flate at level.
func compressedSize(data []byte, level int) int64 {
	var n countWriter
	w, err := flate.NewWriter(&n, level)
	if err != nil {
		return int64(len(data))
	}
	w.Write(data)
	w.Close()
	return int64(n)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
