import Crypto

/// The Merkle tree of RFC 6962 §2.1 (RFC 9162 §2.1): how the audit log's events are hashed into one root that a
/// signed checkpoint commits to, and the proofs that an event is in a tree (inclusion) and that a tree extends an
/// earlier one (consistency).
///
/// A leaf is hashed as SHA-256(0x00 ‖ leaf), an interior node as SHA-256(0x01 ‖ left ‖ right); a tree of n > 1
/// leaves splits at k, the largest power of two below n. The distinct prefixes keep a leaf from passing for a node.
///
/// Building proofs takes the leaves' hashes in order (the whole tree, or at least its first `size`); checking them
/// takes only the proof, the sizes and the roots — what an auditor holds, with no access to the log.
public enum MerkleTree {
    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot = TreeHash(digest: SHA256.hash(data: [UInt8]()))

    public static func leafHash(_ leaf: some Sequence<UInt8>) -> TreeHash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(leaf))
        return TreeHash(digest: hasher.finalize())
    }

    public static func nodeHash(_ left: TreeHash, _ right: TreeHash) -> TreeHash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left.bytes)
        hasher.update(data: right.bytes)
        return TreeHash(digest: hasher.finalize())
    }

    /// The root of the tree whose leaves have `leafHashes`, in order.
    public static func root(of leafHashes: some Collection<TreeHash>) -> TreeHash {
        var range = CompactRange()
        for hash in leafHashes { range.append(hash) }
        return range.root
    }

    // MARK: Proofs

    /// The inclusion proof (RFC 9162 §2.1.3.1, `PATH`) of the leaf at `index` in the tree of the first `size` of
    /// `leafHashes`: the hashes from the leaf's sibling up to the root's children.
    public static func inclusionProof(index: UInt64, size: UInt64, leafHashes: [TreeHash]) throws(ProofError) -> [TreeHash] {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        guard size <= UInt64(leafHashes.count) else { throw .treeTooSmall(size: size, have: UInt64(leafHashes.count)) }
        return inclusionProofRanges(index: index, size: size).map { root(of: leafHashes[Int($0.lowerBound)..<Int($0.upperBound)]) }
    }

    /// The consistency proof (RFC 9162 §2.1.4.1, `PROOF`) that the tree of the first `from` of `leafHashes` is the
    /// beginning of the tree of the first `to`.
    public static func consistencyProof(from: UInt64, to: UInt64, leafHashes: [TreeHash]) throws(ProofError) -> [TreeHash] {
        guard from <= to else { throw .sizesOutOfOrder(from: from, to: to) }
        guard to <= UInt64(leafHashes.count) else { throw .treeTooSmall(size: to, have: UInt64(leafHashes.count)) }
        return consistencyProofRanges(from: from, to: to).map { root(of: leafHashes[Int($0.lowerBound)..<Int($0.upperBound)]) }
    }

    /// The largest power of two strictly below `count` (which is at least 2): where RFC 6962 splits a tree.
    static func largestPowerOfTwo(below count: UInt64) -> UInt64 {
        UInt64(1) << (63 - (count - 1).leadingZeroBitCount)
    }

    // MARK: Proofs as ranges of leaves

    /// The leaf ranges whose subtree roots make up the inclusion proof of leaf `index` in the tree of `size`, in proof
    /// order (RFC 9162's `PATH` recursion, unrolled): each proof, from all the leaves or from a tree kept as tiles
    /// (``TiledTree``), is the roots of these ranges.
    public static func inclusionProofRanges(index: UInt64, size: UInt64) -> [Range<UInt64>] {
        guard index < size else { return [] }
        var ranges: [Range<UInt64>] = []
        var (low, high, index) = (UInt64(0), size, index)
        // From the root down: each step keeps the half holding the leaf and records the other.
        while high - low > 1 {
            let split = low + largestPowerOfTwo(below: high - low)
            if low + index < split {
                ranges.append(split..<high)
                high = split
            } else {
                ranges.append(low..<split)
                index -= split - low
                low = split
            }
        }
        return ranges.reversed()
    }

    /// The leaf ranges of the consistency proof from `from` to `to` (RFC 9162 §2.1.4.1's `SUBPROOF`), in order.
    public static func consistencyProofRanges(from: UInt64, to: UInt64) -> [Range<UInt64>] {
        guard from > 0, from < to else { return [] }
        var ranges: [Range<UInt64>] = []
        var (low, high, count, complete) = (UInt64(0), to, from, true)
        while count != high - low {
            let split = low + largestPowerOfTwo(below: high - low)
            if low + count <= split {
                ranges.append(split..<high)
                high = split
            } else {
                ranges.append(low..<split)
                count -= split - low
                low = split
                complete = false
            }
        }
        if !complete { ranges.append(low..<high) }
        return ranges.reversed()
    }

    // MARK: Checking proofs

    /// The root that `proof` leads to from the leaf with `leafHash` at `index` in a tree of `size` (RFC 9162
    /// §2.1.3.2): equal to the tree's root only if the leaf is in it there.
    public static func rootFromInclusionProof(
        index: UInt64, size: UInt64, leafHash: TreeHash, proof: [TreeHash]
    ) throws(ProofError) -> TreeHash {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        var (fn, sn) = (index, size - 1)
        var hash = leafHash
        for sibling in proof {
            guard sn > 0 else { throw .proofTooLong }
            if fn & 1 == 1 || fn == sn {
                hash = nodeHash(sibling, hash)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                hash = nodeHash(hash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .proofTooShort }
        return hash
    }

    /// Checks that the leaf with `leafHash` is at `index` in the tree of `size` whose root is `root`.
    public static func verifyInclusion(
        index: UInt64, size: UInt64, leafHash: TreeHash, proof: [TreeHash], root: TreeHash
    ) throws(ProofError) {
        let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
        guard computed == root else { throw .rootMismatch(expected: root, computed: computed) }
    }

    /// Checks that the tree of `from` leaves with root `fromRoot` is the beginning of the tree of `to` leaves with
    /// root `toRoot` (RFC 9162 §2.1.4.2): nothing of the smaller tree was changed, removed or reordered.
    public static func verifyConsistency(
        from: UInt64, to: UInt64, proof: [TreeHash], fromRoot: TreeHash, toRoot: TreeHash
    ) throws(ProofError) {
        guard from <= to else { throw .sizesOutOfOrder(from: from, to: to) }
        if from == to {
            guard proof.isEmpty else { throw .proofTooLong }
            guard fromRoot == toRoot else { throw .rootMismatch(expected: toRoot, computed: fromRoot) }
            return
        }
        if from == 0 {
            // Every tree extends the empty one.
            guard proof.isEmpty else { throw .proofTooLong }
            return
        }
        guard !proof.isEmpty else { throw .proofTooShort }
        // A smaller tree that is complete is a node of the larger one: its root starts the path.
        let path = from & (from - 1) == 0 ? [fromRoot] + proof : proof
        var (fn, sn) = (from - 1, to - 1)
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var (fr, sr) = (path[0], path[0])
        for node in path.dropFirst() {
            guard sn > 0 else { throw .proofTooLong }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(node, fr)
                sr = nodeHash(node, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = nodeHash(sr, node)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .proofTooShort }
        guard fr == fromRoot else { throw .rootMismatch(expected: fromRoot, computed: fr) }
        guard sr == toRoot else { throw .rootMismatch(expected: toRoot, computed: sr) }
    }
}

/// Why a proof was not built or does not check out.
public enum ProofError: Error, Equatable, CustomStringConvertible {
    case indexOutOfRange(index: UInt64, size: UInt64)
    case sizesOutOfOrder(from: UInt64, to: UInt64)
    case treeTooSmall(size: UInt64, have: UInt64)
    case proofTooLong
    case proofTooShort
    case rootMismatch(expected: TreeHash, computed: TreeHash)

    public var description: String {
        switch self {
        case .indexOutOfRange(let index, let size): "leaf index \(index) is not in a tree of \(size) leaves"
        case .sizesOutOfOrder(let from, let to): "a tree of \(from) leaves cannot be the beginning of a smaller one of \(to)"
        case .treeTooSmall(let size, let have): "a tree of \(size) leaves was asked for, but the log has \(have)"
        case .proofTooLong: "the proof has more hashes than a tree of that size needs"
        case .proofTooShort: "the proof has fewer hashes than a tree of that size needs"
        case .rootMismatch(let expected, let computed): "the proof leads to root \(computed), not \(expected)"
        }
    }
}

/// The right edge of a Merkle tree as leaves are appended: the roots of its complete subtrees, largest first (one
/// per set bit of the size). Enough to give the root at every size while reading a log once, in memory that grows
/// with the logarithm of its length.
public struct CompactRange: Sendable, Equatable {
    public private(set) var size: UInt64 = 0
    private var subtrees: [TreeHash] = []

    public init() {}

    public mutating func append(_ leafHash: TreeHash) {
        var carry = leafHash
        var size = size
        // Each trailing one bit of the old size is a complete subtree of the new leaf's size that it now completes.
        while size & 1 == 1 {
            carry = MerkleTree.nodeHash(subtrees.removeLast(), carry)
            size >>= 1
        }
        subtrees.append(carry)
        self.size += 1
    }

    /// The root of the tree of the leaves appended so far.
    public var root: TreeHash {
        guard var hash = subtrees.last else { return MerkleTree.emptyRoot }
        for subtree in subtrees.dropLast().reversed() { hash = MerkleTree.nodeHash(subtree, hash) }
        return hash
    }
}
