# pragma version ~=0.4.3
# pragma nonreentrancy off
# pragma optimize gas
"""
@title DSG Mining
@notice Tills commit batches of purchase proofs (DESIGN §3); shoppers claim DSG with a Merkle
        proof and a signature by the receipt's claim key (DESIGN §4). Reverts carry the error
        name as reason string. The token is created here from a blueprint, so its immutable
        minter is this contract.
@dev Gas notes (a claim reads 3 cold slots here: root, bitmap word, rate):
     - per-till state is one packed slot; a batch stores its root, (firstSeq, count, currency
       index) packed three batches per slot;
     - the claimed-bitmap is per till, 232 seqs per word, stored inverted (bit set = committed and
       unclaimed) with the committing store's currency in the top 24 bits; commit sets the bits,
       so a claim flips a bit in a non-zero word (never a 20k zero->non-zero SSTORE) and finds the
       currency there. A till that moves to a store of another currency leaves at most one word
       with seqs of both: addTill tags that word MIXED and its claims read the currency that
       each batch keeps in its meta (an index into the currency list: two more cold reads,
       only there);
     - the pause flag is mirrored into bit 255 of every currency's rate slot, so a claim reads
       it with the rate.
"""

from snekmate.auth import ownable
from snekmate.auth import ownable_2step
from snekmate.utils import eip712_domain_separator

initializes: ownable
initializes: ownable_2step[ownable := ownable]
initializes: eip712_domain_separator

exports: (
    ownable_2step.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    eip712_domain_separator.eip712Domain,
)


interface IToken:
    def mint(owner: address, amount: uint256): nonpayable
    def totalSupply() -> uint256: view


event BatchCommitted:
    till: indexed(address)
    batchIndex: uint256
    firstSeq: uint64
    count: uint32
    root: bytes32

event Claimed:
    till: indexed(address)
    seq: uint64
    recipient: indexed(address)
    reward: uint256

event StoreRegistered:
    storeId: indexed(bytes32)
    owner: indexed(address)
    currency: bytes3
    dailyCap: uint256

event TillAdded:
    storeId: indexed(bytes32)
    till: indexed(address)
    deadline: uint64

event TillRemoved:
    storeId: indexed(bytes32)
    till: indexed(address)

event RateSet:
    currency: indexed(bytes3)
    rate: uint256

event PauseSet:
    paused: bool


MAX_BATCH: constant(uint256) = 256
MAX_CURRENCIES: constant(uint256) = 256
BITS: constant(uint256) = 232  # claimed-bitmap bits per word; the top 24 bits hold the currency
MIXED: constant(uint256) = (1 << 24) - 1  # a word's currency tag when its seqs span two currencies
PAUSED_BIT: constant(uint256) = 1 << 255
RECORD_SIZE: constant(uint256) = 30
# One record more than allowed, so a 257-record batch reverts "BatchTooLarge" (not an ABI error).
MAX_LEAVES_BYTES: constant(uint256) = 7710
DAY: constant(uint256) = 86400
# the largest rate for which amount * rate cannot overflow for any uint48 amount
MAX_RATE: constant(uint256) = max_value(uint256) // ((1 << 48) - 1)
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168  # secp256k1 n // 2

MASK8: constant(uint256) = (1 << 8) - 1
MASK12: constant(uint256) = (1 << 12) - 1
MASK24: constant(uint256) = (1 << 24) - 1
MASK32: constant(uint256) = (1 << 32) - 1
MASK48: constant(uint256) = (1 << 48) - 1
MASK64: constant(uint256) = (1 << 64) - 1
MASK84: constant(uint256) = (1 << 84) - 1
MASK96: constant(uint256) = (1 << 96) - 1
MASK128: constant(uint256) = (1 << 128) - 1
MASK160: constant(uint256) = (1 << 160) - 1
MASK240: constant(uint256) = (1 << 240) - 1
# till word: lastSeq (0..63) | batchCount (64..127) | storeIdx (128..159) | currency (160..183)
#            | currency list index (184..191) | active (bit 192)
ACTIVE: constant(uint256) = 1 << 192
SEQ_AND_COUNT: constant(uint256) = (1 << 128) - 1

