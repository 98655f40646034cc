//! The streaming content format (`docs/format.md` §3).
//!
//! ```text
//! header (99 bytes) || segment 0 || segment 1 || ... || final segment
//! segment = AES-256-GCM(item key, nonce = prefix(7) || counter(u32 BE) || last(1), aad = header)
//! ```
//!
//! Plaintext is cut into 64 KiB segments; every segment but the last is full, and the last
//! (possibly empty, possibly full) carries `last = 1`. The item key and a 32-byte key-commitment
//! value come from HKDF-SHA256 over the mailbox (workload, site) key with the header's salt and
//! an info string made of the header's first 28 bytes and the item binding.
//!
//! Readers and writers hold at most one segment (plus one look-ahead byte) in memory, never
//! release a segment's plaintext before its tag checks, and detect truncation (the last flag),
//! reordering and splicing (the counter, the per-item key), a swap to another owner or item
//! (the binding in the key derivation) and a wrong key (the commitment, checked first).

use std::fmt;
use std::io::{self, Read, Write};
use std::marker::PhantomData;

use zeroize::Zeroizing;

use super::error::CryptoError;
use super::keys::{tier, Binding, ContentBinding, KeyRef, TierId, TierKey};
use super::provider::{default_provider, AeadKey, CryptoProvider, NONCE_LEN, TAG_LEN};
use super::secret::{ct_eq, SecretKey32};

/// Magic bytes of encrypted content.
pub const CONTENT_MAGIC: [u8; 4] = *b"CKCT";
/// Content format version.
pub const CONTENT_VERSION: u8 = 1;
/// Algorithm 1: AES-256-GCM, HKDF-SHA256 item keys, 64 KiB STREAM segments.
pub const CONTENT_ALG_AES256GCM_HKDF_STREAM64K: u8 = 1;
/// log2 of the segment size.
pub const SEGMENT_SIZE_LOG2: u8 = 16;
/// Plaintext bytes per full segment.
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_SIZE_LOG2;
/// Ciphertext bytes per full segment.
pub const SEGMENT_CT_SIZE: usize = SEGMENT_SIZE + TAG_LEN;
/// Header length.
pub const HEADER_LEN: usize = 99;
/// Salt length.
pub const SALT_LEN: usize = 32;
/// Nonce prefix length.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Commitment length.
pub const COMMITMENT_LEN: usize = 32;
/// Length of the header prefix that enters the key derivation (magic .. key version).
pub const HEADER_KDF_PREFIX_LEN: usize = 28;
/// HKDF info label of the content key derivation.
pub const CONTENT_KDF_LABEL: &[u8] = b"custkey/v1 content key";

/// Tiers that encrypt content, and what the derived key is called.
pub trait ContentTier: tier::Tier {
    /// Tier byte of the derived key (item or chunk).
    const LEAF: TierId;
}
impl ContentTier for tier::Mailbox {
    const LEAF: TierId = TierId::Item;
}
impl ContentTier for tier::Workload {
    const LEAF: TierId = TierId::Item;
}
impl ContentTier for tier::Site {
    const LEAF: TierId = TierId::Chunk;
}

/// A per-item (or per-chunk) key derived from a content tier key `T`. Zeroized on drop.
pub struct LeafKey<T: ContentTier> {
    key: SecretKey32,
    commitment: [u8; COMMITMENT_LEN],
    _tier: PhantomData<fn() -> T>,
}

/// Item key of a mailbox item.
pub type ItemKey = LeafKey<tier::Mailbox>;
/// Item key of a workload item.
pub type WorkloadItemKey = LeafKey<tier::Workload>;
/// Chunk key of a SharePoint chunk.
pub type ChunkKey = LeafKey<tier::Site>;

impl<T: ContentTier> LeafKey<T> {
    /// The key-commitment value this key produces (stored in the header).
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// The raw derived key (for test vectors and cross-implementation checks).
    pub fn expose(&self) -> &[u8; 32] {
        self.key.expose()
    }
}

impl<T: ContentTier> Drop for LeafKey<T> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.commitment);
    }
}

impl<T: ContentTier> fmt::Debug for LeafKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}Key(REDACTED)",
            if T::LEAF == TierId::Chunk {
                "Chunk"
            } else {
                "Item"
            }
        )
    }
}

/// A parsed content header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHeader {
    bytes: [u8; HEADER_LEN],
}

