package artifacts

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/jobrun/jobrun/internal/ctxio"
)

// CRC-32C (Castagnoli) is the checksum jobrun asks S3 to keep: hardware
// accelerated on amd64 and arm64, and S3 can store it for a whole
// multipart object (checksum type FULL_OBJECT), so an object's checksum
// does not depend on how it was cut into parts and can be compared with a
// local file's directly.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// castagnoliReversed is the polynomial in the bit order crc32 uses, for
// combining checksums.
const castagnoliReversed = 0x82F63B78

// encodeCRC formats a checksum as S3's x-amz-checksum-crc32c header does:
// the four big-endian bytes in base64.
func encodeCRC(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// sectionCRC reads n bytes of r from off and returns their CRC-32C.
func sectionCRC(ctx context.Context, r io.ReaderAt, off, n int64) (uint32, error) {
	h := crc32.New(castagnoli)
	got, err := io.Copy(h, ctxio.Reader(ctx, io.NewSectionReader(r, off, n)))
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, io.ErrUnexpectedEOF
	}
	return h.Sum32(), nil
}

// combineCRC returns the CRC of A followed by B from crcA, crcB and B's
// length, as zlib's crc32_combine does: it appends len(B) zero bytes to A's
// register by repeated squaring of the shift operator over GF(2). It lets
// parts uploaded in parallel give the whole file's checksum without
// reading the file again.
func combineCRC(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = castagnoliReversed // the operator for one zero bit
	for n, row := 1, uint32(1); n < 32; n, row = n+1, row<<1 {
		odd[n] = row
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // first pass: one zero byte
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}

// partCRCs combines the checksums of consecutive parts.
func partCRCs(crcs []uint32, sizes []int64) uint32 {
	var total uint32
	for i, c := range crcs {
		if i == 0 {
			total = c
			continue
		}
		total = combineCRC(total, c, sizes[i])
	}
	return total
}