CLAIM_TYPEHASH: constant(bytes32) = keccak256("Claim(address till,uint64 seq,address recipient)")
BATCH_TYPEHASH: constant(bytes32) = keccak256(
    "Batch(address till,uint64 firstSeq,bytes32 leavesHash)"
)
JOIN_TYPEHASH: constant(bytes32) = keccak256(
    "JoinStore(bytes32 storeId,address till,uint64 deadline)"
)

token: public(immutable(address))
maxSupply: public(immutable(uint256))

paused: public(bool)
storeCount: public(uint256)

_rates: HashMap[bytes3, uint256]  # rate (bits 0..254) | paused mirror (bit 255)
_currencies: DynArray[bytes3, MAX_CURRENCIES]
_currencyIndex: HashMap[bytes3, uint256]  # index in _currencies + 1 (0: unknown)

_tills: HashMap[address, uint256]
_storeIndex: HashMap[bytes32, uint256]  # storeId -> index (1-based)
_storeIds: HashMap[uint256, bytes32]
_storeInfo: HashMap[uint256, uint256]  # owner (0..159) | currency (160..183) | its index (184..191)
_storeDay: HashMap[uint256, uint256]  # day (0..31) | used (32..127) | dailyCap (128..255)
_roots: HashMap[address, HashMap[uint256, bytes32]]
_batchMeta: HashMap[address, HashMap[uint256, uint256]]  # batch i at (i // 3, 84 * (i % 3)):
#                                firstSeq (64 bits) | count (12 bits) | currency list index (8 bits)
_unclaimed: HashMap[address, HashMap[uint256, uint256]]  # word seq // 232: inverted bits | currency
_consentUsed: HashMap[bytes32, bool]  # JoinStore digests already spent by addTill


@deploy
def __init__(token_blueprint: address, max_supply: uint256):
    assert max_supply != 0, "BadMaxSupply"
    ownable.__init__()
    ownable_2step.__init__()
    eip712_domain_separator.__init__("DSG Mining", "1")
    maxSupply = max_supply
    token = create_from_blueprint(token_blueprint, self)


# ---------------------------------------------------------------- admin


@internal
@view
def _only_admin():
    assert msg.sender == ownable.owner, "NotAdmin"


@external
def registerStore(storeId: bytes32, owner: address, currency: bytes3, dailyCap: uint256):
    """@dev Creates a store or updates its owner and cap; its currency is fixed once set."""
    self._only_admin()
    assert storeId != empty(bytes32), "UnknownStore"
    assert owner != empty(address), "BadOwner"
    cidx: uint256 = self._know_currency(currency)
    idx: uint256 = self._storeIndex[storeId]
    if idx == 0:
        idx = self.storeCount + 1
        self.storeCount = idx
        self._storeIndex[storeId] = idx
        self._storeIds[idx] = storeId
    else:
        assert (self._storeInfo[idx] >> 160) & MASK24 == convert(currency, uint256), "CurrencyFixed"
    self._storeInfo[idx] = (
        convert(owner, uint256) | (convert(currency, uint256) << 160) | (cidx << 184)
    )
    cap: uint256 = min(dailyCap, MASK96)  # so used (<= cap) always fits its 96 bits
    self._storeDay[idx] = (self._storeDay[idx] & MASK128) | (cap << 128)
    log StoreRegistered(storeId=storeId, owner=owner, currency=currency, dailyCap=dailyCap)


@external
def setRate(currency: bytes3, rate: uint256):
    """@dev DSG wei per minor unit of `currency`; 0 disables claims in it. Bounded so that
         amount * rate never overflows for a uint48 amount."""
    self._only_admin()
    assert rate <= MAX_RATE, "RateTooHigh"
    self._know_currency(currency)
    flag: uint256 = 0
    if self.paused:
        flag = PAUSED_BIT
    self._rates[currency] = rate | flag
    log RateSet(currency=currency, rate=rate)


@internal
def _know_currency(currency: bytes3) -> uint256:
    """@dev The currency's index in the list, adding it when new (MIXED is reserved)."""
    c: uint256 = convert(currency, uint256)
    assert c != 0 and c != MIXED, "BadCurrency"
    i: uint256 = self._currencyIndex[currency]
    if i == 0:
        self._currencies.append(currency)
        i = len(self._currencies)
        self._currencyIndex[currency] = i
    return unsafe_sub(i, 1)


