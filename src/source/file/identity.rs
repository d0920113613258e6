//! File identity: device and inode, plus hashes of the first bytes (the
//! head) and of the bytes just before the read offset (the tail).
//!
//! Inodes are reused and files are rewritten in place, so the inode alone
//! does not say "same content". The head tells a file rewritten from its
//! start; the tail, the bytes right before where reading stopped, tells a
//! file truncated and quickly written past its old size, even when its head
//! (a banner, a CSV header) is unchanged. Both hashes are FNV-1a over at
//! most a few hundred bytes read with `pread`.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};

/// Bytes of a file's start that identify it.
pub const HEAD_BYTES: u32 = crate::source::framing::HEAD_KEPT as u32;

/// Bytes before the offset checked for a rewrite.
pub const TAIL_BYTES: u64 = crate::source::framing::TAIL_KEPT as u64;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes covered (less than [`HEAD_BYTES`] while the file is short).
    pub len: u32,
    /// Their hash.
    pub hash: u64,
}

impl Head {
    /// Hashes the first `min(size, HEAD_BYTES)` bytes of `f`.
    pub fn read(f: &File, size: u64) -> std::io::Result<Head> {
        let len = size.min(u64::from(HEAD_BYTES)) as u32;
        Ok(Head {
            len,
            hash: hash_range(f, 0, u64::from(len))?,
        })
    }

    /// The head of `bytes`, a file's first bytes as read.
    pub fn of_bytes(bytes: &[u8]) -> Head {
        let bytes = &bytes[..bytes.len().min(HEAD_BYTES as usize)];
        Head {
            len: bytes.len() as u32,
            hash: hash_bytes(bytes),
        }
    }

    /// Whether `f` still starts with the bytes this head was taken from.
    pub fn matches(&self, f: &File) -> bool {
        hash_range(f, 0, u64::from(self.len)).is_ok_and(|h| h == self.hash)
    }
}

/// Hash of the up to [`TAIL_BYTES`] bytes before `offset`.
pub fn tail_hash(f: &File, offset: u64) -> std::io::Result<u64> {
    let start = offset.saturating_sub(TAIL_BYTES);
    hash_range(f, start, offset - start)
}

/// FNV-1a of `bytes`: the same as [`tail_hash`] of a file whose bytes
/// before the offset they are.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    fnv(FNV_BASIS, bytes)
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a of bytes `start..start + len` of `f`; an error if the file is
/// shorter.
pub fn hash_range(f: &File, start: u64, len: u64) -> std::io::Result<u64> {
    let mut buf = [0u8; HEAD_BYTES as usize];
    let mut h = FNV_BASIS;
    let mut done = 0;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = f.read_at(&mut buf[..want], start + done)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        h = fnv(h, &buf[..n]);
        done += n as u64;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn head_and_tail_tell_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"header\nline one\nline two\n").unwrap();
        let f = File::open(&p).unwrap();
        let head = Head::read(&f, 25).unwrap();
        assert_eq!(head.len, 25);
        assert!(head.matches(&f));
        let tail = tail_hash(&f, 16).unwrap();
        // Same head, different bytes before offset 16.
        std::fs::write(&p, b"header\nLINE ONE\nline two\n").unwrap();
        let f = File::open(&p).unwrap();
        assert!(!head.matches(&f));
        assert_ne!(tail_hash(&f, 16).unwrap(), tail);
        // A shorter file no longer matches a longer head.
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"head")
            .unwrap();
        let f = File::open(&p).unwrap();
        assert!(!head.matches(&f));
        assert!(tail_hash(&f, 16).is_err());
        assert_eq!(tail_hash(&f, 0).unwrap(), 0xcbf2_9ce4_8422_2325);
    }
}