impl ContentHeader {
    fn build(
        key_tier: TierId,
        key_ref: KeyRef,
        salt: &[u8; SALT_LEN],
        prefix: &[u8; NONCE_PREFIX_LEN],
        commitment: &[u8; COMMITMENT_LEN],
    ) -> Self {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&CONTENT_MAGIC);
        b[4] = CONTENT_VERSION;
        b[5] = CONTENT_ALG_AES256GCM_HKDF_STREAM64K;
        b[6] = key_tier as u8;
        b[7] = SEGMENT_SIZE_LOG2;
        b[8..28].copy_from_slice(&key_ref.to_bytes());
        b[28..60].copy_from_slice(salt);
        b[60..67].copy_from_slice(prefix);
        b[67..99].copy_from_slice(commitment);
        ContentHeader { bytes: b }
    }

    /// Parses the first [`HEADER_LEN`] bytes of `b` (further bytes are ignored). Checks magic,
    /// version, algorithm, tier and segment size; never panics.
    pub fn parse(b: &[u8]) -> Result<Self, CryptoError> {
        let head = b
            .get(..HEADER_LEN)
            .ok_or(CryptoError::Truncated("content header"))?;
        if head[..4] != CONTENT_MAGIC {
            return Err(CryptoError::Malformed("not encrypted content (bad magic)"));
        }
        if head[4] != CONTENT_VERSION {
            return Err(CryptoError::UnsupportedVersion(head[4]));
        }
        if head[5] != CONTENT_ALG_AES256GCM_HKDF_STREAM64K {
            return Err(CryptoError::UnsupportedAlgorithm(head[5]));
        }
        let tier = TierId::from_u8(head[6])?;
        if !matches!(tier, TierId::Mailbox | TierId::Workload | TierId::Site) {
            return Err(CryptoError::Malformed(
                "content key tier must be mailbox, workload or site",
            ));
        }
        if head[7] != SEGMENT_SIZE_LOG2 {
            return Err(CryptoError::Malformed("unsupported segment size"));
        }
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(head);
        Ok(ContentHeader { bytes })
    }

    /// The raw header.
    pub fn as_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.bytes
    }

    /// Tier of the key the content is encrypted under.
    pub fn key_tier(&self) -> TierId {
        // parse() and build() only admit valid tier bytes.
        TierId::from_u8(self.bytes[6]).unwrap_or(TierId::Mailbox)
    }

    /// Id and version of the mailbox / workload / site key, so the caller can load the right one.
    pub fn key_ref(&self) -> KeyRef {
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.bytes[8..24]);
        KeyRef::new(
            uuid::Uuid::from_bytes(id),
            u32::from_be_bytes([
                self.bytes[24],
                self.bytes[25],
                self.bytes[26],
                self.bytes[27],
            ]),
        )
    }

    fn salt(&self) -> &[u8] {
        &self.bytes[28..60]
    }

    fn nonce_prefix(&self) -> [u8; NONCE_PREFIX_LEN] {
        let mut p = [0u8; NONCE_PREFIX_LEN];
        p.copy_from_slice(&self.bytes[60..67]);
        p
    }

    fn commitment(&self) -> &[u8] {
        &self.bytes[67..99]
    }
}

/// Derives (item key, commitment) from raw content-tier key material.
fn derive_raw(
    provider: &dyn CryptoProvider,
    secret: &SecretKey32,
    header_prefix: &[u8],
    salt: &[u8],
    binding: &[u8],
) -> Result<(SecretKey32, [u8; COMMITMENT_LEN]), CryptoError> {
    let mut okm = Zeroizing::new([0u8; 64]);
    provider.hkdf_sha256(
        salt,
        secret.expose(),
        &[CONTENT_KDF_LABEL, header_prefix, binding],
        okm.as_mut(),
    )?;
    let mut commitment = [0u8; COMMITMENT_LEN];
    commitment.copy_from_slice(&okm[32..]);
    Ok((SecretKey32::from_slice(&okm[..32])?, commitment))
}

/// What a reader needs to open content once its header arrives (the tier is erased so the
/// reader type does not depend on it).
struct Opener {
    provider: &'static dyn CryptoProvider,
    tier: TierId,
    key_ref: KeyRef,
    secret: SecretKey32,
    binding: Vec<u8>,
}