@internal
def _set_paused(paused: bool):
    self._only_admin()
    self.paused = paused
    for c: bytes3 in self._currencies:
        if paused:
            self._rates[c] |= PAUSED_BIT
        else:
            self._rates[c] &= ~PAUSED_BIT
    log PauseSet(paused=paused)


@external
def pause():
    self._set_paused(True)


@external
def unpause():
    self._set_paused(False)


@internal
@view
def _only_store_owner(idx: uint256):
    if msg.sender != ownable.owner:
        assert msg.sender == convert(self._storeInfo[idx] & MASK160, address), "NotOwner"


@external
def addTill(storeId: bytes32, till: address, deadline: uint64, signature: Bytes[65]):
    """@dev Needs the till's consent: its EIP-712 JoinStore(storeId, till, deadline) signature,
         usable once (a removed till is re-added only with a fresh one). A till is in one store
         at a time; a removed till may join any store and continues at its nextSeq; batches
         committed before keep their store's currency (DESIGN §4)."""
    idx: uint256 = self._storeIndex[storeId]
    assert idx != 0, "UnknownStore"
    self._only_store_owner(idx)
    assert till != empty(address), "BadTill"
    assert block.timestamp <= convert(deadline, uint256), "ConsentExpired"
    digest: bytes32 = self._join_digest(storeId, till, deadline)
    assert self._recover(digest, signature) == till, "BadSignature"
    assert not self._consentUsed[digest], "ConsentUsed"
    self._consentUsed[digest] = True
    t: uint256 = self._tills[till]
    assert t & ACTIVE == 0 or (t >> 128) & MASK32 == idx, "TillOfOtherStore"
    currency: uint256 = (self._storeInfo[idx] >> 160) & MASK32  # code and list index
    self._tills[till] = (t & SEQ_AND_COUNT) | (idx << 128) | (currency << 160) | ACTIVE
    # Only the bitmap word of the next seq can hold seqs of two stores (words before it are
    # full or of the old store, words after it are empty): tag it MIXED when its currency
    # differs, so commits stay as cheap as before and claims there ask the batch.
    w: uint256 = unsafe_add(t & MASK64, 1) // BITS
    bits: uint256 = self._unclaimed[till][w]
    tag: uint256 = bits >> BITS
    if tag != 0 and tag != currency & MASK24:
        self._unclaimed[till][w] = bits | (MIXED << BITS)
    log TillAdded(storeId=storeId, till=till, deadline=deadline)


@external
def removeTill(till: address):
    """@dev The till can no longer commit; its committed batches stay claimable."""
    t: uint256 = self._tills[till]
    assert t & ACTIVE != 0, "NotTill"
    idx: uint256 = (t >> 128) & MASK32
    self._only_store_owner(idx)
    self._tills[till] = t ^ ACTIVE
    log TillRemoved(storeId=self._storeIds[idx], till=till)


# ---------------------------------------------------------------- hashing


@internal
@pure
def _leaf(till: address, seq: uint256, amount: uint256, time: uint256, claimer: address) -> bytes32:
    # abi.encode(address,uint64,uint48,uint32,address): the values fit, so uint256 encodes alike
    return keccak256(keccak256(abi_encode(till, seq, amount, time, claimer)))


