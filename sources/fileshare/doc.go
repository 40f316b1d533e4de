// Package fileshare owns the file-share document source: it walks a
// directory tree through os.Root (nothing outside the root is ever listed or
// served; symlinks, hidden and special files are skipped), fingerprints
// files (size, mtime, ctime, inode) to avoid re-reading unchanged ones,
// hashes and MIME-sniffs new or changed ones, and keeps the published
// gdpr-document entities in a store dataset whose monotonic sequence is the
// pull protocol's "since". Deletions and moves are detected with the store's
// mark-and-sweep, and only after a complete walk, so an unmounted share or a
// failed walk never publishes mass deletions.
package fileshare
