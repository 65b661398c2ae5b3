import Foundation
import GreenlightTestSupport
import Testing

@testable import GreenlightTransparency

/// Checkpoints signed here, checked by scripts/verify-checkpoint.py: the C2SP note and checkpoint formats and the
/// RFC 6962 root written again from the specifications in Python, with `cryptography`'s Ed25519 — so that a format
/// both sides got wrong the same way is the only way to pass.
@Suite("Independent checkpoint verifier (scripts/verify-checkpoint.py)")
struct IndependentCheckpointTests {
    static let origin = "greenlight.test/audit"

    /// 1,000 leaves shaped like exported audit events (JSON objects, varying lengths), their file and signed
    /// checkpoint in a fresh directory.
    struct Fixture {
        let directory: URL
        let signer: NoteSignerKey
        let leaves: [String]

        init(size: Int = 1000) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            signer = try NoteSignerKey(generatingFor: IndependentCheckpointTests.origin)
            leaves = (1...size).map { #"{"action":"gate.opened","sequence":\#($0),"summary":"\#(String(repeating: "é", count: $0 % 17))"}"# }
        }

        func write(leaves: [String], checkpoint: String) throws {
            try Data((leaves.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("leaves"))
            try Data(checkpoint.utf8).write(to: directory.appendingPathComponent("checkpoint"))
        }

        func signedCheckpoint(size: Int) throws -> String {
            var range = CompactRange()
            for leaf in leaves.prefix(size) { range.append(MerkleTree.leafHash(Array(leaf.utf8))) }
            return try signer.sign(Checkpoint(origin: origin, size: UInt64(size), root: range.root).text).encoded
        }

        func verify(key: String? = nil, witnesses: [NoteVerifierKey] = []) throws -> (line: String, status: Int32) {
            let (status, output) = try RepositoryScript.python(
                "verify-checkpoint.py",
                [
                    "--key", key ?? signer.verifier.description, "--checkpoint", directory.appendingPathComponent("checkpoint").path,
                    "--leaves", directory.appendingPathComponent("leaves").path,
                ] + witnesses.flatMap { ["--witness", $0.description] })
            return (output, status)
        }
    }

    @Test("a checkpoint of 1,000 leaves, and of every size up to 20, verifies")
    func accepted() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        for size in Array(0...20) + [fixture.leaves.count] {
            try fixture.write(leaves: fixture.leaves, checkpoint: try fixture.signedCheckpoint(size: size))
            let (line, status) = try fixture.verify()
            #expect(status == 0, "size \(size): \(line)")
            #expect(line.hasPrefix("checkpoint of \(Self.origin) verified: size \(size), root "), "\(line)")
        }
    }

    @Test("an edited, removed or reordered leaf, another key, or a changed size is refused")
    func refused() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let checkpoint = try fixture.signedCheckpoint(size: fixture.leaves.count)
        var edited = fixture.leaves
        edited[500] = edited[500].replacingOccurrences(of: "opened", with: "closed")
        var reordered = fixture.leaves
        reordered.swapAt(10, 11)
        let cases: [(String, [String], String, String?)] = [
            ("an edited leaf", edited, checkpoint, nil),
            ("a leaf removed", Array(fixture.leaves.dropFirst()), checkpoint, nil),
            ("two leaves swapped", reordered, checkpoint, nil),
            ("another log's key", fixture.leaves, checkpoint, try NoteSignerKey(generatingFor: Self.origin).verifier.description),
            ("the size changed after signing", fixture.leaves, checkpoint.replacingOccurrences(of: "\n1000\n", with: "\n999\n"), nil),
        ]
        for (what, leaves, note, key) in cases {
            try fixture.write(leaves: leaves, checkpoint: note)
            let (line, status) = try fixture.verify(key: key)
            #expect(status == 1, "\(what): \(line)")
            #expect(line.hasPrefix("checkpoint refused: "), "\(what): \(line)")
        }
    }

    @Test("cosignatures (tlog-cosignature v1) made here verify there; one on another text, or by another key, does not")
    func cosignatures() throws {
        let fixture = try Fixture(size: 30)
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let w1 = try NoteSignerKey(generatingFor: "witness.test/w1", type: .cosignatureV1)
        let w2 = try NoteSignerKey(generatingFor: "witness.test/w2", type: .cosignatureV1)
        var note = try SignedNote(parsing: try fixture.signedCheckpoint(size: 30))
        note.signatures += [try w1.cosignature(for: note.text, at: 1_700_000_001), try w2.cosignature(for: note.text, at: 1_700_000_002)]
        try fixture.write(leaves: fixture.leaves, checkpoint: note.encoded)
        let (line, status) = try fixture.verify(witnesses: [w1.verifier, w2.verifier])
        #expect(status == 0, "\(line)")
        #expect(line.hasSuffix("cosigned by witness.test/w1 at 1700000001, cosigned by witness.test/w2 at 1700000002"), "\(line)")

        var forged = note
        forged.signatures[2] = try w2.cosignature(for: note.text.replacingOccurrences(of: "\n30\n", with: "\n31\n"), at: 1_700_000_002)
        try fixture.write(leaves: fixture.leaves, checkpoint: forged.encoded)
        #expect(try fixture.verify(witnesses: [w1.verifier, w2.verifier]).status == 1)
        let stranger = try NoteSignerKey(generatingFor: "witness.test/w2", type: .cosignatureV1)
        try fixture.write(leaves: fixture.leaves, checkpoint: note.encoded)
        let refused = try fixture.verify(witnesses: [stranger.verifier])
        #expect(refused.status == 1 && refused.line.contains("not cosigned by witness.test/w2"), "\(refused.line)")
    }
}