@internal
@pure
def _batch_root(till: address, firstSeq: uint256, leaves: Bytes[MAX_LEAVES_BYTES]) -> (bytes32, uint256):
    """@dev Root of the records (DESIGN §3) and the sum of their amounts (hashing inlined: gas)."""
    size: uint256 = len(leaves)
    assert size != 0, "EmptyBatch"
    assert size % RECORD_SIZE == 0, "BadLength"
    count: uint256 = size // RECORD_SIZE
    assert count <= MAX_BATCH, "BatchTooLarge"

    buf: bytes32[MAX_BATCH] = empty(bytes32[MAX_BATCH])
    total: uint256 = 0
    word: uint256 = 0
    amount: uint256 = 0
    last: uint256 = unsafe_sub(count, 1)
    # every record but the last: a 32-byte read at its start, the record in the high 240 bits
    for i: uint256 in range(last, bound=MAX_BATCH):
        word = convert(extract32(leaves, unsafe_mul(i, RECORD_SIZE)), uint256) >> 16
        amount = word >> 192
        total = unsafe_add(total, amount)
        buf[i] = keccak256(
            keccak256(
                abi_encode(till, unsafe_add(firstSeq, i), amount, (word >> 160) & MASK32, word & MASK160)
            )
        )
    # the last record: the final 32 bytes (or the whole 30 when it is alone)
    if size >= 32:
        word = convert(extract32(leaves, unsafe_sub(size, 32)), uint256) & MASK240
    else:
        word = convert(slice(leaves, 0, 30), uint256)
    amount = word >> 192
    total = unsafe_add(total, amount)
    buf[last] = keccak256(
        keccak256(abi_encode(till, unsafe_add(firstSeq, last), amount, (word >> 160) & MASK32, word & MASK160))
    )

    # levels in place: pairs hashed as keccak(min || max), an odd last node carried up
    n: uint256 = count
    a: bytes32 = empty(bytes32)
    b: bytes32 = empty(bytes32)
    for level: uint256 in range(9):
        if n == 1:
            break
        half: uint256 = n >> 1
        for j: uint256 in range(half, bound=MAX_BATCH // 2):
            a = buf[unsafe_add(j, j)]
            b = buf[unsafe_add(unsafe_add(j, j), 1)]
            if convert(a, uint256) < convert(b, uint256):
                buf[j] = keccak256(concat(a, b))
            else:
                buf[j] = keccak256(concat(b, a))
        if n & 1 == 1:
            buf[half] = buf[unsafe_sub(n, 1)]
            n = unsafe_add(half, 1)
        else:
            n = half
    return buf[0], total


@internal
@view
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "BadSignature"
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if v < 27:
        v = unsafe_add(v, 27)
    assert (v == 27 or v == 28) and s <= HALF_N, "BadSignature"
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "BadSignature"
    return signer


@internal
@view
def _claim_digest(till: address, seq: uint64, recipient: address) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(CLAIM_TYPEHASH, till, seq, recipient))
    )


@internal
@view
def _join_digest(storeId: bytes32, till: address, deadline: uint64) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(JOIN_TYPEHASH, storeId, till, deadline))
    )


@internal
@view
def _batch_digest(till: address, firstSeq: uint64, leavesHash: bytes32) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(BATCH_TYPEHASH, till, firstSeq, leavesHash))
    )


# ---------------------------------------------------------------- till