impl Opener {
    fn new<T: ContentTier>(
        provider: &'static dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &ContentBinding,
    ) -> Result<Self, CryptoError> {
        Ok(Opener {
            provider,
            tier: T::ID,
            key_ref: key.key_ref(),
            secret: key.to_secret(),
            binding: binding.encode()?,
        })
    }

    /// Checks the header against the key and binding and returns the item key.
    fn derive(&self, header: &ContentHeader) -> Result<SecretKey32, CryptoError> {
        if header.key_tier() != self.tier {
            return Err(CryptoError::TierMismatch {
                expected: self.tier.name(),
                found: header.key_tier().name(),
            });
        }
        if header.key_ref() != self.key_ref {
            return Err(CryptoError::BindingMismatch(
                "content is encrypted under another key id or version",
            ));
        }
        let (key, mut commitment) = derive_raw(
            self.provider,
            &self.secret,
            &header.bytes[..HEADER_KDF_PREFIX_LEN],
            header.salt(),
            &self.binding,
        )?;
        let ok = ct_eq(&commitment, header.commitment());
        zeroize::Zeroize::zeroize(&mut commitment);
        if !ok {
            return Err(CryptoError::KeyCommitment);
        }
        Ok(key)
    }
}

impl<T: ContentTier> TierKey<T> {
    /// Derives the item (chunk) key for a parsed header and binding, after checking the header's
    /// tier, key id/version and commitment. The stream types call this for you; it is public
    /// for test vectors and diagnostics.
    pub fn derive_content_key(
        &self,
        header: &ContentHeader,
        binding: &ContentBinding,
    ) -> Result<LeafKey<T>, CryptoError> {
        let opener = Opener::new(default_provider(), self, binding)?;
        let key = opener.derive(header)?;
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(header.commitment());
        Ok(LeafKey {
            key,
            commitment,
            _tier: PhantomData,
        })
    }

    /// A writer that encrypts everything written to it into `out`. Call
    /// [`ContentEncryptor::finish`] at the end: content without its final segment is rejected
    /// by readers as truncated.
    pub fn encrypt_writer<W: Write>(
        &self,
        binding: &ContentBinding,
        out: W,
    ) -> Result<ContentEncryptor<W>, CryptoError> {
        ContentEncryptor::with_provider(default_provider(), self, binding, out)
    }

    /// A reader that decrypts the content read from `input` (header first).
    pub fn decrypt_reader<R: Read>(
        &self,
        binding: &ContentBinding,
        input: R,
    ) -> Result<ContentDecryptor<R>, CryptoError> {
        ContentDecryptor::with_provider(default_provider(), self, binding, input)
    }

    /// A reader that yields the encrypted form of the plaintext read from `input`.
    pub fn encrypting_reader<R: Read>(
        &self,
        binding: &ContentBinding,
        input: R,
    ) -> Result<EncryptingReader<R>, CryptoError> {
        EncryptingReader::with_provider(default_provider(), self, binding, input)
    }

    /// Encrypts a whole item held in memory.
    pub fn encrypt_content(
        &self,
        binding: &ContentBinding,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let cap = usize::try_from(encrypted_len(plaintext.len() as u64)).unwrap_or(usize::MAX);
        let mut w = self.encrypt_writer(binding, Vec::with_capacity(cap))?;
        w.write_all(plaintext).map_err(io_to_crypto)?;
        w.finish().map_err(io_to_crypto)
    }

    /// Decrypts a whole item held in memory.
    pub fn decrypt_content(
        &self,
        binding: &ContentBinding,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut r = self.decrypt_reader(binding, ciphertext)?;
        let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        r.read_to_end(&mut out).map_err(io_to_crypto)?;
        Ok(out)
    }
}

fn io_to_crypto(e: io::Error) -> CryptoError {
    CryptoError::from_io(&e)
        .cloned()
        .unwrap_or(CryptoError::Provider(
            "unexpected I/O error on an in-memory buffer",
        ))
}

