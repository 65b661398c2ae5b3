import Testing

@testable import GreenlightTransparency

/// The tree kept as tiles gives the same proofs and roots as the whole list of leaves, and its tiles and paths are the
/// C2SP `tlog-tiles` ones.
@Suite("Tiled tree (C2SP tlog-tiles)")
struct TiledTreeTests {
    static func leaves(_ count: Int) -> [TreeHash] {
        (0..<count).map { MerkleTree.leafHash(Array("leaf \($0)".utf8)) }
    }

    static func tree(_ leaves: [TreeHash]) -> TiledTree {
        var tree = TiledTree()
        for leaf in leaves { tree.append(leaf) }
        return tree
    }

    /// The level-0 tiles a proof asks for, cut from the leaves.
    static func tiles(_ indexes: Set<UInt64>, of leaves: [TreeHash]) -> [UInt64: [TreeHash]] {
        Dictionary(
            uniqueKeysWithValues: indexes.map { index in
                let start = Int(index) * 256
                return (index, Array(leaves[start..<min(start + 256, leaves.count)]))
            })
    }

    @Test("the tile paths of the specification: x-prefixed groups of three digits, .p/<width> for a partial tile")
    func paths() throws {
        #expect(TilePath(.hashes(level: 0), index: 1_234_067).description == "tile/0/x001/x234/067")
        #expect(TilePath(.entries, index: 5, width: 7).description == "tile/entries/005.p/7")
        #expect(TilePath(.hashes(level: 2), index: 1000).description == "tile/2/x001/000")
        #expect(TilePath(.hashes(level: 0), index: UInt64.max).description == "tile/0/x018/x446/x744/x073/x709/x551/615")
        for path in ["0/x001/x234/067", "entries/005.p/7", "2/x001/000", "63/000", "0/x018/x446/x744/x073/x709/x551/615", "1/255.p/255"] {
            let parsed = try #require(TilePath(elements: path.split(separator: "/", omittingEmptySubsequences: false)), "\(path)")
            #expect(parsed.description == "tile/" + path)
        }
        for bad in [
            "", "0", "64/000", "01/000", "-1/000", "0/5", "0/0005", "0/x000/005", "0/001/005", "0/x1/005", "0/005.p/0", "0/005.p/256",
            "0/005.p/07", "0/005.p", "0/x018/x446/x744/x073/x709/x551/616", "0/x001/x000/x000/x000/x000/x000/x000/000", "entry/000",
            "0/００5", "0/005/", "tile/0/000",
        ] {
            #expect(TilePath(elements: bad.split(separator: "/", omittingEmptySubsequences: false)) == nil, "\(bad) was read")
        }
    }

    @Test("every proof and root from the tiles equals the one from all the leaves, across tile edges and levels")
    func proofsMatch() throws {
        let leaves = Self.leaves(66_000)
        let tree = Self.tree(leaves)
        #expect(tree.root == MerkleTree.root(of: leaves))
        let sizes: [UInt64] = [1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 1000, 65_536, 66_000]
        for size in sizes {
            #expect(
                try tree.root(size: size, leafTiles: Self.tiles(tree.leafTilesForRoot(size: size), of: leaves))
                    == MerkleTree.root(of: leaves.prefix(Int(size))))
            #expect(tree.leafTilesForRoot(size: size).count <= 2)
            // Fewer cases in the large trees, whose proofs from all the leaves take long to build.
            let large = size > 1000
            for index in Set(large ? [size - 1, 256] : [0, size / 2, size - 1, size > 256 ? 255 : 0, size > 256 ? 256 : 0]) where index < size {
                let needed = tree.leafTilesForInclusion(index: index, size: size)
                #expect(needed.count <= 2, "inclusion of \(index) in \(size) reads \(needed.count) leaf tiles")
                let fromTiles = try tree.inclusionProof(index: index, size: size, leafTiles: Self.tiles(needed, of: leaves))
                let fromLeaves = try MerkleTree.inclusionProof(index: index, size: size, leafHashes: leaves)
                #expect(fromTiles == fromLeaves, "inclusion of \(index) in \(size)")
            }
            for from in Set(large ? [size / 3] : [1, size / 3, size - 1, 256]) where from <= size && from > 0 {
                let needed = tree.leafTilesForConsistency(from: from, to: size)
                #expect(needed.count <= 2)
                let fromTiles = try tree.consistencyProof(from: from, to: size, leafTiles: Self.tiles(needed, of: leaves))
                let fromLeaves = try MerkleTree.consistencyProof(from: from, to: size, leafHashes: leaves)
                #expect(fromTiles == fromLeaves, "consistency from \(from) to \(size)")
            }
        }
        // A missing level-0 tile is an error, not a wrong proof.
        #expect(throws: ProofError.self) { try tree.inclusionProof(index: 3, size: 1000, leafTiles: [:]) }
        #expect(throws: ProofError.self) { try tree.inclusionProof(index: 3, size: 70_000, leafTiles: [:]) }
    }

    @Test("tiles above level 0 hold the roots of the full tiles below; partial tiles only what the tree has")
    func upperTiles() throws {
        let leaves = Self.leaves(70_000)
        let tree = Self.tree(leaves)
        // The specification's example: 273 full level-0 tiles and one of 112, a full level-1 tile and one of 17, and a
        // partial level-2 tile of 1.
        let level1 = try #require(tree.tile(level: 1, index: 0, width: 256))
        for (i, hash) in level1.enumerated() { #expect(hash == MerkleTree.root(of: leaves[i * 256..<(i + 1) * 256])) }
        let partial = try #require(tree.tile(level: 1, index: 1, width: 17))
        #expect(partial[16] == MerkleTree.root(of: leaves[272 * 256..<273 * 256]))
        #expect(tree.tile(level: 1, index: 1, width: 18) == nil)
        #expect(tree.tile(level: 1, index: 1, width: 256) == nil)
        #expect(tree.tile(level: 2, index: 0, width: 1) == [MerkleTree.root(of: leaves[0..<65_536])])
        #expect(tree.tile(level: 2, index: 0, width: 2) == nil)
        #expect(tree.tile(level: 3, index: 0, width: 1) == nil)
        #expect(tree.tile(level: 1, index: UInt64.max, width: 1) == nil)
    }

    @Test("entry bundles: big-endian uint16 lengths; a bundle that does not add up is refused")
    func bundles() throws {
        let entries: [[UInt8]] = [[], Array("{}".utf8), [UInt8](repeating: 7, count: 300)]
        let bundle = try #require(EntryBundle.encode(entries))
        #expect(Array(bundle.prefix(6)) == [0, 0, 0, 2, UInt8(ascii: "{"), UInt8(ascii: "}")])
        #expect(Array(bundle[6..<8]) == [0x01, 0x2C])
        #expect(EntryBundle.decode(bundle) == entries)
        #expect(EntryBundle.decode(bundle.dropLast()) == nil)
        #expect(EntryBundle.decode([0]) == nil)
        #expect(EntryBundle.encode([[UInt8](repeating: 0, count: 65_536)]) == nil)
    }
}
