/// Where a resource of a tiled log is (C2SP `tlog-tiles`): `tile/<L>/<N>[.p/<W>]` for the hashes of level L,
/// `tile/entries/<N>[.p/<W>]` for the entries themselves.
///
/// A tile holds 256 consecutive hashes of one level (a partial one, at the right edge, fewer): at level 0 the leaf
/// hashes, at level l the roots of the complete subtrees of 256^l leaves. An entry bundle holds the leaves of the
/// level-0 tile of the same index.
public struct TilePath: Sendable, Hashable, CustomStringConvertible {
    public enum Content: Sendable, Hashable {
        case hashes(level: Int)
        case entries
    }

    /// A full tile's width.
    public static let fullWidth = 256
    /// Levels go from 0 to 63.
    public static let maximumLevel = 63

    public var content: Content
    public var index: UInt64
    /// How many hashes or entries: 256 for a full tile, 1 to 255 for a partial one.
    public var width: Int

    public init(_ content: Content, index: UInt64, width: Int = fullWidth) {
        self.content = content
        self.index = index
        self.width = width
    }

    public var isPartial: Bool { width < Self.fullWidth }

    /// The path below the log's prefix, `tile/…`.
    public var description: String {
        let level =
            switch content {
            case .hashes(let level): String(level)
            case .entries: "entries"
            }
        return "tile/\(level)/\(Self.encode(index))" + (isPartial ? ".p/\(width)" : "")
    }

    /// Reads the path elements after `tile/` (`["0", "x001", "234"]`, `["entries", "005.p", "7"]`); nil unless they
    /// are a tile path in its one canonical spelling, so that a resource has one URL.
    public init?(elements: some Collection<Substring>) {
        var elements = Array(elements)
        guard let first = elements.first else { return nil }
        elements.removeFirst()
        if first == "entries" {
            content = .entries
        } else if let level = Self.decimal(first), level <= Self.maximumLevel {
            content = .hashes(level: level)
        } else {
            return nil
        }
        // The width comes as a last element after an index element ending in ".p".
        width = Self.fullWidth
        if elements.count >= 2, elements[elements.count - 2].hasSuffix(".p") {
            guard let width = Self.decimal(elements.removeLast()), (1..<Self.fullWidth).contains(width) else { return nil }
            self.width = width
            elements[elements.count - 1] = elements[elements.count - 1].dropLast(2)
        }
        guard let index = Self.decodeIndex(elements) else { return nil }
        self.index = index
    }

    /// Index 1234067 as `x001/x234/067`: three digits an element, all but the last prefixed with x.
    static func encode(_ index: UInt64) -> String {
        var groups: [String] = []
        var rest = index
        repeat {
            let group = String(rest % 1000)
            groups.insert(String(repeating: "0", count: 3 - group.count) + group, at: 0)
            rest /= 1000
        } while rest > 0
        return groups.dropLast().map { "x" + $0 }.joined(separator: "/") + (groups.count > 1 ? "/" : "") + groups[groups.count - 1]
    }

    private static func decodeIndex(_ elements: [Substring]) -> UInt64? {
        // UInt64 has 20 digits: seven groups at most, and no leading group of zeros.
        guard !elements.isEmpty, elements.count <= 7 else { return nil }
        var index: UInt64 = 0
        for (position, element) in elements.enumerated() {
            let last = position == elements.count - 1
            let digits = last ? element : (element.hasPrefix("x") ? element.dropFirst() : "")
            guard digits.utf8.count == 3, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let group = UInt64(digits) else { return nil }
            if position == 0, group == 0, elements.count > 1 { return nil }
            let (shifted, overflow) = index.multipliedReportingOverflow(by: 1000)
            let (sum, carry) = shifted.addingReportingOverflow(group)
            guard !overflow, !carry else { return nil }
            index = sum
        }
        return index
    }

    /// A decimal number with no sign and no leading zero (but 0 itself).
    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 3, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), text == "0" || !text.hasPrefix("0") else {
            return nil
        }
        return Int(text)
    }
}