fn crypto_to_io(e: CryptoError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Ciphertext length of a plaintext of `len` bytes.
pub fn encrypted_len(len: u64) -> u64 {
    let seg = SEGMENT_SIZE as u64;
    let segments = if len == 0 { 1 } else { len.div_ceil(seg) };
    HEADER_LEN as u64 + len + segments * TAG_LEN as u64
}

fn segment_nonce(prefix: &[u8; NONCE_PREFIX_LEN], counter: u32, last: bool) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Largest buffer any adapter needs: one full ciphertext segment plus a look-ahead byte.
const BUF_MAX: usize = SEGMENT_CT_SIZE + 1;
/// First buffer size: enough for a small item in one allocation.
const SMALL_BUF: usize = 4096;

/// Zeroes a bulk buffer. `zeroize` writes byte by byte through volatile stores, which costs
/// about 20 µs per 64 KiB segment; a plain fill followed by `black_box` (an opaque use of the
/// memory, so the stores cannot be removed as dead) runs at memset speed.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// The adapters' working buffer. It starts small and grows on demand up to [`BUF_MAX`], so a
/// 1 KiB item never touches 64 KiB; it grows by copying into a fresh allocation and zeroing the
/// old one (a plain `Vec` reallocation could leave plaintext behind in freed memory), and it is
/// zeroed when dropped.
struct SegBuf {
    data: Vec<u8>,
    len: usize,
}

impl SegBuf {
    fn new() -> Self {
        SegBuf {
            data: Vec::new(),
            len: 0,
        }
    }

    fn reserve_total(&mut self, needed: usize) {
        if self.data.len() >= needed {
            return;
        }
        // Two sizes only: small items stay in 4 KiB, anything larger gets one full segment.
        let cap = if needed <= SMALL_BUF {
            SMALL_BUF
        } else {
            BUF_MAX.max(needed)
        };
        let mut bigger = vec![0u8; cap];
        bigger[..self.len].copy_from_slice(&self.data[..self.len]);
        wipe(&mut self.data);
        self.data = bigger;
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn extend_from_slice(&mut self, b: &[u8]) {
        self.reserve_total(self.len + b.len());
        self.data[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    fn as_slice(&self) -> &[u8] {
        &self.data[..self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[..self.len]
    }

    /// Reads until `len == target` or the input ends, growing as data arrives.
    fn fill_from<R: Read>(&mut self, input: &mut R, target: usize) -> io::Result<()> {
        while self.len < target {
            if self.len == self.data.len() {
                self.reserve_total(self.len + 1);
            }
            let end = self.data.len().min(target);
            match input.read(&mut self.data[self.len..end]) {
                Ok(0) => break,
                Ok(k) => self.len += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn wipe(&mut self) {
        wipe(&mut self.data);
        self.len = 0;
    }
}

impl Drop for SegBuf {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Reads into `buf[start..]` until it is full or the input ends; returns the filled length.
fn fill<R: Read>(input: &mut R, buf: &mut [u8], start: usize) -> io::Result<usize> {
    let mut n = start;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The sealing state shared by [`ContentEncryptor`] and [`EncryptingReader`].
struct Sealer {
    aead: Box<dyn AeadKey>,
    header: ContentHeader,
    counter: u32,
    done: bool,
}

impl Sealer {
    fn new<T: ContentTier>(
        provider: &dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &ContentBinding,
    ) -> Result<Self, CryptoError> {
        let binding = binding.encode()?;
        let mut salt = [0u8; SALT_LEN];
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        provider.fill_random(&mut salt)?;
        provider.fill_random(&mut prefix)?;
        let mut header = ContentHeader::build(T::ID, key.key_ref(), &salt, &prefix, &[0; 32]);
        let (item_key, commitment) = derive_raw(
            provider,
            &key.secret,
            &header.bytes[..HEADER_KDF_PREFIX_LEN],
            &salt,
            &binding,
        )?;
        header.bytes[67..99].copy_from_slice(&commitment);
        Ok(Sealer {
            aead: provider.aead_key(item_key.expose())?,
            header,
            counter: 0,
            done: false,
        })
    }

    /// Seals the plaintext in `buf` in place and appends the tag.
    fn seal_segment(&mut self, buf: &mut SegBuf, last: bool) -> Result<(), CryptoError> {
        if self.done {
            return Err(CryptoError::Malformed("content already finished"));
        }
        let nonce = segment_nonce(&self.header.nonce_prefix(), self.counter, last);
        let tag = self
            .aead
            .seal_in_place(&nonce, &self.header.bytes, buf.as_mut_slice())?;
        buf.extend_from_slice(&tag);
        if last {
            self.done = true;
        } else {
            self.counter = self
                .counter
                .checked_add(1)
                .ok_or(CryptoError::Malformed("content longer than 2^32 segments"))?;
        }
        Ok(())
    }
}

/// Encrypts what is written to it (see [`TierKey::encrypt_writer`]). Holds at most one
/// segment.
pub struct ContentEncryptor<W: Write> {
    out: W,
    sealer: Sealer,
    header_written: bool,
    buf: SegBuf,
    poisoned: bool,
}

impl<W: Write> ContentEncryptor<W> {
    /// [`TierKey::encrypt_writer`] with an explicit provider.
    pub fn with_provider<T: ContentTier>(
        provider: &dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &ContentBinding,
        out: W,
    ) -> Result<Self, CryptoError> {
        Ok(ContentEncryptor {
            out,
            sealer: Sealer::new(provider, key, binding)?,
            header_written: false,
            buf: SegBuf::new(),
            poisoned: false,
        })
    }

    /// The header this writer produces (known before anything is written).
    pub fn header(&self) -> &ContentHeader {
        &self.sealer.header
    }

    fn emit(&mut self, last: bool) -> io::Result<()> {
        if !self.header_written {
            self.out.write_all(&self.sealer.header.bytes)?;
            self.header_written = true;
        }
        self.sealer
            .seal_segment(&mut self.buf, last)
            .map_err(crypto_to_io)?;
        self.out.write_all(self.buf.as_slice())?;
        self.buf.clear();
        Ok(())
    }

    fn poisoned_error() -> io::Error {
        crypto_to_io(CryptoError::Malformed("an earlier write failed"))
    }

    /// Writes the final segment, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.poisoned {
            return Err(Self::poisoned_error());
        }
        self.emit(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ContentEncryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(Self::poisoned_error());
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full buffer is sealed only once more data arrives, so that the last full segment
        // can still become the final one in finish().
        if self.buf.len == SEGMENT_SIZE {
            if let Err(e) = self.emit(false) {
                self.poisoned = true;
                return Err(e);
            }
        }
        let n = data.len().min(SEGMENT_SIZE - self.buf.len);
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Yields the ciphertext of the plaintext it reads (see [`TierKey::encrypting_reader`]).
/// Holds at most one segment.
pub struct EncryptingReader<R: Read> {
    input: R,
    sealer: Sealer,
    buf: SegBuf,
    pos: usize,
    lookahead: Option<u8>,
    failed: bool,
}

impl<R: Read> EncryptingReader<R> {
    /// [`TierKey::encrypting_reader`] with an explicit provider.
    pub fn with_provider<T: ContentTier>(
        provider: &dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &ContentBinding,
        input: R,
    ) -> Result<Self, CryptoError> {
        let sealer = Sealer::new(provider, key, binding)?;
        let mut buf = SegBuf::new();
        buf.extend_from_slice(&sealer.header.bytes);
        Ok(EncryptingReader {
            input,
            sealer,
            buf,
            pos: 0,
            lookahead: None,
            failed: false,
        })
    }

    fn next_segment(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        if let Some(b) = self.lookahead.take() {
            self.buf.extend_from_slice(&[b]);
        }
        self.buf.fill_from(&mut self.input, SEGMENT_SIZE + 1)?;
        let last = self.buf.len <= SEGMENT_SIZE;
        if !last {
            self.lookahead = Some(self.buf.data[SEGMENT_SIZE]);
            self.buf.truncate(SEGMENT_SIZE);
        }
        self.sealer
            .seal_segment(&mut self.buf, last)
            .map_err(crypto_to_io)
    }
}

impl<R: Read> Read for EncryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(crypto_to_io(CryptoError::Malformed(
                "an earlier read failed",
            )));
        }
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.buf.len {
            if self.sealer.done {
                return Ok(0);
            }
            if let Err(e) = self.next_segment() {
                // The segment's plaintext may be half read; never continue after this.
                self.buf.wipe();
                self.pos = 0;
                self.failed = true;
                return Err(e);
            }
        }
        let n = out.len().min(self.buf.len - self.pos);
        out[..n].copy_from_slice(&self.buf.as_slice()[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

enum DecState {
    Header(Opener),
    Body {
        aead: Box<dyn AeadKey>,
        header: ContentHeader,
    },
    Done,
    Failed(CryptoError),
}

/// Decrypts content as it is read (see [`TierKey::decrypt_reader`]). Holds at most one
/// segment plus one look-ahead byte. A segment's plaintext is only returned after its tag
/// checks; after any failure every further read fails.
pub struct ContentDecryptor<R: Read> {
    input: R,
    state: DecState,
    buf: SegBuf,
    pt_start: usize,
    pt_end: usize,
    lookahead: Option<u8>,
    counter: u32,
}

impl<R: Read> ContentDecryptor<R> {
    /// [`TierKey::decrypt_reader`] with an explicit provider.
    pub fn with_provider<T: ContentTier>(
        provider: &'static dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &ContentBinding,
        input: R,
    ) -> Result<Self, CryptoError> {
        Ok(ContentDecryptor {
            input,
            state: DecState::Header(Opener::new(provider, key, binding)?),
            buf: SegBuf::new(),
            pt_start: 0,
            pt_end: 0,
            lookahead: None,
            counter: 0,
        })
    }

    /// Reads and checks the header now (otherwise the first `read` does it) and returns it.
    pub fn read_header(&mut self) -> io::Result<ContentHeader> {
        if let DecState::Header(_) = self.state {
            self.step()?;
        }
        match &self.state {
            DecState::Body { header, .. } => Ok(header.clone()),
            DecState::Failed(e) => Err(crypto_to_io(e.clone())),
            _ => Err(crypto_to_io(CryptoError::Malformed("content already read"))),
        }
    }

    fn step(&mut self) -> io::Result<()> {
        let res = self.advance();
        if let Err(e) = &res {
            let ce = CryptoError::from_io(e)
                .cloned()
                .unwrap_or(CryptoError::Malformed("an earlier read failed"));
            self.state = DecState::Failed(ce);
            self.buf.wipe();
            self.pt_start = 0;
            self.pt_end = 0;
        }
        res
    }

    fn advance(&mut self) -> io::Result<()> {
        match &self.state {
            DecState::Header(opener) => {
                let mut head = [0u8; HEADER_LEN];
                if fill(&mut self.input, &mut head, 0)? < HEADER_LEN {
                    return Err(crypto_to_io(CryptoError::Truncated("content header")));
                }
                let header = ContentHeader::parse(&head).map_err(crypto_to_io)?;
                let item_key = opener.derive(&header).map_err(crypto_to_io)?;
                let aead = opener
                    .provider
                    .aead_key(item_key.expose())
                    .map_err(crypto_to_io)?;
                self.state = DecState::Body { aead, header };
                Ok(())
            }
            DecState::Body { aead, header } => {
                self.buf.clear();
                if let Some(b) = self.lookahead.take() {
                    self.buf.extend_from_slice(&[b]);
                }
                self.buf.fill_from(&mut self.input, SEGMENT_CT_SIZE + 1)?;
                let n = self.buf.len;
                let last = n <= SEGMENT_CT_SIZE;
                let ct_len = if last {
                    if n < TAG_LEN {
                        return Err(crypto_to_io(CryptoError::Truncated("content segment")));
                    }
                    n
                } else {
                    self.lookahead = Some(self.buf.data[SEGMENT_CT_SIZE]);
                    SEGMENT_CT_SIZE
                };
                let nonce = segment_nonce(&header.nonce_prefix(), self.counter, last);
                let pt_len = aead
                    .open_in_place(&nonce, &header.bytes, &mut self.buf.data[..ct_len])
                    .map_err(crypto_to_io)?;
                self.pt_start = 0;
                self.pt_end = pt_len;
                if last {
                    self.state = DecState::Done;
                } else {
                    self.counter = self.counter.checked_add(1).ok_or_else(|| {
                        crypto_to_io(CryptoError::Malformed("content longer than 2^32 segments"))
                    })?;
                }
                Ok(())
            }
            DecState::Done => Ok(()),
            DecState::Failed(e) => Err(crypto_to_io(e.clone())),
        }
    }
}

impl<R: Read> Read for ContentDecryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pt_start < self.pt_end {
                let n = out.len().min(self.pt_end - self.pt_start);
                out[..n].copy_from_slice(&self.buf.data[self.pt_start..self.pt_start + n]);
                self.pt_start += n;
                return Ok(n);
            }
            match self.state {
                DecState::Done => return Ok(0),
                DecState::Failed(ref e) => return Err(crypto_to_io(e.clone())),
                _ => self.step()?,
            }
        }
    }
}
