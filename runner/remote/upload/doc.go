// Package upload copies a local directory or file to a remote host over
// SSH, deduplicated by content: files are sent as SHA-256-addressed blobs
// into a store on the host, and only blobs the host lacks are sent. The
// tree is then materialized on the host from the store by hard links.
//
// # Sides
//
// The client (Send) runs on the laptop. It walks the source, hashes the
// files (in parallel, skipping files whose stat identity is unchanged
// since a previous run: see Options.HashCache) and talks to the host side
// (Serve), which runs inside jobrun's own binary on the host as
//
//	<bin> agent upload receive --store STORE
//	<bin> agent upload link --store STORE --dest DEST
//
// Command builds those lines; Options.Agent is the part before "receive"
// or "link" (Prefix builds it from the binary's path).
//
// # Round trips
//
// link reads the tree's manifest on stdin. If every blob it names is in
// the store, it materializes the tree and prints "linked N"; otherwise it
// changes nothing and prints "missing HASH" for each absent blob. So an
// unchanged source costs one command, and a changed one three: link
// (learning what is missing), receive (only those blobs), link again.
//
// # Hash cache
//
// So that an unchanged dataset is not even read again, the client keeps
// each file's hash in Options.HashCache (one file per source, replaced
// atomically, so concurrent jobrun processes cannot damage it) with the
// file's size, mtime, ctime, device and inode. Any difference means
// reading the file again. A file whose timestamps are too recent to tell
// a later write from the one just read (see racyWindow) is hashed but
// not cached. Files are also checked before and after being read and
// sent: one that changes meanwhile fails the upload, naming it.
//
// # Host store
//
//	STORE/blobs/<sha256 hex>     a blob, read-only (0444)
//	STORE/blobs/<sha256 hex>.x   the same content, executable (0555), made
//	                             by link for files with an execute bit
//	STORE/tmp/recv-PID-*         blobs being received
//
// A blob is received into STORE/tmp, its hash checked while it is
// written, and renamed into blobs/ only when complete and verified, after
// a syncfs (one per GiB received, not an fsync per file): a name in
// blobs/ always holds the content it names, even after a crash. Blobs
// verified before a stream broke are kept, so a retry sends only the
// rest.
//
// link builds the tree in DEST.tmp-* beside DEST and renames it into
// place, replacing any previous DEST (which is moved to DEST.old-* and
// removed): DEST is either the old tree or the new one, never a mix. Two
// links to one DEST at the same moment may make one of them fail, never
// mix them. Leftovers of killed runs (STORE/tmp/recv-* of dead
// processes, DEST.tmp-*, DEST.old-*) older than an hour are removed by
// later runs.
//
// Files in DEST are hard links to the store's blobs (copies where the
// file system refuses the link: another device, too many links), so they
// are read-only and share the store's inodes: mount them into containers
// read-only, since root can write through the mode bits. Only a file's
// execute bit crosses over (0444 or 0555); directories are 0755.
//
// # Source trees
//
// The source holds directories and regular files. Symbolic links are
// followed on the client (a link to a file is sent as that file, a link
// to a directory as that directory); a dangling link or a link that
// loops back to a directory it is in is an error naming it, as are
// sockets, FIFOs and devices. Manifests therefore have no symlinks, and
// the host refuses any manifest path that is absolute, not clean, or
// contains "..": nothing can be written outside DEST. A single-file
// source is materialized as DEST/<its base name>.
//
// # Formats (stdin of the host commands)
//
// Manifest (link), one record a line, paths quoted as Go string literals
// (strconv.Quote) so that any byte in a name survives:
//
//	jobrun-upload-manifest 1
//	d 755 "sub"
//	f 644 <sha256 hex> "sub/a.csv"
//	end
//
// Blob stream (receive):
//
//	jobrun-upload-blobs 1
//	blob <sha256 hex> <size>\n<size bytes>
//	...
//	end
//
// Both must end with "end": a stream cut short is an error, never a
// partial tree.
package upload