/// The Merkle tree of a log kept as its tiles' upper levels: for every level l ≥ 1, the roots of the complete subtrees
/// of 256^l leaves so far. That is 1/256 of the leaf hashes (32 MB for a billion events), enough to serve every tile
/// above level 0 and, with at most two level-0 tiles read from the log, any inclusion or consistency proof.
public struct TiledTree: Sendable {
    public private(set) var range = CompactRange()
    /// The leaf hashes since the last complete level-0 tile.
    private var edge: [TreeHash] = []
    /// `upper[l - 1]`: the hashes of level-l tiles, each the root of a complete subtree of 256^l leaves.
    private var upper: [[TreeHash]] = []

    public init() {}

    public var size: UInt64 { range.size }
    public var root: TreeHash { range.root }

    public mutating func append(_ leafHash: TreeHash) {
        range.append(leafHash)
        edge.append(leafHash)
        guard edge.count == TilePath.fullWidth else { return }
        var completed = MerkleTree.root(of: edge)
        edge.removeAll(keepingCapacity: true)
        var level = 0
        while true {
            if upper.count == level { upper.append([]) }
            upper[level].append(completed)
            guard upper[level].count % TilePath.fullWidth == 0 else { break }
            completed = MerkleTree.root(of: upper[level].suffix(TilePath.fullWidth))
            level += 1
        }
    }

    /// The hashes of the tile at `level` ≥ 1, or nil if the tree does not hold that many yet. (Level 0 tiles are the
    /// leaves' hashes, read from the log.)
    public func tile(level: Int, index: UInt64, width: Int) -> [TreeHash]? {
        guard level >= 1, level <= upper.count, (1...TilePath.fullWidth).contains(width) else { return nil }
        let hashes = upper[level - 1]
        let (start, overflow) = index.multipliedReportingOverflow(by: UInt64(TilePath.fullWidth))
        guard !overflow, start < UInt64(hashes.count), UInt64(hashes.count) - start >= UInt64(width) else { return nil }
        return Array(hashes[Int(start)..<Int(start) + width])
    }

    /// The level-0 tiles (by index) that ``inclusionProof(index:size:leafTiles:)`` and
    /// ``consistencyProof(from:to:leafTiles:)`` read for these sizes.
    public func leafTilesForInclusion(index: UInt64, size: UInt64) -> Set<UInt64> {
        leafTiles(MerkleTree.inclusionProofRanges(index: index, size: size))
    }

    public func leafTilesForConsistency(from: UInt64, to: UInt64) -> Set<UInt64> {
        leafTiles(MerkleTree.consistencyProofRanges(from: from, to: to))
    }

    /// The inclusion proof of leaf `index` in the tree of `size`, from the upper levels and `leafTiles` (the leaf
    /// hashes of the level-0 tiles ``leafTilesForInclusion(index:size:)`` names, each from its first leaf).
    public func inclusionProof(index: UInt64, size: UInt64, leafTiles: [UInt64: [TreeHash]]) throws(ProofError) -> [TreeHash] {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        guard size <= self.size else { throw .treeTooSmall(size: size, have: self.size) }
        return try MerkleTree.inclusionProofRanges(index: index, size: size).map { range throws(ProofError) in
            try hash(of: range, leafTiles: leafTiles)
        }
    }

    public func consistencyProof(from: UInt64, to: UInt64, leafTiles: [UInt64: [TreeHash]]) throws(ProofError) -> [TreeHash] {
        guard from <= to else { throw .sizesOutOfOrder(from: from, to: to) }
        guard to <= size else { throw .treeTooSmall(size: to, have: size) }
        return try MerkleTree.consistencyProofRanges(from: from, to: to).map { range throws(ProofError) in
            try hash(of: range, leafTiles: leafTiles)
        }
    }

    /// The root of the tree of the first `size` leaves.
    public func root(size: UInt64, leafTiles: [UInt64: [TreeHash]]) throws(ProofError) -> TreeHash {
        guard size <= self.size else { throw .treeTooSmall(size: size, have: self.size) }
        return size == 0 ? MerkleTree.emptyRoot : try hash(of: 0..<size, leafTiles: leafTiles)
    }

