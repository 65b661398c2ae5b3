import Testing

@testable import GreenlightTransparency

/// The RFC 6962 vectors of transparency-dev/merkle (testonly/constants.go, proof/verify_test.go): eight leaves, the
/// root at every size 0–8, and inclusion and consistency proofs, each also checked to fail once corrupted the ways
/// that suite corrupts them.
@Suite("Merkle tree (RFC 6962)")
struct MerkleTreeTests {
    static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .map(bytes(hex:))

    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map(hash)

    /// (index, size, proof): the vectors' leaves are numbered from 1, these from 0.
    static let inclusion: [(UInt64, UInt64, [TreeHash])] = [
        (0, 1, []),
        (
            0, 8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ].map(hash)
        ),
        (
            5, 8,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(hash)
        ),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"].map(hash)),
        (
            1, 5,
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ].map(hash)
        ),
    ]

    /// (from, to, proof).
    static let consistency: [(UInt64, UInt64, [TreeHash])] = [
        (1, 1, []),
        (
            1, 8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ].map(hash)
        ),
        (
            6, 8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(hash)
        ),
        (
            2, 5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ].map(hash)
        ),
        (
            6, 7,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(hash)
        ),
    ]

    static let someHash = hash("abacaba000000000000000000000000000000000000000000060061e00123456")

    var leafHashes: [TreeHash] { Self.leaves.map(MerkleTree.leafHash) }

    @Test("the root of every prefix of the eight leaves, by the whole-tree hash and by the compact range")
    func roots() {
        for size in 0...8 {
            #expect(MerkleTree.root(of: leafHashes.prefix(size)) == Self.roots[size], "size \(size)")
        }
        var range = CompactRange()
        #expect(range.root == MerkleTree.emptyRoot)
        for (size, leaf) in leafHashes.enumerated() {
            range.append(leaf)
            #expect(range.size == UInt64(size + 1))
            #expect(range.root == Self.roots[size + 1], "size \(size + 1)")
        }
    }

    @Test("inclusion proofs: built as the vectors have them, verified, and every corruption refused")
    func inclusionProofs() throws {
        for (index, size, proof) in Self.inclusion {
            #expect(try MerkleTree.inclusionProof(index: index, size: size, leafHashes: leafHashes) == proof, "\(index) in \(size)")
            let (leaf, root) = (leafHashes[Int(index)], Self.roots[Int(size)])
            try MerkleTree.verifyInclusion(index: index, size: size, leafHash: leaf, proof: proof, root: root)
            for (what, probe) in Self.corruptions(index: index, size: size, proof: proof, root: root, leaf: leaf) {
                #expect(
                    throws: ProofError.self, "\(what) of \(index) in \(size)",
                    performing: {
                        try MerkleTree.verifyInclusion(
                            index: probe.index, size: probe.size, leafHash: probe.leaf, proof: probe.proof, root: probe.root)
                    })
            }
        }
    }

    @Test("consistency proofs: built as the vectors have them, verified, and every corruption refused")
    func consistencyProofs() throws {
        for (from, to, proof) in Self.consistency {
            #expect(try MerkleTree.consistencyProof(from: from, to: to, leafHashes: leafHashes) == proof, "\(from) → \(to)")
            let (first, second) = (Self.roots[Int(from)], Self.roots[Int(to)])
            try MerkleTree.verifyConsistency(from: from, to: to, proof: proof, fromRoot: first, toRoot: second)
            guard !proof.isEmpty else { continue }
            var probes: [(String, UInt64, UInt64, TreeHash, TreeHash, [TreeHash])] = [
                ("from - 1", from - 1, to, first, second, proof), ("from + 1", from + 1, to, first, second, proof),
                ("from ^ 2", from ^ 2, to, first, second, proof), ("to * 2", from, to * 2, first, second, proof),
                ("to / 2", from, to / 2, first, second, proof), ("wrong first root", from, to, Self.someHash, second, proof),
                ("wrong second root", from, to, first, Self.someHash, proof), ("swapped roots", from, to, second, first, proof),
                ("empty proof", from, to, first, second, []), ("trailing first root", from, to, first, second, proof + [first]),
                ("trailing second root", from, to, first, second, proof + [second]),
                ("preceding first root", from, to, first, second, [first] + proof),
                ("preceding second root", from, to, first, second, [second] + proof),
                ("preceding proof[0]", from, to, first, second, [proof[0]] + proof),
                ("truncated", from, to, first, second, Array(proof.dropLast())),
            ]
            for position in proof.indices {
                var flipped = proof
                flipped[position] = Self.flipping(flipped[position], mask: 16)
                probes.append(("proof[\(position)] bit 4 flipped", from, to, first, second, flipped))
            }
            for (what, a, b, rootA, rootB, probe) in probes {
                #expect(
                    throws: ProofError.self, "\(what) of \(from) → \(to)",
                    performing: { try MerkleTree.verifyConsistency(from: a, to: b, proof: probe, fromRoot: rootA, toRoot: rootB) })
            }
        }
    }

    @Test("the special cases of consistency: equal sizes, the empty tree, time travel")
    func consistencyEdges() throws {
        let (one, two) = (Self.roots[1], Self.roots[2])
        try MerkleTree.verifyConsistency(from: 0, to: 0, proof: [], fromRoot: one, toRoot: one)
        try MerkleTree.verifyConsistency(from: 0, to: 1, proof: [], fromRoot: one, toRoot: two)
        try MerkleTree.verifyConsistency(from: 1, to: 1, proof: [], fromRoot: two, toRoot: two)
        #expect(throws: ProofError.self) { try MerkleTree.verifyConsistency(from: 1, to: 1, proof: [], fromRoot: one, toRoot: two) }
        #expect(throws: ProofError.sizesOutOfOrder(from: 2, to: 1)) {
            try MerkleTree.verifyConsistency(from: 2, to: 1, proof: [], fromRoot: one, toRoot: two)
        }
        #expect(throws: ProofError.proofTooShort) { try MerkleTree.verifyConsistency(from: 1, to: 2, proof: [], fromRoot: one, toRoot: two) }
        #expect(throws: ProofError.proofTooLong) {
            try MerkleTree.verifyConsistency(from: 1, to: 1, proof: [MerkleTree.emptyRoot], fromRoot: one, toRoot: one)
        }
        #expect(throws: ProofError.indexOutOfRange(index: 0, size: 0)) {
            try MerkleTree.verifyInclusion(index: 0, size: 0, leafHash: one, proof: [], root: MerkleTree.emptyRoot)
        }
        #expect(throws: ProofError.indexOutOfRange(index: .max, size: .max)) {
            try MerkleTree.verifyInclusion(index: .max, size: .max, leafHash: one, proof: [], root: one)
        }
        // A size near the type's limit needs 64 hashes; none given is too short, and nothing traps on the way.
        #expect(throws: ProofError.proofTooShort) {
            try MerkleTree.verifyConsistency(from: .max - 1, to: .max, proof: [one], fromRoot: one, toRoot: two)
        }
        #expect(throws: ProofError.treeTooSmall(size: 9, have: 8)) { try MerkleTree.inclusionProof(index: 0, size: 9, leafHashes: leafHashes) }
    }

    @Test("every proof of every tree up to 70 leaves verifies against the roots the tree itself gives")
    func everyProof() throws {
        let hashes = (0..<70).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 0x5A]) }
        let roots = (0...hashes.count).map { MerkleTree.root(of: hashes.prefix($0)) }
        for size in 1...UInt64(hashes.count) {
            for index in 0..<size {
                let proof = try MerkleTree.inclusionProof(index: index, size: size, leafHashes: hashes)
                try MerkleTree.verifyInclusion(index: index, size: size, leafHash: hashes[Int(index)], proof: proof, root: roots[Int(size)])
            }
            for from in 0...size {
                let proof = try MerkleTree.consistencyProof(from: from, to: size, leafHashes: hashes)
                try MerkleTree.verifyConsistency(from: from, to: size, proof: proof, fromRoot: roots[Int(from)], toRoot: roots[Int(size)])
            }
        }
    }

    // MARK: Corruptions, as transparency-dev/merkle's verify_test.go makes them

    struct InclusionProbe {
        var index: UInt64, size: UInt64, root: TreeHash, leaf: TreeHash, proof: [TreeHash]
    }

    static func corruptions(index: UInt64, size: UInt64, proof: [TreeHash], root: TreeHash, leaf: TreeHash) -> [(String, InclusionProbe)] {
        let good = InclusionProbe(index: index, size: size, root: root, leaf: leaf, proof: proof)
        func with(_ change: (inout InclusionProbe) -> Void) -> InclusionProbe {
            var probe = good
            change(&probe)
            return probe
        }
        var probes: [(String, InclusionProbe)] = [
            ("index + 1", with { $0.index += 1 }), ("index ^ 2", with { $0.index ^= 2 }), ("size * 2", with { $0.size *= 2 }),
            ("size / 2", with { $0.size /= 2 }), ("wrong leaf", with { $0.leaf = MerkleTree.leafHash(Array("WrongLeaf".utf8)) }),
            ("empty root", with { $0.root = MerkleTree.emptyRoot }), ("random root", with { $0.root = someHash }),
            ("trailing root", with { $0.proof.append(root) }), ("preceding root", with { $0.proof.insert(root, at: 0) }),
        ]
        if index > 0 { probes.append(("index - 1", with { $0.index -= 1 })) }
        for position in proof.indices {
            probes.append(("proof[\(position)] bit 3 flipped", with { $0.proof[position] = flipping($0.proof[position], mask: 8) }))
        }
        if !proof.isEmpty { probes.append(("removed component", with { $0.proof.removeLast() })) }
        if proof.count > 1 { probes.append(("inserted component", with { $0.proof.insert(someHash, at: 1) })) }
        return probes
    }

    static func flipping(_ hash: TreeHash, mask: UInt8) -> TreeHash {
        var bytes = hash.bytes
        bytes[0] ^= mask
        return TreeHash(bytes: bytes)!
    }

    static func hash(_ hex: String) -> TreeHash { TreeHash(hex: hex)! }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