@internal
def _commit(till: address, firstSeq: uint64, leaves: Bytes[MAX_LEAVES_BYTES]) -> uint256:
    assert not self.paused, "Paused"
    t: uint256 = self._tills[till]
    assert t & ACTIVE != 0, "NotTill"
    root: bytes32 = empty(bytes32)
    total: uint256 = 0
    first: uint256 = convert(firstSeq, uint256)
    root, total = self._batch_root(till, first, leaves)
    count: uint256 = unsafe_div(len(leaves), RECORD_SIZE)
    assert first == unsafe_add(t & MASK64, 1), "SeqMismatch"

    # daily cap per store, per UTC day of block time; a zero-amount batch (fillers, refunds)
    # adds nothing, so it passes even under a cap lowered below today's use
    if total != 0:
        idx: uint256 = (t >> 128) & MASK32
        day: uint256 = block.timestamp // DAY
        d: uint256 = self._storeDay[idx]
        used: uint256 = 0
        if d & MASK32 == day:
            used = (d >> 32) & MASK96
        used = unsafe_add(used, total)
        assert used <= d >> 128, "CapExceeded"
        self._storeDay[idx] = (d & ~MASK128) | (used << 32) | day

    last: uint256 = unsafe_sub(unsafe_add(first, count), 1)
    batchIndex: uint256 = (t >> 64) & MASK64
    self._roots[till][batchIndex] = root
    self._batchMeta[till][batchIndex // 3] |= (
        first | (count << 64) | (((t >> 184) & MASK8) << 76)
    ) << (84 * (batchIndex % 3))
    self._tills[till] = (t & ~SEQ_AND_COUNT) | last | (unsafe_add(batchIndex, 1) << 64)

    # mark the batch's seqs committed-and-unclaimed (at most three bitmap words, as 256 > 232);
    # a word holds one currency, or is MIXED (set by addTill; OR-ing a currency keeps it so)
    currency: uint256 = ((t >> 160) & MASK24) << BITS
    w0: uint256 = first // BITS
    w1: uint256 = last // BITS
    lo: uint256 = first % BITS
    for w: uint256 in range(w0, w0 + 3, bound=3):
        hi: uint256 = BITS - 1
        if w == w1:
            hi = last % BITS
        self._unclaimed[till][w] |= currency | (((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1))
        if w == w1:
            break
        lo = 0

    log BatchCommitted(till=till, batchIndex=batchIndex, firstSeq=firstSeq, count=convert(count, uint32), root=root)
    return batchIndex


@external
def commitBatch(firstSeq: uint64, leaves: Bytes[MAX_LEAVES_BYTES]) -> uint256:
    """@dev `leaves`: packed 30-byte records amount uint48 | time uint32 | claimAddress."""
    return self._commit(msg.sender, firstSeq, leaves)


@external
def commitBatchFor(
    till: address, firstSeq: uint64, leaves: Bytes[MAX_LEAVES_BYTES], signature: Bytes[65]
) -> uint256:
    """@dev Relayed commit (a store gateway pays gas), EIP-712 `Batch` signed by the till key."""
    assert not self.paused, "Paused"
    digest: bytes32 = self._batch_digest(till, firstSeq, keccak256(leaves))
    assert self._recover(digest, signature) == till, "BadSignature"
    return self._commit(till, firstSeq, leaves)


# ---------------------------------------------------------------- shopper


@internal
@view
def _batch_currency(till: address, batchIndex: uint256) -> bytes3:
    """@dev The currency a committed batch keeps in its meta (the store's at commit time)."""
    meta: uint256 = self._batchMeta[till][batchIndex // 3] >> (84 * (batchIndex % 3))
    return self._currencies[(meta >> 76) & MASK8]


@internal
@view
def _era(supply: uint256) -> uint256:
    """@dev era k while supply < maxSupply * (1 - 2**-(k+1)); needs supply < maxSupply."""
    for k: uint256 in range(256):
        if supply < maxSupply - (maxSupply >> unsafe_add(k, 1)):
            return k
    return 256


@internal
@view
def _reward(amount: uint256, rate: uint256, supply: uint256) -> uint256:
    assert supply < maxSupply, "MiningEnded"
    era: uint256 = self._era(supply)
    reward: uint256 = 0
    if era < 256:
        reward = (amount * rate) >> era
    return min(reward, unsafe_sub(maxSupply, supply))


@external
def claim(
    till: address,
    batchIndex: uint256,
    seq: uint64,
    amount: uint48,
    time: uint32,
    claimAddress: address,
    proof: DynArray[bytes32, 64],
    recipient: address,
    signature: Bytes[65],
):
    """@dev Anyone may send it (a relayer); the claim key's signature fixes the recipient."""
    assert amount != 0, "NothingToClaim"
    assert recipient != empty(address), "BadRecipient"

    root: bytes32 = self._roots[till][batchIndex]
    node: bytes32 = self._leaf(
        till, convert(seq, uint256), convert(amount, uint256), convert(time, uint256), claimAddress
    )
    for p: bytes32 in proof:
        if convert(node, uint256) < convert(p, uint256):
            node = keccak256(concat(node, p))
        else:
            node = keccak256(concat(p, node))
    assert node == root and root != empty(bytes32), "BadProof"

    s: uint256 = convert(seq, uint256)
    w: uint256 = s // BITS
    bit: uint256 = 1 << (s % BITS)
    bits: uint256 = self._unclaimed[till][w]
    currency: uint256 = bits >> BITS
    if currency == MIXED:  # the till moved between currencies within this word: ask the batch
        currency = convert(self._batch_currency(till, batchIndex), uint256)
    rate: uint256 = self._rates[convert(convert(currency, uint24), bytes3)]
    assert rate < PAUSED_BIT, "Paused"
    assert rate != 0, "NoRate"

    assert self._recover(self._claim_digest(till, seq, recipient), signature) == claimAddress, "BadSignature"

    assert bits & bit != 0, "AlreadyClaimed"
    self._unclaimed[till][w] = bits ^ bit

    reward: uint256 = self._reward(convert(amount, uint256), rate, staticcall IToken(token).totalSupply())
    extcall IToken(token).mint(recipient, reward)
    log Claimed(till=till, seq=seq, recipient=recipient, reward=reward)


# ---------------------------------------------------------------- views


@external
@view
def nextSeq(till: address) -> uint64:
    return convert((self._tills[till] & MASK64) + 1, uint64)


@external
@view
def batchCount(till: address) -> uint256:
    return (self._tills[till] >> 64) & MASK64


@external
@view
def batch(till: address, batchIndex: uint256) -> (uint64, uint32, bytes32):
    """@dev (firstSeq, count, root); zeros for a batch that does not exist."""
    meta: uint256 = (self._batchMeta[till][batchIndex // 3] >> (84 * (batchIndex % 3))) & MASK84
    return (
        convert(meta & MASK64, uint64),
        convert((meta >> 64) & MASK12, uint32),
        self._roots[till][batchIndex],
    )


@external
@view
def batchCurrency(till: address, batchIndex: uint256) -> bytes3:
    """@dev The currency of the store the batch was committed under (its claims pay in it)."""
    assert batchIndex < (self._tills[till] >> 64) & MASK64, "UnknownBatch"
    return self._batch_currency(till, batchIndex)


@external
@view
def isClaimed(till: address, seq: uint64) -> bool:
    s: uint256 = convert(seq, uint256)
    if s == 0 or s > self._tills[till] & MASK64:
        return False
    return self._unclaimed[till][s // BITS] & (1 << (s % BITS)) == 0


@external
@view
def rate(currency: bytes3) -> uint256:
    """@dev DSG wei per minor unit of `currency`."""
    return self._rates[currency] & ~PAUSED_BIT


@external
@view
def currencies() -> DynArray[bytes3, MAX_CURRENCIES]:
    return self._currencies


@external
@view
def isTill(till: address) -> bool:
    return self._tills[till] & ACTIVE != 0


@external
@view
def tillStore(till: address) -> bytes32:
    return self._storeIds[(self._tills[till] >> 128) & MASK32]


@external
@view
def store(storeId: bytes32) -> (address, bytes3, uint256, uint256):
    """@dev (owner, currency, dailyCap, usedToday) of a registered store."""
    idx: uint256 = self._storeIndex[storeId]
    assert idx != 0, "UnknownStore"
    info: uint256 = self._storeInfo[idx]
    d: uint256 = self._storeDay[idx]
    used: uint256 = 0
    if d & MASK32 == block.timestamp // DAY:
        used = (d >> 32) & MASK96
    currency: bytes3 = convert(convert((info >> 160) & MASK24, uint24), bytes3)
    return convert(info & MASK160, address), currency, d >> 128, used


@external
@view
def era() -> uint256:
    supply: uint256 = staticcall IToken(token).totalSupply()
    if supply >= maxSupply:
        return 256
    return self._era(supply)


@external
@view
def previewReward(amount: uint256, currency: bytes3) -> uint256:
    """@dev What a claim of `amount` would mint now (0 when mining has ended)."""
    supply: uint256 = staticcall IToken(token).totalSupply()
    if supply >= maxSupply:
        return 0
    return self._reward(amount, self._rates[currency] & ~PAUSED_BIT, supply)


@external
@view
def computeRoot(till: address, firstSeq: uint64, leaves: Bytes[MAX_LEAVES_BYTES]) -> bytes32:
    """@dev The root commitBatch would store (same code path), for tools and tests."""
    root: bytes32 = empty(bytes32)
    total: uint256 = 0
    root, total = self._batch_root(till, convert(firstSeq, uint256), leaves)
    return root


@external
@view
def claimDigest(till: address, seq: uint64, recipient: address) -> bytes32:
    return self._claim_digest(till, seq, recipient)


@external
@view
def joinStoreDigest(storeId: bytes32, till: address, deadline: uint64) -> bytes32:
    """@dev The digest a till signs to consent to joining `storeId` (addTill)."""
    return self._join_digest(storeId, till, deadline)


@external
@view
def consentUsed(digest: bytes32) -> bool:
    return self._consentUsed[digest]


@external
@view
def batchDigest(till: address, firstSeq: uint64, leavesHash: bytes32) -> bytes32:
    return self._batch_digest(till, firstSeq, leavesHash)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    return eip712_domain_separator._domain_separator_v4()