    public func leafTilesForRoot(size: UInt64) -> Set<UInt64> { size == 0 ? [] : leafTiles([0..<size]) }

    private func leafTiles(_ ranges: [Range<UInt64>]) -> Set<UInt64> {
        var tiles = Set<UInt64>()
        for range in ranges {
            Self.decompose(range) { start, height in
                if height < 8 { tiles.insert(start / UInt64(TilePath.fullWidth)) }
            }
        }
        return tiles
    }

    /// MTH(D[range]) for a range the proofs use: it splits, RFC 6962's way, into complete subtrees aligned on their
    /// size.
    private func hash(of range: Range<UInt64>, leafTiles: [UInt64: [TreeHash]]) throws(ProofError) -> TreeHash {
        let count = range.upperBound - range.lowerBound
        if count & (count - 1) == 0, range.lowerBound % count == 0 {
            return try complete(start: range.lowerBound, height: count.trailingZeroBitCount, leafTiles: leafTiles)
        }
        let split = range.lowerBound + MerkleTree.largestPowerOfTwo(below: count)
        return MerkleTree.nodeHash(
            try hash(of: range.lowerBound..<split, leafTiles: leafTiles), try hash(of: split..<range.upperBound, leafTiles: leafTiles))
    }

    private static func decompose(_ range: Range<UInt64>, _ body: (UInt64, Int) -> Void) {
        let count = range.upperBound - range.lowerBound
        guard count > 0 else { return }
        if count & (count - 1) == 0, range.lowerBound % count == 0 { return body(range.lowerBound, count.trailingZeroBitCount) }
        let split = range.lowerBound + MerkleTree.largestPowerOfTwo(below: count)
        decompose(range.lowerBound..<split, body)
        decompose(split..<range.upperBound, body)
    }

    /// The root of the complete subtree of 2^height leaves from leaf `start`.
    private func complete(start: UInt64, height: Int, leafTiles: [UInt64: [TreeHash]]) throws(ProofError) -> TreeHash {
        let count = 1 << (height % 8)
        let level = height / 8
        let entries: ArraySlice<TreeHash>
        if level == 0 {
            let tile = start / UInt64(TilePath.fullWidth)
            let offset = Int(start % UInt64(TilePath.fullWidth))
            guard let leaves = leafTiles[tile], leaves.count >= offset + count else { throw .treeTooSmall(size: start + UInt64(count), have: size) }
            entries = leaves[offset..<offset + count]
        } else {
            let first = start >> (8 * level)
            guard level <= upper.count, UInt64(upper[level - 1].count) >= first + UInt64(count) else {
                throw .treeTooSmall(size: start + UInt64(count) << (8 * level), have: size)
            }
            entries = upper[level - 1][Int(first)..<Int(first) + count]
        }
        return MerkleTree.root(of: entries)
    }
}

/// An entry bundle's bytes: each entry as a big-endian uint16 length and then its bytes.
public enum EntryBundle {
    /// The longest entry a bundle can hold.
    public static let entryLimit = Int(UInt16.max)

    public static func encode(_ entries: [[UInt8]]) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + 2 + $1.count })
        for entry in entries {
            guard entry.count <= entryLimit else { return nil }
            bytes.append(UInt8(entry.count >> 8))
            bytes.append(UInt8(entry.count & 0xFF))
            bytes.append(contentsOf: entry)
        }
        return bytes
    }

    /// The entries of a bundle; nil if its lengths do not add up to its bytes.
    public static func decode(_ bytes: some Collection<UInt8>) -> [[UInt8]]? {
        var entries: [[UInt8]] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            guard rest.count >= 2 else { return nil }
            let length = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.index(after: rest.startIndex)])
            rest = rest.dropFirst(2)
            guard rest.count >= length else { return nil }
            entries.append(Array(rest.prefix(length)))
            rest = rest.dropFirst(length)
        }
        return entries
    }
}
